//! The outbound WeChat OA API client (fact sheet §5).
//!
//! One [`Client`] per account (appid): it is cheap to clone and shares its
//! access_token cache between clones. Every call goes through the same path:
//!
//! - **Token**: fetched on first use from `POST /cgi-bin/stable_token` (or the
//!   legacy `GET /cgi-bin/token`, see [`TokenEndpoint`]), cached in the client
//!   behind a tokio mutex until 5 minutes before expiry (concurrent callers wait
//!   for one fetch). When WeChat refuses the token (40001, 40014, 42001) the client
//!   refreshes it once and repeats the call; if `stable_token` hands back the very
//!   token that was refused, it asks again with `force_refresh`.
//! - **Busy**: WeChat's −1 is retried with a doubling pause per [`RetryPolicy`]
//!   (2 retries from 500 ms by default). Nothing else is retried automatically.
//! - **Errors**: WeChat answers HTTP 200 with `{"errcode","errmsg"}`; a non-zero
//!   `errcode` becomes [`Error::Api`] carrying an [`ApiError`] (classified by
//!   [`ApiError::is_retryable`], [`ApiError::is_quota`]…, codes named in
//!   [`codes`]). Transport failures, other HTTP statuses and unexpected bodies are
//!   their own variants; requests WeChat would refuse for their shape (a batch of
//!   101, a 31-byte tag name, a scene out of range) are refused before sending as
//!   [`Error::Invalid`].
//! - **Secrets**: the access_token travels in the query string, so transport errors
//!   have their URL stripped, and the client's `Debug` hides the AppSecret.
//!
//! Endpoints, by area:
//!
//! | area | methods |
//! | --- | --- |
//! | followers ([`users`]) | [`Client::followers`], [`Client::follower_pages`], [`Client::all_followers`], [`Client::user_info`], [`Client::user_info_batch`] (≤ 100) |
//! | tags ([`tags`]) | [`Client::create_tag`], [`Client::tags`], [`Client::update_tag`], [`Client::delete_tag`], [`Client::batch_tag`] / [`Client::batch_untag`] (≤ 50), [`Client::user_tag_ids`], [`Client::tag_followers`] |
//! | customer service ([`custom`]) | [`Client::send_custom`] |
//! | mass send ([`mass`]) | [`Client::mass_send_all`] (deduplicated by `clientmsgid`), [`Client::mass_status`] |
//! | menu ([`menu`]) | [`Client::create_menu`], [`Client::menu`], [`Client::delete_menu`] |
//! | QR codes ([`qrcode`]) | [`Client::create_qrcode`] |
//!
//! ```no_run
//! use patron_wechat::api::{Client, CustomMessage, PRODUCTION_BASE_URL};
//!
//! # async fn run() -> Result<(), patron_wechat::api::Error> {
//! let client = Client::new(PRODUCTION_BASE_URL, "wx2c2769f8efd9abc2", "the-appsecret")?;
//! let mut pages = client.follower_pages();
//! while let Some(page) = pages.next_page().await? {
//!     for openid in &page.openids {
//!         let _ = openid; // store it
//!     }
//! }
//! client.send_custom("oSomeOpenid", &CustomMessage::text("您好")).await?;
//! # Ok(())
//! # }
//! ```
//!
//! Tests run the client against `patron-simulator`, an in-process stand-in for
//! `api.weixin.qq.com`.

mod client;
mod error;

pub mod custom;
pub mod mass;
pub mod menu;
pub mod qrcode;
pub mod tags;
pub mod token_store;
pub mod users;

pub use client::{Client, ClientBuilder, RetryPolicy, TokenEndpoint, PRODUCTION_BASE_URL};
pub use custom::{CustomMessage, NewsArticle};
pub use error::{codes, ApiError, Error, Failure};
pub use mass::{MassFilter, MassMessage, MassSendResult, MassStatus};
pub use menu::{ActionButton, ButtonAction, Menu, MenuButton};
pub use qrcode::{QrCode, QrCodeRequest, Scene};
pub use tags::Tag;
pub use token_store::{SharedToken, StoreFuture, TokenStore};
pub use users::{FollowerPage, FollowerPages, UserInfo};
