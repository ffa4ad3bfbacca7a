//! The custom menu: `POST /cgi-bin/menu/create`, `GET /cgi-bin/menu/get`,
//! `GET /cgi-bin/menu/delete`. At most 3 top-level buttons, each either an action
//! or a sub-menu of at most 5 actions.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::client::{Ack, Client, Method};
use super::error::{codes, Error};

/// The most top-level buttons.
pub const MAX_BUTTONS: usize = 3;
/// The most buttons in one sub-menu.
pub const MAX_SUB_BUTTONS: usize = 5;
/// The longest top-level button name, in bytes.
pub const BUTTON_NAME_MAX_BYTES: usize = 16;
/// The longest sub-menu button name, in bytes.
pub const SUB_BUTTON_NAME_MAX_BYTES: usize = 60;

/// A custom menu.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Menu {
    /// The top-level buttons, 1 to 3.
    pub button: Vec<MenuButton>,
}

/// A top-level button: an action, or a named sub-menu.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum MenuButton {
    /// A button that acts when tapped.
    Action(ActionButton),
    /// A button opening up to 5 action buttons.
    SubMenu {
        /// The label.
        name: String,
        /// The buttons, 1 to 5.
        sub_button: Vec<ActionButton>,
    },
}

/// A button that does something when tapped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ActionButton {
    /// The label.
    pub name: String,
    /// What it does.
    #[serde(flatten)]
    pub action: ButtonAction,
}

/// What a button does, by its WeChat `type`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ButtonAction {
    /// Sends a `CLICK` event with the key.
    Click {
        /// The event key, ≤ 128 bytes.
        key: String,
    },
    /// Opens a web page (sends a `VIEW` event).
    View {
        /// The page, ≤ 1024 bytes.
        url: String,
    },
    /// Opens a mini program page; `url` is the fallback for old clients.
    Miniprogram {
        /// Fallback web page.
        url: String,
        /// The mini program's appid.
        appid: String,
        /// The page inside the mini program.
        pagepath: String,
    },
    /// Scans a code and pushes the result.
    ScancodePush {
        /// The event key.
        key: String,
    },
    /// Scans a code, pushes the result and shows "receiving".
    ScancodeWaitmsg {
        /// The event key.
        key: String,
    },
    /// Takes a photo.
    PicSysphoto {
        /// The event key.
        key: String,
    },
    /// Takes a photo or picks from the album.
    PicPhotoOrAlbum {
        /// The event key.
        key: String,
    },
    /// Picks from the WeChat album.
    PicWeixin {
        /// The event key.
        key: String,
    },
    /// Sends a location.
    LocationSelect {
        /// The event key.
        key: String,
    },
    /// Sends a published article.
    ArticleId {
        /// The article_id.
        article_id: String,
    },
    /// Opens a published article.
    ArticleViewLimited {
        /// The article_id.
        article_id: String,
    },
    /// A type this client does not know (read back from a menu set elsewhere);
    /// refused by [`Client::create_menu`].
    #[serde(other)]
    Unknown,
}

impl ActionButton {
    /// A `click` button.
    pub fn click(name: impl Into<String>, key: impl Into<String>) -> Self {
        ActionButton {
            name: name.into(),
            action: ButtonAction::Click { key: key.into() },
        }
    }

    /// A `view` button.
    pub fn view(name: impl Into<String>, url: impl Into<String>) -> Self {
        ActionButton {
            name: name.into(),
            action: ButtonAction::View { url: url.into() },
        }
    }

    /// A `miniprogram` button.
    pub fn miniprogram(
        name: impl Into<String>,
        url: impl Into<String>,
        appid: impl Into<String>,
        pagepath: impl Into<String>,
    ) -> Self {
        ActionButton {
            name: name.into(),
            action: ButtonAction::Miniprogram {
                url: url.into(),
                appid: appid.into(),
                pagepath: pagepath.into(),
            },
        }
    }
}

#[derive(Deserialize)]
struct MenuEnvelope {
    menu: Menu,
}

fn check_name(name: &str, max: usize) -> Result<(), Error> {
    if name.is_empty() || name.len() > max {
        return Err(Error::Invalid(format!(
            "button name {name:?} must be 1 to {max} bytes"
        )));
    }
    Ok(())
}

fn check_action(button: &ActionButton, max_name: usize) -> Result<(), Error> {
    check_name(&button.name, max_name)?;
    if button.action == ButtonAction::Unknown {
        return Err(Error::Invalid(format!(
            "button {:?} has an unknown type",
            button.name
        )));
    }
    Ok(())
}

