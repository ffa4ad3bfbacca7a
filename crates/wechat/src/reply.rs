//! Passive replies: the XML a push is answered with (fact sheet §2.4, §3.3, §4).
//!
//! Build a [`Reply`], render it with [`Reply::to_xml`] (or [`Reply::answer`], which
//! takes the addresses and the news limit from the inbound message), and in safe
//! mode wrap the result with [`encrypted_reply`]. To answer nothing, send
//! [`NO_REPLY`] unencrypted, in every mode.

use std::fmt::Write as _;

use crate::crypto::{self, AesKey};
use crate::signature;
use crate::xml::tree::is_xml_char;
use crate::xml::{Inbound, Message};

/// The body that acknowledges a push without replying (and stops retries). Send it
/// as is, never encrypted.
pub const NO_REPLY: &str = "success";

/// Most articles a news reply to a user message may carry (rule since 2018).
pub const MAX_ARTICLES_USER_MESSAGE: usize = 1;
/// Most articles a news reply to an event may carry.
pub const MAX_ARTICLES_EVENT: usize = 8;

/// The news limit when answering `message`: [`MAX_ARTICLES_EVENT`] for events,
/// [`MAX_ARTICLES_USER_MESSAGE`] for everything a user sent (unknown types
/// included, to stay on the safe side).
pub fn max_articles_for(message: &Message) -> usize {
    if message.is_event() {
        MAX_ARTICLES_EVENT
    } else {
        MAX_ARTICLES_USER_MESSAGE
    }
}

/// One article of a news reply.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Article {
    /// `Title`.
    pub title: String,
    /// `Description`.
    pub description: String,
    /// `PicUrl`: cover image.
    pub pic_url: String,
    /// `Url`: link opened on tap.
    pub url: String,
}

/// A passive reply body, by `MsgType`. Media ids must come from the material APIs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `text`: `Content` (newlines allowed).
    Text {
        /// The text.
        content: String,
    },
    /// `image`.
    Image {
        /// `MediaId`.
        media_id: String,
    },
    /// `voice`.
    Voice {
        /// `MediaId`.
        media_id: String,
    },
    /// `video`.
    Video {
        /// `MediaId`.
        media_id: String,
        /// `Title`, optional.
        title: Option<String>,
        /// `Description`, optional.
        description: Option<String>,
    },
    /// `music`.
    Music {
        /// `Title`, optional.
        title: Option<String>,
        /// `Description`, optional.
        description: Option<String>,
        /// `MusicUrl`, optional.
        music_url: Option<String>,
        /// `HQMusicUrl`, optional.
        hq_music_url: Option<String>,
        /// `ThumbMediaId`, required.
        thumb_media_id: String,
    },
    /// `news`: articles beyond the limit given to [`Reply::to_xml`] are dropped.
    /// Do not send one with no articles; answer [`NO_REPLY`] instead.
    News {
        /// The articles, in display order.
        articles: Vec<Article>,
    },
    /// `transfer_customer_service`: hand the conversation to the customer-service
    /// system, optionally to one agent account.
    TransferCustomerService {
        /// `TransInfo/KfAccount`, e.g. `agent@gh_account`.
        kf_account: Option<String>,
    },
}

