//! An access_token shared beyond one process (fact sheet §5.1: one central cache per
//! appid). The client keeps its own copy, but asks the store first and lets one caller
//! at a time refresh: every process and job of a tenant then uses the same token, and a
//! refresh by one never catches the others with a token WeChat no longer takes. The
//! store is the caller's (Patron keeps it in its database); this crate only uses it.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// What a store's operations answer: a message on failure.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, String>> + Send + 'a>>;

/// A token as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedToken {
    /// The access_token.
    pub token: String,
    /// When WeChat stops taking it, Unix seconds.
    pub expires_at: i64,
}

/// Where an account's token is shared.
pub trait TokenStore: Send + Sync + 'static {
    /// The stored token, if any (expired or not: the client judges).
    fn load(&self) -> StoreFuture<'_, Option<SharedToken>>;
    /// Takes the right to refresh for `lease`; `false` while another caller holds it.
    fn try_lease(&self, lease: Duration) -> StoreFuture<'_, bool>;
    /// Stores a fresh token and gives the lease back.
    fn save(&self, token: SharedToken) -> StoreFuture<'_, ()>;
    /// Gives the lease back without a token (the refresh failed).
    fn release(&self) -> StoreFuture<'_, ()>;
    /// Forgets the stored token if it is `rejected` (WeChat refused it).
    fn forget(&self, rejected: String) -> StoreFuture<'_, ()>;
}
