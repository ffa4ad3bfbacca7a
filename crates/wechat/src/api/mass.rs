//! Mass sends (fact sheet §5.2): by tag or to everyone (`POST /cgi-bin/message/mass/sendall`),
//! by OpenID list (`POST /cgi-bin/message/mass/send`, 2 to 10,000 OpenIDs), both with a
//! `clientmsgid` for deduplication; a preview to one follower (`mass/preview`), and the
//! job's status through `POST /cgi-bin/message/mass/get`.

use serde::Deserialize;
use serde_json::{json, Value};

use super::client::{decode, Client, Method};
use super::error::{codes, Error};

/// The longest `clientmsgid`, in bytes.
pub const CLIENTMSGID_MAX_BYTES: usize = 64;

/// The fewest and most OpenIDs one `mass/send` takes.
pub const OPENIDS_MIN: usize = 2;
/// See [`OPENIDS_MIN`].
pub const OPENIDS_MAX: usize = 10_000;

/// Who a mass send goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MassFilter {
    /// Every follower (counts against the account's mass-send quota).
    All,
    /// The followers carrying this tag.
    Tag(u32),
}

/// What a mass send carries.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MassMessage {
    /// Plain text.
    Text {
        /// The text.
        content: String,
    },
    /// An image from the permanent media library.
    Image {
        /// The image's media_id.
        media_id: String,
    },
    /// An article from the draft box (草稿箱).
    MpNews {
        /// The draft's media_id.
        media_id: String,
        /// Send even if the article is judged a reprint (`send_ignore_reprint` 1).
        send_ignore_reprint: bool,
    },
}

impl MassMessage {
    /// A text mass message.
    pub fn text(content: impl Into<String>) -> Self {
        MassMessage::Text {
            content: content.into(),
        }
    }

    /// The `msgtype` WeChat knows this message by.
    pub fn msgtype(&self) -> &'static str {
        match self {
            MassMessage::Text { .. } => "text",
            MassMessage::Image { .. } => "image",
            MassMessage::MpNews { .. } => "mpnews",
        }
    }
}

/// What WeChat answers to an accepted mass send. Acceptance is not delivery: the
/// outcome arrives later as the `MASSSENDJOBFINISH` event (or via
/// [`Client::mass_status`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MassSendResult {
    /// The send job's id.
    pub msg_id: u64,
    /// The id of the article's data, for mpnews sends.
    pub msg_data_id: Option<u64>,
    /// WeChat answered 45065: a send with this `clientmsgid` already exists and
    /// `msg_id` is that send's. Nothing new was sent.
    pub duplicate: bool,
}

/// The state of a mass send job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MassStatus {
    /// `SEND_SUCCESS`.
    SendSuccess,
    /// `SENDING`.
    Sending,
    /// `SEND_FAIL`.
    SendFail,
    /// `DELETE`: the send was deleted.
    Deleted,
    /// A status this client does not know.
    Other(String),
}

impl MassStatus {
    fn parse(status: &str) -> Self {
        match status {
            "SEND_SUCCESS" => MassStatus::SendSuccess,
            "SENDING" => MassStatus::Sending,
            "SEND_FAIL" => MassStatus::SendFail,
            "DELETE" => MassStatus::Deleted,
            other => MassStatus::Other(other.to_owned()),
        }
    }
}

#[derive(Deserialize)]
struct RawSendResult {
    msg_id: u64,
    #[serde(default)]
    msg_data_id: Option<u64>,
}

#[derive(Deserialize)]
struct RawStatus {
    msg_status: String,
}

fn sendall_body(
    filter: MassFilter,
    message: &MassMessage,
    clientmsgid: Option<&str>,
) -> Result<Value, Error> {
    let filter = match filter {
        MassFilter::All => json!({ "is_to_all": true }),
        MassFilter::Tag(tag_id) => json!({ "is_to_all": false, "tag_id": tag_id }),
    };
    let mut body = json!({ "filter": filter });
    put_message(&mut body, message)?;
    put_clientmsgid(&mut body, clientmsgid)?;
    Ok(body)
}

