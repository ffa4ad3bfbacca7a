//! WeChat Pay as the notification endpoints, the settings page, the API and the CLI share
//! it: the merchant settings (checked, keys write-only), and applying a verified payment
//! or refund with its loyalty effects in one transaction, once per notification.
//!
//! Verifying is `patron_wechat::pay` (no database); the web edge verifies first and calls
//! here only with what WeChat really sent.

use crate::AppError;
use patron_domain::validate::{invalid, Invalid};
use patron_domain::TenantScope;
use patron_store::loyalty::{self, Kind, Post, Posted};
use patron_store::payments::{
    self as store, NotApplied, Paid, PayInput, PaySettings, Payment, PlatformKey, Refunded,
};
use patron_store::{write_tx, DbConn, SecretBox, StoreError};
use patron_wechat::pay::v3::PlatformKeys;

/// Every problem of a settings change, by field: the merchant id (digits), the APIv2 key
/// (32 characters), the APIv3 key (32 bytes), each platform key (a PEM that reads as an
/// RSA public key of at least 2048 bits, or a certificate, with an id).
pub fn check_settings(i: &PayInput) -> Vec<Invalid> {
    let mut out = Vec::new();
    let mch = i.mch_id.trim();
    if mch.is_empty() {
        out.push(invalid("mch_id", "required"));
    } else if !(6..=20).contains(&mch.len()) || !mch.bytes().all(|b| b.is_ascii_digit()) {
        out.push(invalid("mch_id", "invalid_mch_id"));
    }
    if let Some(k) = &i.apiv2_key {
        if k.len() != 32 || !k.bytes().all(|b| b.is_ascii_alphanumeric()) {
            out.push(invalid("apiv2_key", "invalid_pay_key"));
        }
    }
    if let Some(k) = &i.apiv3_key {
        if patron_wechat::pay::v3::ApiV3Key::new(k).is_err() {
            out.push(invalid("apiv3_key", "invalid_pay_key"));
        }
    }
    if let Some(keys) = &i.platform_keys {
        if platform_keys(keys).is_err() {
            out.push(invalid("public_key", "invalid_public_key"));
        }
    }
    let serial = i.merchant_serial.as_deref().map(str::trim);
    if let Some(s) = serial {
        if !(1..=64).contains(&s.len()) || !s.bytes().all(|b| b.is_ascii_alphanumeric()) {
            out.push(invalid("merchant_serial", "invalid_serial"));
        }
    }
    if let Some(pem) = &i.merchant_key {
        match serial {
            None => out.push(invalid("merchant_serial", "required")),
            Some(s) => {
                if patron_wechat::pay::v3::bill::MerchantSigner::from_pem(mch, s, pem).is_err() {
                    out.push(invalid("merchant_key", "invalid_private_key"));
                }
            }
        }
    }
    out
}

/// The platform keys as the v3 verifier holds them.
pub fn platform_keys(keys: &[PlatformKey]) -> Result<PlatformKeys, patron_wechat::pay::PayError> {
    let mut out = PlatformKeys::new();
    for k in keys {
        if k.pem.contains("BEGIN CERTIFICATE") {
            out.add_certificate_pem(&k.pem)?;
        } else {
            if k.id.trim().is_empty() || k.id.len() > 64 {
                return Err(patron_wechat::pay::PayError::InvalidKey(
                    "a public key needs its id".into(),
                ));
            }
            out.add_public_key_pem(k.id.trim(), &k.pem)?;
        }
    }
    Ok(out)
}

/// Saves the settings, or answers every problem (nothing changes then).
pub fn save_settings(
    c: &mut DbConn,
    scope: &TenantScope,
    sb: &SecretBox,
    i: &PayInput,
) -> Result<PaySettings, AppError> {
    let problems = check_settings(i);
    if !problems.is_empty() {
        return Err(AppError::Invalid(problems));
    }
    Ok(store::put_settings(c, scope, sb, i)?)
}

/// What applying a notification did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied<T> {
    /// Applied now.
    New(T),
    /// Applied before (WeChat retried): nothing changed.
    Duplicate,
    /// Not applied: the answer tells WeChat to try again, and the log says why.
    Refused(Refusal),
}

/// Why a verified notification was not applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The order we recorded has another amount.
    AmountDiffers { expected_fen: i64, got_fen: i64 },
    /// The order is known under another WeChat transaction.
    OtherTransaction,
    /// A refund of a payment unknown here (its payment notification has not come yet:
    /// WeChat retries, by then it has).
    UnknownPayment,
}

/// The points a payment earns: the program's points per whole yuan.
pub fn points_for(points_per_yuan: i64, fen: i64) -> i64 {
    points_per_yuan.saturating_mul(fen.max(0) / 100)
}

