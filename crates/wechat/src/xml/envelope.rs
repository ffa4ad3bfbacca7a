//! The POST body as received, before any decryption.

use std::collections::BTreeMap;

use super::message::{from_root, Inbound};
use super::tree::{parse_document, Element};
use crate::Error;

/// A push body in any of the three modes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// `ToUserName`: the OA's original id (`gh_…`), present in every mode.
    pub to_user_name: Option<String>,
    /// `Encrypt`, exactly as sent (the `msg_signature` is computed over this text).
    /// Present in compatible and safe mode.
    pub encrypt: Option<String>,
    /// Every top-level leaf element, name → text (in compatible mode this includes
    /// the plaintext copy of the message).
    pub fields: BTreeMap<String, String>,
    /// The whole document.
    pub root: Element,
}

impl Envelope {
    /// Whether the body carries an `<Encrypt>` element (compatible or safe mode).
    pub fn is_encrypted(&self) -> bool {
        self.encrypt.is_some()
    }

    /// Reads the plaintext elements of this same body as a message: the whole body
    /// in plaintext mode, the unverified plaintext copy in compatible mode. In safe
    /// mode this fails with [`Error::MissingField`]; decrypt `encrypt` instead.
    pub fn plaintext_message(&self) -> Result<Inbound, Error> {
        from_root(self.root.clone())
    }
}

/// Parses a push body.
pub fn parse_envelope(xml: impl AsRef<[u8]>) -> Result<Envelope, Error> {
    let root = parse_document(xml.as_ref())?;
    Ok(Envelope {
        to_user_name: root.child_text("ToUserName").map(str::to_string),
        encrypt: root.child_text("Encrypt").map(str::to_string),
        fields: root.leaf_fields(),
        root,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xml::Message;

    #[test]
    fn safe_mode_body() {
        let env = parse_envelope(
            "<xml>\n<ToUserName><![CDATA[gh_97417a04a28d]]></ToUserName>\n\
             <Encrypt><![CDATA[abc+/=]]></Encrypt>\n</xml>",
        )
        .unwrap();
        assert!(env.is_encrypted());
        assert_eq!(env.to_user_name.as_deref(), Some("gh_97417a04a28d"));
        assert_eq!(env.encrypt.as_deref(), Some("abc+/="));
        assert_eq!(env.fields.len(), 2);
        assert_eq!(
            env.plaintext_message(),
            Err(Error::MissingField("FromUserName"))
        );
    }

    #[test]
    fn plaintext_body() {
        let env = parse_envelope(
            b"<xml><ToUserName><![CDATA[gh_a]]></ToUserName><FromUserName><![CDATA[o_b]]></FromUserName>\
              <CreateTime>1714037059</CreateTime><MsgType><![CDATA[text]]></MsgType>\
              <Content><![CDATA[hi]]></Content><MsgId>1</MsgId></xml>",
        )
        .unwrap();
        assert!(!env.is_encrypted());
        let msg = env.plaintext_message().unwrap();
        assert!(matches!(msg.message, Message::Text(ref t) if t.content == "hi"));
    }
}
