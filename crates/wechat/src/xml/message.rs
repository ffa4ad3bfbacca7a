//! Typed inbound messages and events, and their dedupe keys.
//!
//! Field policy: the common header, `MsgId` of user messages, `Event` of events,
//! `MsgID` of job-finish events and the coordinates of location messages/events are
//! required ([`Error::MissingField`] / [`Error::InvalidField`]). Other documented
//! strings read as `""` when absent; fields the docs call optional are `Option`s, and
//! an empty element (`<EventKey/>`) reads as `None`. Numbers inside the nested
//! results of `MASSSENDJOBFINISH` are informational and read leniently (`None` when
//! unparsable). Everything, known or not, stays available in [`Inbound::fields`] and
//! [`Inbound::root`].

use std::collections::BTreeMap;
use std::str::FromStr;

use super::tree::{parse_document, Element};
use crate::Error;

/// The header every push carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// `ToUserName`: the OA's original id (`gh_…`).
    pub to_user: String,
    /// `FromUserName`: the sender's openid.
    pub from_user: String,
    /// `CreateTime`: Unix seconds.
    pub create_time: i64,
    /// `MsgType` as sent (`text`, `event`, …).
    pub msg_type: String,
}

/// A parsed plaintext push.
#[derive(Debug, Clone, PartialEq)]
pub struct Inbound {
    /// The common header.
    pub header: Header,
    /// The typed message or event.
    pub message: Message,
    /// Every top-level leaf element, name → text, known or not (first occurrence
    /// wins on repeats). Nested elements are in [`Inbound::root`].
    pub fields: BTreeMap<String, String>,
    /// The whole document.
    pub root: Element,
}

/// A user message (§3.1) or an event (§3.2).
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    /// `text`.
    Text(TextMessage),
    /// `image`.
    Image(ImageMessage),
    /// `voice`.
    Voice(VoiceMessage),
    /// `video`.
    Video(VideoMessage),
    /// `shortvideo`.
    ShortVideo(VideoMessage),
    /// `location`.
    Location(LocationMessage),
    /// `link`.
    Link(LinkMessage),
    /// `event`.
    Event(Event),
    /// Any other `MsgType` (the type is in [`Header::msg_type`]); its `MsgId` when it
    /// has a parsable one.
    Unknown {
        /// `MsgId`, if present and numeric.
        msg_id: Option<u64>,
    },
}

/// `MsgType=text`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextMessage {
    /// `MsgId`.
    pub msg_id: u64,
    /// `Content`.
    pub content: String,
    /// `MsgDataId`: set when the message was sent from an article.
    pub msg_data_id: Option<String>,
    /// `Idx`: the article's index, with `MsgDataId`.
    pub idx: Option<String>,
}

/// `MsgType=image`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageMessage {
    /// `MsgId`.
    pub msg_id: u64,
    /// `PicUrl`.
    pub pic_url: String,
    /// `MediaId`.
    pub media_id: String,
}

/// `MsgType=voice`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoiceMessage {
    /// `MsgId`.
    pub msg_id: u64,
    /// `MediaId`.
    pub media_id: String,
    /// `Format`: `amr` or `speex`.
    pub format: String,
    /// `Recognition`: speech-to-text, only when enabled; being retired by WeChat.
    pub recognition: Option<String>,
}

/// `MsgType=video` and `MsgType=shortvideo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoMessage {
    /// `MsgId`.
    pub msg_id: u64,
    /// `MediaId`.
    pub media_id: String,
    /// `ThumbMediaId`.
    pub thumb_media_id: String,
}

/// `MsgType=location`.
#[derive(Debug, Clone, PartialEq)]
pub struct LocationMessage {
    /// `MsgId`.
    pub msg_id: u64,
    /// `Location_X`: latitude.
    pub latitude: f64,
    /// `Location_Y`: longitude.
    pub longitude: f64,
    /// `Scale`: map zoom.
    pub scale: u32,
    /// `Label`: place description.
    pub label: String,
}

/// `MsgType=link`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkMessage {
    /// `MsgId`.
    pub msg_id: u64,
    /// `Title`.
    pub title: String,
    /// `Description`.
    pub description: String,
    /// `Url`.
    pub url: String,
}