/// Applies a verified payment notification (`key` makes it once), awarding the
/// program's points per yuan to the follower, in one transaction.
pub fn paid(
    c: &mut DbConn,
    scope: &TenantScope,
    key: &str,
    version: &str,
    body: &str,
    x: &Paid<'_>,
) -> Result<Applied<Payment>, AppError> {
    let out = write_tx(c, |c| -> Result<_, Stop> {
        if !store::note_notification(c, scope, key, "payment", version, body)? {
            return Ok(Applied::Duplicate);
        }
        let payment = match store::apply_paid(c, scope, x)? {
            Ok(p) => p,
            Err(why) => {
                // Undo the notification row: nothing of a refused notification is kept.
                return Err(Stop::Refused(match why {
                    NotApplied::AmountDiffers { expected_fen } => Refusal::AmountDiffers {
                        expected_fen,
                        got_fen: x.total_fen,
                    },
                    NotApplied::OtherTransaction => Refusal::OtherTransaction,
                }));
            }
        };
        award(c, scope, &payment)?;
        Ok(Applied::New(payment))
    });
    settle(out)
}

/// Applies a verified refund notification: the refund and its payment's state, and when
/// it succeeds the points its share of the payment earned are taken back, once.
pub fn refunded(
    c: &mut DbConn,
    scope: &TenantScope,
    key: &str,
    version: &str,
    body: &str,
    x: &Refunded<'_>,
) -> Result<Applied<store::RefundApplied>, AppError> {
    let out = write_tx(c, |c| -> Result<_, Stop> {
        if !store::note_notification(c, scope, key, "refund", version, body)? {
            return Ok(Applied::Duplicate);
        }
        let Some(applied) = store::apply_refund(c, scope, x)? else {
            return Err(Stop::Refused(Refusal::UnknownPayment));
        };
        if applied.newly_succeeded {
            reverse(c, scope, &applied.payment, &applied.refund)?;
        }
        Ok(Applied::New(applied))
    });
    settle(out)
}

/// How a notification's transaction ends early: a refusal (rolled back, the
/// notification row with it, so a retry is judged afresh) or a failure.
#[derive(Debug)]
enum Stop {
    Refused(Refusal),
    Store(StoreError),
}

impl From<StoreError> for Stop {
    fn from(e: StoreError) -> Self {
        Stop::Store(e)
    }
}

impl From<patron_store::DieselError> for Stop {
    fn from(e: patron_store::DieselError) -> Self {
        Stop::Store(e.into())
    }
}

fn settle<T>(r: Result<Applied<T>, Stop>) -> Result<Applied<T>, AppError> {
    match r {
        Ok(a) => Ok(a),
        Err(Stop::Refused(why)) => Ok(Applied::Refused(why)),
        Err(Stop::Store(e)) => Err(e.into()),
    }
}

/// Earns the payment's points for its follower (key `pay:<order>`: once).
fn award(c: &mut DbConn, scope: &TenantScope, p: &Payment) -> Result<(), StoreError> {
    let (Some(follower), Some(program)) = (p.follower_id, loyalty::program(c, scope)?) else {
        return Ok(());
    };
    let points = points_for(program.points_per_yuan, p.total_fen);
    if points <= 0 {
        return Ok(());
    }
    let key = format!("pay:{}", p.out_trade_no);
    let expires_at = program
        .expiry_days
        .map(|d| patron_store::now() + chrono::TimeDelta::days(d));
    loyalty::post_in(
        c,
        scope,
        follower,
        &Post {
            kind: Kind::Earn,
            points,
            source: "payment",
            source_key: Some(&key),
            reason: "",
            user: None,
            expires_at,
        },
    )?;
    Ok(())
}

/// Takes back the points the refunded share earned (key `refund:<refund>`: once), as
/// far as the balance allows: points already spent are not clawed back below zero.
fn reverse(
    c: &mut DbConn,
    scope: &TenantScope,
    p: &Payment,
    r: &store::Refund,
) -> Result<(), StoreError> {
    let (Some(follower), Some(program)) = (p.follower_id, loyalty::program(c, scope)?) else {
        return Ok(());
    };
    // The refund's share of what the payment earned.
    let earned = points_for(program.points_per_yuan, p.total_fen);
    let points = if p.total_fen > 0 {
        (earned as i128 * r.amount_fen.min(p.total_fen) as i128 / p.total_fen as i128) as i64
    } else {
        0
    };
    if points <= 0 {
        return Ok(());
    }
    let key = format!("refund:{}", r.out_refund_no);
    let post = |points| Post {
        kind: Kind::Spend,
        points,
        source: "refund",
        source_key: Some(&key),
        reason: "",
        user: None,
        expires_at: None,
    };
    if let Posted::Insufficient { balance } = loyalty::post_in(c, scope, follower, &post(points))? {
        if balance > 0 {
            loyalty::post_in(c, scope, follower, &post(balance))?;
        }
    }
    Ok(())
}
