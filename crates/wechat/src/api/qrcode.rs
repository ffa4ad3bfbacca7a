//! Parametric QR codes (fact sheet §5.5): `POST /cgi-bin/qrcode/create`, temporary
//! (up to 30 days) or permanent (at most 100 000 per account), with a numeric or a
//! string scene.

use serde::Deserialize;
use serde_json::{json, Value};

use super::client::{Client, Method};
use super::error::Error;

/// The longest a temporary code lives, in seconds (30 days).
pub const MAX_EXPIRE_SECONDS: u32 = 2_592_000;
/// The largest numeric scene of a permanent code.
pub const MAX_PERMANENT_SCENE_ID: u32 = 100_000;
/// The longest string scene, in bytes.
pub const MAX_SCENE_STR_BYTES: usize = 64;
/// How many permanent codes an account may create.
pub const MAX_PERMANENT_CODES: u32 = 100_000;

/// The value a scan reports back (in the `subscribe` / `SCAN` event's `EventKey`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scene {
    /// A number: non-zero 32-bit for temporary codes, 1 to 100 000 for permanent ones.
    Id(u32),
    /// A string of 1 to 64 bytes.
    Str(String),
}

/// A QR code to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QrCodeRequest {
    /// Expires after `expire_seconds` (1 to 2 592 000).
    Temporary {
        /// The scene.
        scene: Scene,
        /// Lifetime in seconds.
        expire_seconds: u32,
    },
    /// Never expires; counts against the account's 100 000.
    Permanent {
        /// The scene.
        scene: Scene,
    },
}

/// A created QR code.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct QrCode {
    /// Exchange it at `https://mp.weixin.qq.com/cgi-bin/showqrcode?ticket=…`
    /// (URL-encoded) for the image.
    pub ticket: String,
    /// Lifetime in seconds; `None` for permanent codes.
    #[serde(default)]
    pub expire_seconds: Option<u32>,
    /// The URL the code encodes, to render it ourselves.
    pub url: String,
}

impl QrCodeRequest {
    /// A temporary code.
    pub fn temporary(scene: Scene, expire_seconds: u32) -> Self {
        QrCodeRequest::Temporary {
            scene,
            expire_seconds,
        }
    }

    /// A permanent code.
    pub fn permanent(scene: Scene) -> Self {
        QrCodeRequest::Permanent { scene }
    }

    /// The request body, after the checks WeChat would make.
    pub fn body(&self) -> Result<Value, Error> {
        let (scene, permanent) = match self {
            QrCodeRequest::Temporary {
                scene,
                expire_seconds,
            } => {
                if *expire_seconds == 0 || *expire_seconds > MAX_EXPIRE_SECONDS {
                    return Err(Error::Invalid(format!(
                        "expire_seconds must be 1 to {MAX_EXPIRE_SECONDS}, not {expire_seconds}"
                    )));
                }
                (scene, false)
            }
            QrCodeRequest::Permanent { scene } => (scene, true),
        };
        let (action_name, scene_json) = match scene {
            Scene::Id(id) => {
                let max = if permanent {
                    MAX_PERMANENT_SCENE_ID
                } else {
                    u32::MAX
                };
                if *id == 0 || *id > max {
                    return Err(Error::Invalid(format!(
                        "scene_id must be 1 to {max}, not {id}"
                    )));
                }
                let name = if permanent {
                    "QR_LIMIT_SCENE"
                } else {
                    "QR_SCENE"
                };
                (name, json!({ "scene_id": id }))
            }
            Scene::Str(s) => {
                if s.is_empty() || s.len() > MAX_SCENE_STR_BYTES {
                    return Err(Error::Invalid(format!(
                        "scene_str must be 1 to {MAX_SCENE_STR_BYTES} bytes, not {}",
                        s.len()
                    )));
                }
                let name = if permanent {
                    "QR_LIMIT_STR_SCENE"
                } else {
                    "QR_STR_SCENE"
                };
                (name, json!({ "scene_str": s }))
            }
        };
        let mut body =
            json!({ "action_name": action_name, "action_info": { "scene": scene_json } });
        if let QrCodeRequest::Temporary { expire_seconds, .. } = self {
            body["expire_seconds"] = json!(expire_seconds);
        }
        Ok(body)
    }
}