/// `MsgType=event`, by `Event` (matched case-sensitively, as WeChat sends them).
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// `subscribe`: a follow. Through a parametric QR code `event_key` is
    /// `qrscene_<scene>` and `ticket` is set; see [`Event::qr_scene`].
    Subscribe {
        /// `EventKey`, `None` for a plain follow (also when sent empty).
        event_key: Option<String>,
        /// `Ticket` of the QR code.
        ticket: Option<String>,
    },
    /// `unsubscribe`.
    Unsubscribe,
    /// `SCAN`: a follower scanned a parametric QR code; `event_key` is the scene
    /// **without** the `qrscene_` prefix.
    Scan {
        /// `EventKey`: the scene id or string.
        event_key: String,
        /// `Ticket` of the QR code.
        ticket: Option<String>,
    },
    /// `LOCATION`: periodic location report.
    Location {
        /// `Latitude`.
        latitude: f64,
        /// `Longitude`.
        longitude: f64,
        /// `Precision`.
        precision: f64,
    },
    /// `CLICK`: a menu button.
    Click {
        /// `EventKey`: the button's key.
        event_key: String,
    },
    /// `VIEW`: a menu link.
    View {
        /// `EventKey`: the URL.
        url: String,
        /// `MenuId`, on newer pushes.
        menu_id: Option<String>,
    },
    /// `TEMPLATESENDJOBFINISH`.
    TemplateSendJobFinish {
        /// `MsgID` (capital D) of the template send.
        msg_id: u64,
        /// `Status`: `success`, `failed:user block`, `failed: system failed`.
        status: String,
    },
    /// `MASSSENDJOBFINISH`.
    MassSendJobFinish(MassSendJobFinish),
    /// Any other event; ack it with `success`.
    Unknown {
        /// `Event` as sent.
        event: String,
    },
}

/// The `MASSSENDJOBFINISH` event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MassSendJobFinish {
    /// `MsgID` of the mass send.
    pub msg_id: u64,
    /// `Status`: `send success`, `send fail` or `err(<code>)`.
    pub status: String,
    /// `TotalCount`: targets.
    pub total_count: Option<u64>,
    /// `FilterCount`: attempted after filtering.
    pub filter_count: Option<u64>,
    /// `SentCount`.
    pub sent_count: Option<u64>,
    /// `ErrorCount`.
    pub error_count: Option<u64>,
    /// `CopyrightCheckResult`, when present.
    pub copyright_check: Option<CopyrightCheckResult>,
    /// `ArticleUrlResult`, when present.
    pub article_urls: Option<ArticleUrlResult>,
}

/// `CopyrightCheckResult` of `MASSSENDJOBFINISH`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyrightCheckResult {
    /// `Count`.
    pub count: Option<u64>,
    /// `CheckState`: 1 passed, 2 failed (per the docs).
    pub check_state: Option<i64>,
    /// `ResultList/item`s, each as its leaf elements (`ArticleIdx`,
    /// `UserDeclareState`, `AuditState`, `OriginalArticleUrl`, …).
    pub items: Vec<BTreeMap<String, String>>,
}

/// `ArticleUrlResult` of `MASSSENDJOBFINISH`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArticleUrlResult {
    /// `Count`.
    pub count: Option<u64>,
    /// `ResultList/item`s.
    pub items: Vec<ArticleUrl>,
}

/// One `ArticleUrlResult` item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArticleUrl {
    /// `ArticleIdx`, 1-based.
    pub article_idx: Option<u32>,
    /// `ArticleUrl`.
    pub article_url: String,
}

/// Parses a plaintext message (body of a plaintext push, or decrypted `Encrypt`).
pub fn parse_message(xml: impl AsRef<[u8]>) -> Result<Inbound, Error> {
    from_root(parse_document(xml.as_ref())?)
}

