//! Points and stamps, as the follower page, the till and the API give them: each checks
//! the follower (a stranger's is `NotFound` before the request is judged), then the
//! request, then posts in one transaction.

use crate::AppError;
use patron_domain::validate::invalid;
use patron_domain::TenantScope;
use patron_store::loyalty::{self, Kind, Post, Posted};
use patron_store::stamps::{self, By, Card, Stamped};
use patron_store::{followers, DbConn};

/// The longest idempotency key, in bytes.
pub const MAX_KEY: usize = 100;

/// Points to post, as asked.
pub struct PointsRequest<'a> {
    /// `earn`, `spend` or `adjust`.
    pub kind: &'a str,
    /// `None` when what was typed is not a number.
    pub points: Option<i64>,
    pub reason: &'a str,
    /// `manual`, `api`, …
    pub source: &'a str,
    /// Makes the post once only: the client's key, stored as `{source}:{key}`.
    pub key: Option<&'a str>,
    pub user: Option<(i64, &'a str)>,
}

/// Posts points with the program's expiry. A debit beyond the balance is
/// `Ok(Posted::Insufficient)` and changes nothing; a repeated key is `Ok(Posted::Duplicate)`.
pub fn post_points(
    c: &mut DbConn,
    scope: &TenantScope,
    follower: i64,
    r: &PointsRequest<'_>,
) -> Result<Posted, AppError> {
    followers::get(c, scope, follower)?;
    let kind = Kind::parse(r.kind)
        .ok_or_else(|| AppError::Invalid(vec![invalid("kind", "invalid_choice")]))?;
    let points = r
        .points
        .ok_or_else(|| AppError::Invalid(vec![invalid("points", "not_a_number")]))?;
    let key = stored_key(r.source, r.key)?;
    let program = loyalty::program(c, scope)?;
    let post = Post {
        kind,
        points,
        source: r.source,
        source_key: key.as_deref(),
        reason: r.reason,
        user: r.user,
        expires_at: program.and_then(|p| p.expiry(patron_store::now())),
    };
    Ok(loyalty::post(c, scope, follower, &post)?)
}

/// A stamp to give.
pub struct StampRequest<'a> {
    pub card: i64,
    /// `manual`, `till`, `api`.
    pub source: &'a str,
    /// Makes the stamp once only: the client's key, stored as `{source}:{key}`.
    pub key: Option<&'a str>,
    /// Who, and at which store (a cashier only at one of theirs).
    pub by: By<'a>,
}

/// Gives one stamp; a full card issues its reward coupon. Answers with the card too (its
/// name, for the page's message).
pub fn give_stamp(
    c: &mut DbConn,
    scope: &TenantScope,
    follower: i64,
    r: &StampRequest<'_>,
) -> Result<(Stamped, Card), AppError> {
    followers::get(c, scope, follower)?;
    let card = stamps::get(c, scope, r.card)?;
    if let Some(store) = r.by.store {
        if scope
            .stores()
            .is_some_and(|mine| !mine.iter().any(|m| m.0 == store))
        {
            return Err(AppError::Forbidden);
        }
        patron_store::stores::get(c, scope, patron_domain::StoreId(store))?;
    }
    let key = stored_key(r.source, r.key)?;
    let stamped = stamps::stamp(c, scope, r.card, follower, r.source, key.as_deref(), r.by)?;
    Ok((stamped, card))
}

/// A client's idempotency key (1 to [`MAX_KEY`] bytes) as stored: `{source}:{key}`, so
/// keys of different callers never meet.
fn stored_key(source: &str, key: Option<&str>) -> Result<Option<String>, AppError> {
    match key {
        Some(k) if k.is_empty() || k.len() > MAX_KEY => Err(AppError::Invalid(vec![invalid(
            "idempotency_key",
            "too_long",
        )])),
        Some(k) => Ok(Some(format!("{source}:{k}"))),
        None => Ok(None),
    }
}