impl Client {
    /// Creates a QR code (`POST /cgi-bin/qrcode/create`), checked client-side first
    /// ([`QrCodeRequest::body`]). Past the account's permanent-code cap WeChat
    /// refuses; the simulator answers [`super::codes::TICKET_LIMIT`].
    pub async fn create_qrcode(&self, request: &QrCodeRequest) -> Result<QrCode, Error> {
        let body = request.body()?;
        self.call(Method::Post, "/cgi-bin/qrcode/create", &[], Some(&body))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies() {
        let temp = QrCodeRequest::temporary(Scene::Id(123), 604_800)
            .body()
            .unwrap();
        assert_eq!(
            temp,
            json!({"expire_seconds":604800,"action_name":"QR_SCENE","action_info":{"scene":{"scene_id":123}}})
        );
        let temp_str = QrCodeRequest::temporary(Scene::Str("coupon:9".into()), 60)
            .body()
            .unwrap();
        assert_eq!(temp_str["action_name"], "QR_STR_SCENE");
        assert_eq!(temp_str["action_info"]["scene"]["scene_str"], "coupon:9");
        let perm = QrCodeRequest::permanent(Scene::Id(100_000)).body().unwrap();
        assert_eq!(
            perm,
            json!({"action_name":"QR_LIMIT_SCENE","action_info":{"scene":{"scene_id":100000}}})
        );
        let perm_str = QrCodeRequest::permanent(Scene::Str("s".into()))
            .body()
            .unwrap();
        assert_eq!(perm_str["action_name"], "QR_LIMIT_STR_SCENE");
        assert!(perm_str.get("expire_seconds").is_none());
    }

    #[test]
    fn limits() {
        let bad = [
            QrCodeRequest::temporary(Scene::Id(0), 60),
            QrCodeRequest::temporary(Scene::Id(1), 0),
            QrCodeRequest::temporary(Scene::Id(1), MAX_EXPIRE_SECONDS + 1),
            QrCodeRequest::temporary(Scene::Str(String::new()), 60),
            QrCodeRequest::temporary(Scene::Str("x".repeat(65)), 60),
            QrCodeRequest::permanent(Scene::Id(0)),
            QrCodeRequest::permanent(Scene::Id(100_001)),
            QrCodeRequest::permanent(Scene::Str("x".repeat(65))),
        ];
        for request in bad {
            assert!(
                matches!(request.body(), Err(Error::Invalid(_))),
                "{request:?}"
            );
        }
        assert!(
            QrCodeRequest::temporary(Scene::Id(u32::MAX), MAX_EXPIRE_SECONDS)
                .body()
                .is_ok()
        );
        assert!(QrCodeRequest::permanent(Scene::Str("x".repeat(64)))
            .body()
            .is_ok());
    }

    #[test]
    fn answers() {
        let code: QrCode = serde_json::from_str(
            r#"{"ticket":"gQH47joAAAAAAAAAASxodHRwOi8vd2VpeGluLnFxLmNvbS9xL2taZ2Z3TVRtNzJXV1Brb3ZhYmJJAAIEZ23sUwMEmm3sUw==","expire_seconds":60,"url":"http://weixin.qq.com/q/kZgfwMTm72WWPkovabbI"}"#,
        )
        .unwrap();
        assert_eq!(code.expire_seconds, Some(60));
        let permanent: QrCode =
            serde_json::from_str(r#"{"ticket":"t","url":"http://weixin.qq.com/q/x"}"#).unwrap();
        assert_eq!(permanent.expire_seconds, None);
    }
}
