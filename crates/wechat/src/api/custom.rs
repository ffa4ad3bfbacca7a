//! Customer-service messages (fact sheet §5.3): `POST /cgi-bin/message/custom/send`,
//! allowed only within the window after a user's interaction (45015 outside it,
//! 45047 once its count is used up).

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::client::{Ack, Client, Method};
use super::error::Error;

/// One article of a `news` customer-service message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewsArticle {
    /// The title.
    pub title: String,
    /// The summary under the title.
    pub description: String,
    /// Where a tap leads.
    pub url: String,
    /// The picture's URL.
    pub picurl: String,
}

/// A customer-service message.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CustomMessage {
    /// Plain text (links as `<a href>` are allowed by WeChat).
    Text {
        /// The text.
        content: String,
    },
    /// An image previously uploaded as media.
    Image {
        /// The media_id of the image.
        media_id: String,
    },
    /// An external link card: exactly one article (WeChat's current limit).
    News {
        /// The article.
        article: NewsArticle,
    },
    /// A published article (from the freepublish API).
    MpNewsArticle {
        /// The article_id.
        article_id: String,
    },
}

impl CustomMessage {
    /// A text message.
    pub fn text(content: impl Into<String>) -> Self {
        CustomMessage::Text {
            content: content.into(),
        }
    }

    /// The `msgtype` WeChat knows this message by.
    pub fn msgtype(&self) -> &'static str {
        match self {
            CustomMessage::Text { .. } => "text",
            CustomMessage::Image { .. } => "image",
            CustomMessage::News { .. } => "news",
            CustomMessage::MpNewsArticle { .. } => "mpnewsarticle",
        }
    }

    fn body(&self, touser: &str) -> Result<Value, Error> {
        if touser.is_empty() {
            return Err(Error::Invalid("touser is empty".into()));
        }
        let (key, payload) = match self {
            CustomMessage::Text { content } => {
                if content.is_empty() {
                    return Err(Error::Invalid("text content is empty".into()));
                }
                ("text", json!({ "content": content }))
            }
            CustomMessage::Image { media_id } => ("image", json!({ "media_id": media_id })),
            CustomMessage::News { article } => ("news", json!({ "articles": [article] })),
            CustomMessage::MpNewsArticle { article_id } => {
                ("mpnewsarticle", json!({ "article_id": article_id }))
            }
        };
        let mut body = json!({ "touser": touser, "msgtype": self.msgtype() });
        body[key] = payload;
        Ok(body)
    }
}

impl Client {
    /// Sends a customer-service message to one follower. Outside the window after
    /// the user's last interaction WeChat answers 45015; past the window's count,
    /// 45047.
    pub async fn send_custom(&self, touser: &str, message: &CustomMessage) -> Result<(), Error> {
        let body = message.body(touser)?;
        let _: Ack = self
            .call(
                Method::Post,
                "/cgi-bin/message/custom/send",
                &[],
                Some(&body),
            )
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies() {
        let text = CustomMessage::text("你好").body("OPENID").unwrap();
        assert_eq!(
            text,
            json!({"touser":"OPENID","msgtype":"text","text":{"content":"你好"}})
        );
        // UTF-8 on the wire, never \u escapes (WeChat's 40033).
        assert!(serde_json::to_string(&text).unwrap().contains("你好"));

        let news = CustomMessage::News {
            article: NewsArticle {
                title: "T".into(),
                description: "D".into(),
                url: "https://example.com".into(),
                picurl: "https://example.com/p.png".into(),
            },
        }
        .body("OPENID")
        .unwrap();
        assert_eq!(news["msgtype"], "news");
        assert_eq!(news["news"]["articles"][0]["title"], "T");

        assert!(CustomMessage::text("").body("OPENID").is_err());
        assert!(CustomMessage::text("x").body("").is_err());
    }
}