pub(super) fn from_root(root: Element) -> Result<Inbound, Error> {
    let header = Header {
        to_user: required(&root, "ToUserName")?,
        from_user: required(&root, "FromUserName")?,
        create_time: required_num(&root, "CreateTime")?,
        msg_type: required(&root, "MsgType")?,
    };
    let r = &root;
    let message = match header.msg_type.as_str() {
        "text" => Message::Text(TextMessage {
            msg_id: msg_id(r)?,
            content: text(r, "Content"),
            msg_data_id: optional(r, "MsgDataId"),
            idx: optional(r, "Idx"),
        }),
        "image" => Message::Image(ImageMessage {
            msg_id: msg_id(r)?,
            pic_url: text(r, "PicUrl"),
            media_id: text(r, "MediaId"),
        }),
        "voice" => Message::Voice(VoiceMessage {
            msg_id: msg_id(r)?,
            media_id: text(r, "MediaId"),
            format: text(r, "Format"),
            recognition: optional(r, "Recognition"),
        }),
        "video" => Message::Video(video(r)?),
        "shortvideo" => Message::ShortVideo(video(r)?),
        "location" => Message::Location(LocationMessage {
            msg_id: msg_id(r)?,
            latitude: required_coordinate(r, "Location_X")?,
            longitude: required_coordinate(r, "Location_Y")?,
            scale: required_num(r, "Scale")?,
            label: text(r, "Label"),
        }),
        "link" => Message::Link(LinkMessage {
            msg_id: msg_id(r)?,
            title: text(r, "Title"),
            description: text(r, "Description"),
            url: text(r, "Url"),
        }),
        "event" => Message::Event(event(r)?),
        _ => Message::Unknown {
            msg_id: r.child_text("MsgId").and_then(|v| v.trim().parse().ok()),
        },
    };
    Ok(Inbound {
        header,
        message,
        fields: root.leaf_fields(),
        root,
    })
}

fn video(r: &Element) -> Result<VideoMessage, Error> {
    Ok(VideoMessage {
        msg_id: msg_id(r)?,
        media_id: text(r, "MediaId"),
        thumb_media_id: text(r, "ThumbMediaId"),
    })
}

fn event(r: &Element) -> Result<Event, Error> {
    let name = required(r, "Event")?;
    Ok(match name.as_str() {
        "subscribe" => Event::Subscribe {
            event_key: optional(r, "EventKey"),
            ticket: optional(r, "Ticket"),
        },
        "unsubscribe" => Event::Unsubscribe,
        "SCAN" => Event::Scan {
            event_key: text(r, "EventKey"),
            ticket: optional(r, "Ticket"),
        },
        "LOCATION" => Event::Location {
            latitude: required_coordinate(r, "Latitude")?,
            longitude: required_coordinate(r, "Longitude")?,
            precision: required_coordinate(r, "Precision")?,
        },
        "CLICK" => Event::Click {
            event_key: text(r, "EventKey"),
        },
        "VIEW" => Event::View {
            url: text(r, "EventKey"),
            menu_id: optional(r, "MenuId"),
        },
        "TEMPLATESENDJOBFINISH" => Event::TemplateSendJobFinish {
            msg_id: job_msg_id(r)?,
            status: text(r, "Status"),
        },
        "MASSSENDJOBFINISH" => Event::MassSendJobFinish(MassSendJobFinish {
            msg_id: job_msg_id(r)?,
            status: text(r, "Status"),
            total_count: optional_num(r, "TotalCount")?,
            filter_count: optional_num(r, "FilterCount")?,
            sent_count: optional_num(r, "SentCount")?,
            error_count: optional_num(r, "ErrorCount")?,
            copyright_check: r
                .child("CopyrightCheckResult")
                .map(|c| CopyrightCheckResult {
                    count: lenient_num(c, "Count"),
                    check_state: lenient_num(c, "CheckState"),
                    items: result_items(c).map(Element::leaf_fields).collect(),
                }),
            article_urls: r.child("ArticleUrlResult").map(|a| ArticleUrlResult {
                count: lenient_num(a, "Count"),
                items: result_items(a)
                    .map(|item| ArticleUrl {
                        article_idx: lenient_num(item, "ArticleIdx"),
                        article_url: text(item, "ArticleUrl"),
                    })
                    .collect(),
            }),
        }),
        _ => Event::Unknown { event: name },
    })
}

fn result_items(parent: &Element) -> impl Iterator<Item = &Element> {
    parent
        .child("ResultList")
        .into_iter()
        .flat_map(|list| list.children_named("item"))
}

impl Event {
    /// The QR scene of a `subscribe` through a parametric QR code (`qrscene_`
    /// stripped) or of a `SCAN`; `None` otherwise.
    pub fn qr_scene(&self) -> Option<&str> {
        match self {
            Event::Subscribe {
                event_key: Some(key),
                ..
            } => key.strip_prefix("qrscene_"),
            Event::Scan { event_key, .. } => Some(event_key),
            _ => None,
        }
    }

    /// The job `MsgID` of `TEMPLATESENDJOBFINISH` / `MASSSENDJOBFINISH`.
    pub fn job_msg_id(&self) -> Option<u64> {
        match self {
            Event::TemplateSendJobFinish { msg_id, .. } => Some(*msg_id),
            Event::MassSendJobFinish(m) => Some(m.msg_id),
            _ => None,
        }
    }
}