impl Reply {
    /// The `MsgType` of this reply.
    pub fn msg_type(&self) -> &'static str {
        match self {
            Reply::Text { .. } => "text",
            Reply::Image { .. } => "image",
            Reply::Voice { .. } => "voice",
            Reply::Video { .. } => "video",
            Reply::Music { .. } => "music",
            Reply::News { .. } => "news",
            Reply::TransferCustomerService { .. } => "transfer_customer_service",
        }
    }

    /// Renders the reply to the follower `to_user` (openid) from the account
    /// `from_user` (`gh_…`), keeping at most `max_articles` news articles.
    pub fn to_xml(
        &self,
        to_user: &str,
        from_user: &str,
        create_time: i64,
        max_articles: usize,
    ) -> String {
        let mut x = String::with_capacity(256);
        x.push_str("<xml>");
        cdata_element(&mut x, "ToUserName", to_user);
        cdata_element(&mut x, "FromUserName", from_user);
        // Writing to a String cannot fail.
        let _ = write!(x, "<CreateTime>{create_time}</CreateTime>");
        cdata_element(&mut x, "MsgType", self.msg_type());
        match self {
            Reply::Text { content } => cdata_element(&mut x, "Content", content),
            Reply::Image { media_id } => {
                x.push_str("<Image>");
                cdata_element(&mut x, "MediaId", media_id);
                x.push_str("</Image>");
            }
            Reply::Voice { media_id } => {
                x.push_str("<Voice>");
                cdata_element(&mut x, "MediaId", media_id);
                x.push_str("</Voice>");
            }
            Reply::Video {
                media_id,
                title,
                description,
            } => {
                x.push_str("<Video>");
                cdata_element(&mut x, "MediaId", media_id);
                optional_element(&mut x, "Title", title.as_deref());
                optional_element(&mut x, "Description", description.as_deref());
                x.push_str("</Video>");
            }
            Reply::Music {
                title,
                description,
                music_url,
                hq_music_url,
                thumb_media_id,
            } => {
                x.push_str("<Music>");
                optional_element(&mut x, "Title", title.as_deref());
                optional_element(&mut x, "Description", description.as_deref());
                optional_element(&mut x, "MusicUrl", music_url.as_deref());
                optional_element(&mut x, "HQMusicUrl", hq_music_url.as_deref());
                cdata_element(&mut x, "ThumbMediaId", thumb_media_id);
                x.push_str("</Music>");
            }
            Reply::News { articles } => {
                let kept = &articles[..articles.len().min(max_articles)];
                let _ = write!(x, "<ArticleCount>{}</ArticleCount><Articles>", kept.len());
                for a in kept {
                    x.push_str("<item>");
                    cdata_element(&mut x, "Title", &a.title);
                    cdata_element(&mut x, "Description", &a.description);
                    cdata_element(&mut x, "PicUrl", &a.pic_url);
                    cdata_element(&mut x, "Url", &a.url);
                    x.push_str("</item>");
                }
                x.push_str("</Articles>");
            }
            Reply::TransferCustomerService { kf_account } => {
                if let Some(account) = kf_account {
                    x.push_str("<TransInfo>");
                    cdata_element(&mut x, "KfAccount", account);
                    x.push_str("</TransInfo>");
                }
            }
        }
        x.push_str("</xml>");
        x
    }

    /// Renders the reply to `inbound`: addressed back to its sender, from the
    /// account it was sent to, with the news limit of [`max_articles_for`].
    pub fn answer(&self, inbound: &Inbound, create_time: i64) -> String {
        self.to_xml(
            &inbound.header.from_user,
            &inbound.header.to_user,
            create_time,
            max_articles_for(&inbound.message),
        )
    }
}

/// Wraps `s` in one or more CDATA sections so that any text survives: each `]]>`
/// is split as `]]]]><![CDATA[>`, and characters XML 1.0 cannot carry at all
/// (control characters other than tab/CR/LF, U+FFFE, U+FFFF) are dropped.
pub fn cdata(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 12);
    push_cdata(&mut out, s);
    out
}

fn push_cdata(out: &mut String, s: &str) {
    out.push_str("<![CDATA[");
    let mut rest = s;
    while let Some(pos) = rest.find("]]>") {
        push_xml_chars(out, &rest[..pos]);
        out.push_str("]]]]><![CDATA[>");
        rest = &rest[pos + 3..];
    }
    push_xml_chars(out, rest);
    out.push_str("]]>");
}

fn push_xml_chars(out: &mut String, s: &str) {
    if s.chars().all(is_xml_char) {
        out.push_str(s);
    } else {
        out.extend(s.chars().filter(|&c| is_xml_char(c)));
    }
}

fn cdata_element(out: &mut String, name: &str, value: &str) {
    out.push('<');
    out.push_str(name);
    out.push('>');
    push_cdata(out, value);
    out.push_str("</");
    out.push_str(name);
    out.push('>');
}

fn optional_element(out: &mut String, name: &str, value: Option<&str>) {
    if let Some(v) = value {
        cdata_element(out, name, v);
    }
}

/// Encrypts a rendered reply for safe mode and returns the envelope
/// `<xml><Encrypt/><MsgSignature/><TimeStamp/><Nonce/></xml>`, signed over its own
/// `token`, `timestamp`, `nonce` and `Encrypt`. Echo the request's nonce, use the
/// current time, and the key that decrypted the request
/// ([`crate::crypto::KeyUsed`]).
pub fn encrypted_reply(
    key: &AesKey,
    token: &str,
    appid: &str,
    reply_xml: &str,
    timestamp: i64,
    nonce: &str,
) -> String {
    encrypted_reply_with_random(
        key,
        token,
        appid,
        reply_xml,
        timestamp,
        nonce,
        crypto::random16(),
    )
}