impl Menu {
    /// Checks the shape WeChat accepts: 1 to 3 buttons, sub-menus of 1 to 5, names
    /// within their byte limits, no unknown types.
    pub fn validate(&self) -> Result<(), Error> {
        if self.button.is_empty() || self.button.len() > MAX_BUTTONS {
            return Err(Error::Invalid(format!(
                "a menu has 1 to {MAX_BUTTONS} buttons, not {}",
                self.button.len()
            )));
        }
        for button in &self.button {
            match button {
                MenuButton::Action(action) => check_action(action, BUTTON_NAME_MAX_BYTES)?,
                MenuButton::SubMenu { name, sub_button } => {
                    check_name(name, BUTTON_NAME_MAX_BYTES)?;
                    if sub_button.is_empty() || sub_button.len() > MAX_SUB_BUTTONS {
                        return Err(Error::Invalid(format!(
                            "sub-menu {name:?} has 1 to {MAX_SUB_BUTTONS} buttons, not {}",
                            sub_button.len()
                        )));
                    }
                    for sub in sub_button {
                        check_action(sub, SUB_BUTTON_NAME_MAX_BYTES)?;
                    }
                }
            }
        }
        Ok(())
    }
}

impl Client {
    /// Replaces the account's menu (`POST /cgi-bin/menu/create`), after checking its
    /// shape client-side ([`Menu::validate`]).
    pub async fn create_menu(&self, menu: &Menu) -> Result<(), Error> {
        menu.validate()?;
        let body = json!(menu);
        let _: Ack = self
            .call(Method::Post, "/cgi-bin/menu/create", &[], Some(&body))
            .await?;
        Ok(())
    }

    /// The account's menu (`GET /cgi-bin/menu/get`), `None` when it has none (46003).
    pub async fn menu(&self) -> Result<Option<Menu>, Error> {
        match self
            .call::<MenuEnvelope>(Method::Get, "/cgi-bin/menu/get", &[], None)
            .await
        {
            Ok(envelope) => Ok(Some(envelope.menu)),
            Err(e) if e.errcode() == Some(codes::MENU_NOT_EXIST) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Deletes the account's menu (`GET /cgi-bin/menu/delete`).
    pub async fn delete_menu(&self) -> Result<(), Error> {
        let _: Ack = self
            .call(Method::Get, "/cgi-bin/menu/delete", &[], None)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Menu {
        Menu {
            button: vec![
                MenuButton::Action(ActionButton::click("今日歌曲", "V1001_TODAY_MUSIC")),
                MenuButton::SubMenu {
                    name: "菜单".into(),
                    sub_button: vec![
                        ActionButton::view("搜索", "http://www.soso.com/"),
                        ActionButton::miniprogram(
                            "wxa",
                            "http://mp.weixin.qq.com",
                            "wx286b93c14bbf93aa",
                            "pages/lunar/index",
                        ),
                    ],
                },
            ],
        }
    }

    #[test]
    fn serialises_like_the_docs() {
        let value = json!(sample());
        assert_eq!(
            value,
            json!({"button":[
                {"type":"click","name":"今日歌曲","key":"V1001_TODAY_MUSIC"},
                {"name":"菜单","sub_button":[
                    {"type":"view","name":"搜索","url":"http://www.soso.com/"},
                    {"type":"miniprogram","name":"wxa","url":"http://mp.weixin.qq.com",
                     "appid":"wx286b93c14bbf93aa","pagepath":"pages/lunar/index"}]}]})
        );
    }

    #[test]
    fn parses_menu_get() {
        // menu/get adds an empty sub_button to action buttons and may carry types
        // this client does not model.
        let envelope: MenuEnvelope = serde_json::from_str(
            r#"{"menu":{"button":[
                {"type":"click","name":"今日歌曲","key":"V1001_TODAY_MUSIC","sub_button":[]},
                {"name":"菜单","sub_button":[
                    {"type":"view","name":"搜索","url":"http://www.soso.com/","sub_button":[]},
                    {"type":"miniprogram","name":"wxa","url":"http://mp.weixin.qq.com",
                     "appid":"wx286b93c14bbf93aa","pagepath":"pages/lunar/index","sub_button":[]},
                    {"type":"media_id","name":"图片","media_id":"MEDIA_ID1","sub_button":[]}]}]},
                "conditionalmenu":[]}"#,
        )
        .unwrap();
        let menu = envelope.menu;
        assert_eq!(menu.button[0], sample().button[0]);
        let MenuButton::SubMenu { sub_button, .. } = &menu.button[1] else {
            panic!("expected a sub-menu: {:?}", menu.button[1]);
        };
        assert_eq!(sub_button.len(), 3);
        assert_eq!(sub_button[2].action, ButtonAction::Unknown);
        assert!(menu.validate().is_err());
    }

    #[test]
    fn validation() {
        assert!(sample().validate().is_ok());
        let four = Menu {
            button: vec![MenuButton::Action(ActionButton::click("a", "k")); 4],
        };
        assert!(four.validate().is_err());
        let six = Menu {
            button: vec![MenuButton::SubMenu {
                name: "m".into(),
                sub_button: vec![ActionButton::click("a", "k"); 6],
            }],
        };
        assert!(six.validate().is_err());
        let long = Menu {
            button: vec![MenuButton::Action(ActionButton::click("一二三四五六", "k"))],
        };
        assert!(long.validate().is_err(), "18 bytes > 16");
        assert!(Menu { button: vec![] }.validate().is_err());
    }
}