fn send_body(
    openids: &[&str],
    message: &MassMessage,
    clientmsgid: Option<&str>,
) -> Result<Value, Error> {
    if !(OPENIDS_MIN..=OPENIDS_MAX).contains(&openids.len()) {
        return Err(Error::Invalid(format!(
            "a mass send by OpenID takes {OPENIDS_MIN} to {OPENIDS_MAX} OpenIDs, not {}",
            openids.len()
        )));
    }
    let mut body = json!({ "touser": openids });
    put_message(&mut body, message)?;
    put_clientmsgid(&mut body, clientmsgid)?;
    Ok(body)
}

fn preview_body(openid: &str, message: &MassMessage) -> Result<Value, Error> {
    if openid.is_empty() {
        return Err(Error::Invalid("preview needs an OpenID".into()));
    }
    let mut body = json!({ "touser": openid });
    put_message(&mut body, message)?;
    if let Some(o) = body.as_object_mut() {
        o.remove("send_ignore_reprint");
    }
    Ok(body)
}

fn put_message(body: &mut Value, message: &MassMessage) -> Result<(), Error> {
    body["msgtype"] = json!(message.msgtype());
    match message {
        MassMessage::Text { content } => {
            if content.is_empty() {
                return Err(Error::Invalid("text content is empty".into()));
            }
            body["text"] = json!({ "content": content });
        }
        MassMessage::Image { media_id } => {
            if media_id.is_empty() {
                return Err(Error::Invalid("image media_id is empty".into()));
            }
            body["image"] = json!({ "media_id": media_id });
        }
        MassMessage::MpNews {
            media_id,
            send_ignore_reprint,
        } => {
            if media_id.is_empty() {
                return Err(Error::Invalid("mpnews media_id is empty".into()));
            }
            body["mpnews"] = json!({ "media_id": media_id });
            body["send_ignore_reprint"] = json!(u8::from(*send_ignore_reprint));
        }
    }
    Ok(())
}

fn put_clientmsgid(body: &mut Value, clientmsgid: Option<&str>) -> Result<(), Error> {
    if let Some(id) = clientmsgid {
        if id.is_empty() || id.len() > CLIENTMSGID_MAX_BYTES {
            return Err(Error::Invalid(format!(
                "clientmsgid must be 1 to {CLIENTMSGID_MAX_BYTES} bytes, not {}",
                id.len()
            )));
        }
        body["clientmsgid"] = json!(id);
    }
    Ok(())
}

#[derive(Deserialize)]
struct RawPreview {
    #[serde(default)]
    msg_id: Option<u64>,
}

impl Client {
    /// Mass-sends to everyone or to a tag (`POST /cgi-bin/message/mass/sendall`).
    ///
    /// Give a `clientmsgid` (≤ 64 bytes, e.g. the campaign's id) to make the call
    /// safe to repeat: when WeChat already has a send with it (45065) this returns
    /// that send's `msg_id` with [`MassSendResult::duplicate`] set instead of an
    /// error. A repeat within a minute may answer 45066 (retry later).
    pub async fn mass_send_all(
        &self,
        filter: MassFilter,
        message: &MassMessage,
        clientmsgid: Option<&str>,
    ) -> Result<MassSendResult, Error> {
        let path = "/cgi-bin/message/mass/sendall";
        let body = sendall_body(filter, message, clientmsgid)?;
        self.submit(path, &body).await
    }

    /// Mass-sends to a list of 2 to 10,000 OpenIDs (`POST /cgi-bin/message/mass/send`;
    /// WeChat allows it for service accounts). `clientmsgid` as for
    /// [`Client::mass_send_all`].
    pub async fn mass_send(
        &self,
        openids: &[&str],
        message: &MassMessage,
        clientmsgid: Option<&str>,
    ) -> Result<MassSendResult, Error> {
        let path = "/cgi-bin/message/mass/send";
        let body = send_body(openids, message, clientmsgid)?;
        self.submit(path, &body).await
    }