impl Message {
    /// `MsgId` of a user message (also of an unknown type that carries one).
    pub fn msg_id(&self) -> Option<u64> {
        match self {
            Message::Text(m) => Some(m.msg_id),
            Message::Image(m) => Some(m.msg_id),
            Message::Voice(m) => Some(m.msg_id),
            Message::Video(m) | Message::ShortVideo(m) => Some(m.msg_id),
            Message::Location(m) => Some(m.msg_id),
            Message::Link(m) => Some(m.msg_id),
            Message::Event(_) => None,
            Message::Unknown { msg_id } => *msg_id,
        }
    }

    /// Whether this is an event (as opposed to something a user sent).
    pub fn is_event(&self) -> bool {
        matches!(self, Message::Event(_))
    }
}

impl Inbound {
    /// `Event` as sent, for events.
    pub fn event_name(&self) -> Option<&str> {
        match self.message {
            Message::Event(_) => self.fields.get("Event").map(String::as_str),
            _ => None,
        }
    }

    /// The key under which to record this push so WeChat's retries (same body, up
    /// to 3 deliveries) are processed once. Scope it by tenant/appid when storing.
    ///
    /// * user messages, and unknown types carrying a `MsgId`: `msg:<MsgId>`;
    /// * `TEMPLATESENDJOBFINISH` / `MASSSENDJOBFINISH`:
    ///   `evt:<FromUserName>:<CreateTime>:<Event>:<MsgID>` — the job id is added so
    ///   that two jobs finishing for the same user in the same second stay distinct;
    /// * other events: `evt:<FromUserName>:<CreateTime>:<Event>`;
    /// * unknown types without `MsgId`: `evt:<FromUserName>:<CreateTime>:<MsgType>`.
    pub fn dedupe_key(&self) -> String {
        let h = &self.header;
        match &self.message {
            Message::Event(event) => {
                let name = self.event_name().unwrap_or_default();
                match event.job_msg_id() {
                    Some(job) => format!("evt:{}:{}:{}:{}", h.from_user, h.create_time, name, job),
                    None => format!("evt:{}:{}:{}", h.from_user, h.create_time, name),
                }
            }
            other => match other.msg_id() {
                Some(id) => format!("msg:{id}"),
                None => format!("evt:{}:{}:{}", h.from_user, h.create_time, h.msg_type),
            },
        }
    }
}

fn required(r: &Element, name: &'static str) -> Result<String, Error> {
    r.child_text(name)
        .map(str::to_string)
        .ok_or(Error::MissingField(name))
}

fn text(r: &Element, name: &str) -> String {
    r.child_text(name).unwrap_or_default().to_string()
}

fn optional(r: &Element, name: &str) -> Option<String> {
    r.child_text(name)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}

fn required_num<T: FromStr>(r: &Element, name: &'static str) -> Result<T, Error> {
    let raw = r.child_text(name).ok_or(Error::MissingField(name))?;
    raw.trim()
        .parse()
        .map_err(|_| Error::invalid_field(name, raw))
}

fn optional_num<T: FromStr>(r: &Element, name: &'static str) -> Result<Option<T>, Error> {
    match r.child_text(name).map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) => v
            .parse()
            .map(Some)
            .map_err(|_| Error::invalid_field(name, v)),
    }
}

fn lenient_num<T: FromStr>(r: &Element, name: &str) -> Option<T> {
    r.child_text(name).and_then(|v| v.trim().parse().ok())
}

fn required_coordinate(r: &Element, name: &'static str) -> Result<f64, Error> {
    let v: f64 = required_num(r, name)?;
    if v.is_finite() {
        Ok(v)
    } else {
        Err(Error::invalid_field(
            name,
            r.child_text(name).unwrap_or_default(),
        ))
    }
}

fn msg_id(r: &Element) -> Result<u64, Error> {
    required_num(r, "MsgId")
}

/// Job-finish events spell it `MsgID`; accept `MsgId` too.
fn job_msg_id(r: &Element) -> Result<u64, Error> {
    if r.child("MsgID").is_some() {
        required_num(r, "MsgID")
    } else if r.child("MsgId").is_some() {
        required_num(r, "MsgId")
    } else {
        Err(Error::MissingField("MsgID"))
    }
}