/// [`encrypted_reply`] with caller-chosen random bytes (deterministic; for tests).
pub fn encrypted_reply_with_random(
    key: &AesKey,
    token: &str,
    appid: &str,
    reply_xml: &str,
    timestamp: i64,
    nonce: &str,
    random16: [u8; 16],
) -> String {
    let encrypt = crypto::encrypt(key, appid, reply_xml.as_bytes(), random16);
    let timestamp = timestamp.to_string();
    let signature = signature::msg_signature(token, &timestamp, nonce, &encrypt);
    let mut x = String::with_capacity(encrypt.len() + 200);
    x.push_str("<xml>");
    cdata_element(&mut x, "Encrypt", &encrypt);
    cdata_element(&mut x, "MsgSignature", &signature);
    let _ = write!(x, "<TimeStamp>{timestamp}</TimeStamp>");
    cdata_element(&mut x, "Nonce", nonce);
    x.push_str("</xml>");
    x
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xml::{parse_document, parse_message};

    fn articles(n: usize) -> Vec<Article> {
        (1..=n)
            .map(|i| Article {
                title: format!("T{i}"),
                description: format!("D{i}"),
                pic_url: format!("https://example.com/{i}.jpg"),
                url: format!("https://example.com/{i}"),
            })
            .collect()
    }

    fn count_items(xml: &str) -> usize {
        let root = parse_document(xml.as_bytes()).unwrap();
        let n = root
            .child("Articles")
            .unwrap()
            .children_named("item")
            .count();
        assert_eq!(root.child_text("ArticleCount").unwrap(), n.to_string());
        n
    }

    #[test]
    fn cdata_escaping() {
        assert_eq!(cdata("a"), "<![CDATA[a]]>");
        assert_eq!(cdata("]]>"), "<![CDATA[]]]]><![CDATA[>]]>");
        assert_eq!(
            cdata("x]]>y]]>z"),
            "<![CDATA[x]]]]><![CDATA[>y]]]]><![CDATA[>z]]>"
        );
        assert_eq!(cdata("bell\u{7}tab\t"), "<![CDATA[belltab\t]]>");
    }

    #[test]
    fn cdata_round_trip_through_the_parser() {
        for content in [
            "plain",
            "]]>",
            "a]]>b",
            "]]]]>",
            "]]>]]>",
            "<![CDATA[nested]]>",
            "x]]",
            "]",
            "<b>&amp;</b>\nline 2 ✓ 中文",
            "",
        ] {
            let xml = Reply::Text {
                content: content.to_string(),
            }
            .to_xml("o_user", "gh_account", 1, 1);
            let root = parse_document(xml.as_bytes()).unwrap();
            assert_eq!(root.child_text("Content"), Some(content), "{xml}");
        }
    }

    #[test]
    fn text_reply_shape() {
        let xml = Reply::Text {
            content: "hi".into(),
        }
        .to_xml("o_user", "gh_account", 1714037059, 1);
        assert_eq!(
            xml,
            "<xml><ToUserName><![CDATA[o_user]]></ToUserName><FromUserName><![CDATA[gh_account]]></FromUserName>\
             <CreateTime>1714037059</CreateTime><MsgType><![CDATA[text]]></MsgType>\
             <Content><![CDATA[hi]]></Content></xml>"
        );
    }

    #[test]
    fn media_replies() {
        let image = Reply::Image {
            media_id: "m1".into(),
        }
        .to_xml("o", "gh", 1, 1);
        assert!(image.ends_with("<MsgType><![CDATA[image]]></MsgType><Image><MediaId><![CDATA[m1]]></MediaId></Image></xml>"));
        let voice = Reply::Voice {
            media_id: "m2".into(),
        }
        .to_xml("o", "gh", 1, 1);
        assert!(voice.ends_with("<Voice><MediaId><![CDATA[m2]]></MediaId></Voice></xml>"));

        let video = Reply::Video {
            media_id: "m3".into(),
            title: Some("t".into()),
            description: None,
        }
        .to_xml("o", "gh", 1, 1);
        assert!(video.ends_with(
            "<Video><MediaId><![CDATA[m3]]></MediaId><Title><![CDATA[t]]></Title></Video></xml>"
        ));

        let music = Reply::Music {
            title: Some("song".into()),
            description: Some("desc".into()),
            music_url: Some("http://m/1.mp3".into()),
            hq_music_url: Some("http://m/1hq.mp3".into()),
            thumb_media_id: "thumb".into(),
        }
        .to_xml("o", "gh", 1, 1);
        let root = parse_document(music.as_bytes()).unwrap();
        let m = root.child("Music").unwrap();
        assert_eq!(root.child_text("MsgType"), Some("music"));
        assert_eq!(m.child_text("Title"), Some("song"));
        assert_eq!(m.child_text("Description"), Some("desc"));
        assert_eq!(m.child_text("MusicUrl"), Some("http://m/1.mp3"));
        assert_eq!(m.child_text("HQMusicUrl"), Some("http://m/1hq.mp3"));
        assert_eq!(m.child_text("ThumbMediaId"), Some("thumb"));

        let bare_music = Reply::Music {
            title: None,
            description: None,
            music_url: None,
            hq_music_url: None,
            thumb_media_id: "thumb".into(),
        }
        .to_xml("o", "gh", 1, 1);
        assert!(bare_music
            .ends_with("<Music><ThumbMediaId><![CDATA[thumb]]></ThumbMediaId></Music></xml>"));
    }

    #[test]
    fn transfer_customer_service() {
        let plain = Reply::TransferCustomerService { kf_account: None }.to_xml("o", "gh", 1, 1);
        assert!(plain.ends_with("<MsgType><![CDATA[transfer_customer_service]]></MsgType></xml>"));
        let to_agent = Reply::TransferCustomerService {
            kf_account: Some("kf1@gh".into()),
        }
        .to_xml("o", "gh", 1, 1);
        assert!(to_agent
            .ends_with("<TransInfo><KfAccount><![CDATA[kf1@gh]]></KfAccount></TransInfo></xml>"));
    }

    #[test]
    fn news_truncation() {
        let news = Reply::News {
            articles: articles(10),
        };
        assert_eq!(
            count_items(&news.to_xml("o", "gh", 1, MAX_ARTICLES_USER_MESSAGE)),
            1
        );
        assert_eq!(
            count_items(&news.to_xml("o", "gh", 1, MAX_ARTICLES_EVENT)),
            8
        );
        let three = Reply::News {
            articles: articles(3),
        };
        assert_eq!(
            count_items(&three.to_xml("o", "gh", 1, MAX_ARTICLES_EVENT)),
            3
        );

        let xml = news.to_xml("o", "gh", 1, 1);
        let root = parse_document(xml.as_bytes()).unwrap();
        let item = root.child("Articles").unwrap().child("item").unwrap();
        assert_eq!(item.child_text("Title"), Some("T1"));
        assert_eq!(item.child_text("Description"), Some("D1"));
        assert_eq!(item.child_text("PicUrl"), Some("https://example.com/1.jpg"));
        assert_eq!(item.child_text("Url"), Some("https://example.com/1"));
    }

    #[test]
    fn answer_swaps_addresses_and_picks_the_limit() {
        let user_msg = parse_message(
            "<xml><ToUserName><![CDATA[gh_acc]]></ToUserName><FromUserName><![CDATA[o_fan]]></FromUserName>\
             <CreateTime>1</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[news]]></Content>\
             <MsgId>7</MsgId></xml>",
        )
        .unwrap();
        let event = parse_message(
            "<xml><ToUserName><![CDATA[gh_acc]]></ToUserName><FromUserName><![CDATA[o_fan]]></FromUserName>\
             <CreateTime>1</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[subscribe]]></Event></xml>",
        )
        .unwrap();
        let news = Reply::News {
            articles: articles(9),
        };
        let to_user = news.answer(&user_msg, 2);
        assert_eq!(count_items(&to_user), 1);
        let root = parse_document(to_user.as_bytes()).unwrap();
        assert_eq!(root.child_text("ToUserName"), Some("o_fan"));
        assert_eq!(root.child_text("FromUserName"), Some("gh_acc"));
        assert_eq!(root.child_text("CreateTime"), Some("2"));
        assert_eq!(count_items(&news.answer(&event, 2)), 8);
    }

    #[test]
    fn encrypted_reply_round_trip() {
        let key =
            AesKey::from_encoding_aes_key("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG").unwrap();
        let inner = Reply::Text {
            content: "hello ]]> world".into(),
        }
        .to_xml("o", "gh", 5, 1);
        let out = encrypted_reply(
            &key,
            "spamtest",
            "wx2c2769f8efd9abc2",
            &inner,
            1409735669,
            "1320562132",
        );
        let env = crate::xml::parse_envelope(&out).unwrap();
        let encrypt = env.encrypt.as_deref().unwrap();
        assert_eq!(env.fields["TimeStamp"], "1409735669");
        assert_eq!(env.fields["Nonce"], "1320562132");
        assert!(signature::verify_msg_signature(
            &env.fields["MsgSignature"],
            "spamtest",
            "1409735669",
            "1320562132",
            encrypt
        ));
        let plain = crypto::decrypt(&key, "wx2c2769f8efd9abc2", encrypt).unwrap();
        assert_eq!(plain, inner.as_bytes());
        let parsed = parse_document(&plain).unwrap();
        assert_eq!(parsed.child_text("Content"), Some("hello ]]> world"));
    }
}