    /// Sends a broadcast's message to one follower to look at first
    /// (`POST /cgi-bin/message/mass/preview`); counts against no quota of Patron's.
    /// Answers the preview's `msg_id` when WeChat gives one.
    pub async fn mass_preview(
        &self,
        openid: &str,
        message: &MassMessage,
    ) -> Result<Option<u64>, Error> {
        let body = preview_body(openid, message)?;
        let raw: RawPreview = self
            .call(
                Method::Post,
                "/cgi-bin/message/mass/preview",
                &[],
                Some(&body),
            )
            .await?;
        Ok(raw.msg_id)
    }

    async fn submit(&self, path: &str, body: &Value) -> Result<MassSendResult, Error> {
        let value = self
            .call_value(
                Method::Post,
                path,
                &[],
                Some(body),
                &[codes::CLIENTMSGID_DUPLICATE],
            )
            .await?;
        let duplicate =
            value.get("errcode").and_then(Value::as_i64) == Some(codes::CLIENTMSGID_DUPLICATE);
        let raw: RawSendResult = decode(path, value)?;
        Ok(MassSendResult {
            msg_id: raw.msg_id,
            msg_data_id: raw.msg_data_id,
            duplicate,
        })
    }

    /// The state of a mass send job (`POST /cgi-bin/message/mass/get`).
    pub async fn mass_status(&self, msg_id: u64) -> Result<MassStatus, Error> {
        let body = json!({ "msg_id": msg_id });
        let raw: RawStatus = self
            .call(Method::Post, "/cgi-bin/message/mass/get", &[], Some(&body))
            .await?;
        Ok(MassStatus::parse(&raw.msg_status))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies() {
        let text = sendall_body(MassFilter::Tag(2), &MassMessage::text("hi"), Some("c-1")).unwrap();
        assert_eq!(
            text,
            json!({"filter":{"is_to_all":false,"tag_id":2},"msgtype":"text",
                   "text":{"content":"hi"},"clientmsgid":"c-1"})
        );
        let mpnews = sendall_body(
            MassFilter::All,
            &MassMessage::MpNews {
                media_id: "m".into(),
                send_ignore_reprint: true,
            },
            None,
        )
        .unwrap();
        assert_eq!(
            mpnews,
            json!({"filter":{"is_to_all":true},"msgtype":"mpnews",
                   "mpnews":{"media_id":"m"},"send_ignore_reprint":1})
        );
        let long = "x".repeat(65);
        assert!(sendall_body(MassFilter::All, &MassMessage::text("hi"), Some(&long)).is_err());
        assert!(sendall_body(MassFilter::All, &MassMessage::text("hi"), Some(&long[..64])).is_ok());
        let list = send_body(&["o1", "o2"], &MassMessage::text("hi"), Some("b-1-0")).unwrap();
        assert_eq!(
            list,
            json!({"touser":["o1","o2"],"msgtype":"text","text":{"content":"hi"},
                   "clientmsgid":"b-1-0"})
        );
        assert!(send_body(&["o1"], &MassMessage::text("hi"), None).is_err());
        let many: Vec<&str> = vec!["o"; OPENIDS_MAX + 1];
        assert!(send_body(&many, &MassMessage::text("hi"), None).is_err());
        let image = MassMessage::Image {
            media_id: "IMG".into(),
        };
        assert_eq!(
            preview_body("o1", &image).unwrap(),
            json!({"touser":"o1","msgtype":"image","image":{"media_id":"IMG"}})
        );
    }

    #[test]
    fn statuses() {
        assert_eq!(MassStatus::parse("SEND_SUCCESS"), MassStatus::SendSuccess);
        assert_eq!(MassStatus::parse("DELETE"), MassStatus::Deleted);
        assert_eq!(MassStatus::parse("NEW"), MassStatus::Other("NEW".into()));
    }
}
