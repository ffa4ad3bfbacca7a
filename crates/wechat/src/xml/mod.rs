//! Reading pushes: the envelope and the typed messages and events (fact sheet §2.1,
//! §3.1, §3.2, §4).
//!
//! * [`parse_envelope`] reads a POST body in any mode: plaintext, compatible
//!   (plaintext elements plus `<Encrypt>`), or safe (`ToUserName` + `Encrypt`).
//! * [`parse_message`] reads a plaintext message (the body in plaintext mode, or the
//!   output of [`crate::crypto::decrypt`]) into an [`Inbound`].
//! * [`parse_document`] is the underlying tree reader, with the safety rules
//!   described in [`tree`].
//!
//! Unknown message types, unknown events and unknown elements are kept, never an
//! error; malformed XML and DOCTYPE/ENTITY declarations are. The caller bounds the
//! body size; the reader bounds the nesting depth at [`MAX_DEPTH`].
//!
//! Only the XML data format is read. The JSON push format (an opt-in of the newer
//! push settings; OA default is XML) is not handled here: a JSON body is not XML
//! and is refused. [`crate::crypto`] itself is format-agnostic.

mod envelope;
mod message;
pub mod tree;

pub use envelope::{parse_envelope, Envelope};
pub use message::{
    parse_message, ArticleUrl, ArticleUrlResult, CopyrightCheckResult, Event, Header, ImageMessage,
    Inbound, LinkMessage, LocationMessage, MassSendJobFinish, Message, TextMessage, VideoMessage,
    VoiceMessage,
};
pub use tree::{parse_document, Element, MAX_DEPTH};
