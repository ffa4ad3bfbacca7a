//! WeChat Pay's notifications, per tenant: `/pay/{slug}/v2` (payments, XML, MD5 or
//! HMAC-SHA256 signed), `/pay/{slug}/v2/refund` (refunds, the AES-256-ECB `req_info`)
//! and `/pay/{slug}/v3` (payments and refunds, JSON signed with SHA256withRSA, the
//! AES-256-GCM resource).
//!
//! Verified before anything is read or stored (`patron_wechat::pay`); the merchant id
//! must be the tenant's; applied once (`patron_app::payments`, keyed by the
//! notification); answered exactly as WeChat expects: v2 the XML `SUCCESS`/`FAIL`, v3
//! 204 or a 4xx/5xx with `{"code":"FAIL",…}`. A refusal stores nothing, logs why, and
//! tells WeChat to try again (it retries for a day), which only helps when the cause
//! passes (a refund whose payment notification has not arrived yet).

use crate::AppState;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use patron_app::payments::{self as ops, Applied, Refusal};
use patron_domain::TenantScope;
use patron_store::payments::{Paid, PaySettings, Refunded};
use patron_wechat::pay::{v2, v3, PayError};

/// The largest notification accepted (WeChat's are a few KB).
pub const MAX_BODY: usize = 64 * 1024;

/// What went wrong, and how each protocol says it.
struct Refused {
    status: StatusCode,
    why: String,
}

fn refused(status: StatusCode, why: impl Into<String>) -> Refused {
    Refused {
        status,
        why: why.into(),
    }
}

impl From<PayError> for Refused {
    fn from(e: PayError) -> Self {
        let status = match e {
            PayError::BadSignature
            | PayError::UnknownSerial(_)
            | PayError::Expired { .. }
            | PayError::Probe
            | PayError::Decrypt => StatusCode::UNAUTHORIZED,
            _ => StatusCode::BAD_REQUEST,
        };
        refused(status, e.to_string())
    }
}

impl From<patron_store::StoreError> for Refused {
    fn from(e: patron_store::StoreError) -> Self {
        refused(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
    }
}

impl From<patron_app::AppError> for Refused {
    fn from(e: patron_app::AppError) -> Self {
        refused(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
    }
}

fn refusal(r: &Refusal) -> Refused {
    match r {
        Refusal::AmountDiffers {
            expected_fen,
            got_fen,
        } => refused(
            StatusCode::CONFLICT,
            format!("the order's amount is {expected_fen} fen here, {got_fen} in the notification"),
        ),
        Refusal::OtherTransaction => refused(
            StatusCode::CONFLICT,
            "the order is known under another transaction",
        ),
        Refusal::UnknownPayment => refused(
            StatusCode::CONFLICT,
            "a refund of a payment not known here yet",
        ),
    }
}

/// The tenant and its pay settings; unknown tenants and tenants without pay are 404.
async fn tenant(state: &AppState, slug: &str) -> Result<(TenantScope, PaySettings), Refused> {
    let (slug, sb) = (slug.to_string(), state.secrets.clone());
    let found = state
        .db(move |c| {
            let Some(r) = patron_store::tenants::find_ref_by_slug(c, &slug)? else {
                return Ok(None);
            };
            let scope = TenantScope::system(r);
            let settings = patron_store::payments::settings(c, &scope, &sb)?;
            Ok(settings.map(|s| (scope, s)))
        })
        .await?;
    found.ok_or_else(|| {
        refused(
            StatusCode::NOT_FOUND,
            "no WeChat Pay settings for this account",
        )
    })
}

/// The APIv2 key that signs (and, for refunds, encrypts) v2 notifications.
fn v2_key(settings: &PaySettings) -> Result<String, Refused> {
    settings.apiv2_key.clone().ok_or_else(|| {
        refused(
            StatusCode::NOT_FOUND,
            "no APIv2 key for this account: set it on its WeChat Pay page",
        )
    })
}

fn too_big(body: &[u8]) -> Result<(), Refused> {
    if body.len() > MAX_BODY {
        return Err(refused(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("{} bytes, more than a notification", body.len()),
        ));
    }
    Ok(())
}

fn same_merchant(settings: &PaySettings, mch_id: &str) -> Result<(), Refused> {
    if settings.mch_id == mch_id {
        Ok(())
    } else {
        Err(refused(
            StatusCode::BAD_REQUEST,
            format!("the notification is for merchant {mch_id}, not this account's"),
        ))
    }
}

fn v2_answer(slug: &str, what: &str, r: Result<(), Refused>) -> HttpResponse {
    match r {
        Ok(()) => HttpResponse::Ok()
            .content_type("text/xml; charset=utf-8")
            .body(v2::reply_success()),
        Err(e) => {
            tracing::warn!(tenant = %slug, status = e.status.as_u16(), why = %e.why, "{what} refused");
            HttpResponse::build(e.status)
                .content_type("text/xml; charset=utf-8")
                .body(v2::reply_fail(&e.why))
        }
    }
}

fn v3_answer(slug: &str, r: Result<(), Refused>) -> HttpResponse {
    match r {
        Ok(()) => HttpResponse::NoContent().finish(),
        Err(e) => {
            tracing::warn!(tenant = %slug, status = e.status.as_u16(), why = %e.why, "v3 pay notification refused");
            HttpResponse::build(e.status)
                .content_type("application/json")
                .body(v3::reply_fail(&e.why))
        }
    }
}

fn logged<T>(slug: &str, what: &str, applied: &Applied<T>) -> Result<(), Refused> {
    match applied {
        Applied::New(_) => {
            tracing::info!(tenant = %slug, "{what} applied");
            Ok(())
        }
        Applied::Duplicate => {
            tracing::info!(tenant = %slug, "{what} already applied (a retry)");
            Ok(())
        }
        Applied::Refused(r) => Err(refusal(r)),
    }
}

/// `POST /pay/{slug}/v2`: a v2 payment notification.
pub async fn v2_payment(
    state: web::Data<AppState>,
    slug: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let r = async {
        too_big(&body)?;
        let (scope, settings) = tenant(&state, &slug).await?;
        let key = v2_key(&settings)?;
        let n = v2::Notification::parse(&body)?;
        v2::verify(&n, &key)?;
        same_merchant(&settings, n.mch_id()?)?;
        if !n.is_success() {
            // A failed payment: nothing to record; acknowledged so WeChat stops.
            tracing::info!(tenant = %slug.as_str(), code = ?n.err_code(), "v2 notification of a failed payment");
            return Ok(());
        }
        let fields = serde_json::to_string(n.fields()).unwrap_or_default();
        let (out_trade_no, transaction_id) =
            (n.out_trade_no()?.to_string(), n.transaction_id()?.to_string());
        let openid = n.openid().ok().map(str::to_string);
        let (total, cash, discount) = (
            n.total_fee()?,
            n.cash_fee()?,
            n.coupon_fee()?.unwrap_or(0),
        );
        let (trade_type, bank_type) = (
            n.trade_type().ok().map(str::to_string),
            n.bank_type().ok().map(str::to_string),
        );
        let attach = n.attach().map(str::to_string);
        let paid_at = n.time_end_utc()?;
        let notify_key = format!("v2:pay:{transaction_id}");
        let applied = state
            .run(move |c| {
                ops::paid(
                    c,
                    &scope,
                    &notify_key,
                    "v2",
                    &fields,
                    &Paid {
                        out_trade_no: &out_trade_no,
                        transaction_id: &transaction_id,
                        openid: openid.as_deref(),
                        total_fen: total,
                        payer_fen: cash,
                        discount_fen: discount,
                        trade_type: trade_type.as_deref(),
                        bank_type: bank_type.as_deref(),
                        attach: attach.as_deref(),
                        paid_at,
                        source: "v2",
                    },
                )
            })
            .await?;
        logged(&slug, "v2 payment", &applied)
    }
    .await;
    v2_answer(&slug, "v2 pay notification", r)
}

/// `POST /pay/{slug}/v2/refund`: a v2 refund notification (its content is encrypted
/// with the APIv2 key, which is what authenticates it).
pub async fn v2_refund(
    state: web::Data<AppState>,
    slug: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let r = async {
        too_big(&body)?;
        let (scope, settings) = tenant(&state, &slug).await?;
        let key = v2_key(&settings)?;
        let n = v2::RefundNotification::parse(&body)?;
        same_merchant(&settings, n.mch_id()?)?;
        let info = n.decrypt(&key)?;
        let fields = serde_json::to_string(&info.fields).unwrap_or_default();
        let succeeded_at = info.success_time_utc()?;
        let notify_key = format!("v2:refund:{}:{}", info.refund_id, info.refund_status);
        let applied = state
            .run(move |c| {
                ops::refunded(
                    c,
                    &scope,
                    &notify_key,
                    "v2",
                    &fields,
                    &Refunded {
                        out_trade_no: &info.out_trade_no,
                        out_refund_no: &info.out_refund_no,
                        refund_id: Some(&info.refund_id),
                        amount_fen: info.refund_fee,
                        status: &info.refund_status,
                        succeeded_at,
                        source: "v2",
                    },
                )
            })
            .await?;
        logged(&slug, "v2 refund", &applied)
    }
    .await;
    v2_answer(&slug, "v2 refund notification", r)
}

fn header<'a>(req: &'a HttpRequest, name: &str) -> &'a str {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// An RFC 3339 time (v3's `success_time`) as UTC.
fn rfc3339(s: &Option<String>) -> Result<Option<chrono::NaiveDateTime>, Refused> {
    s.as_deref()
        .filter(|s| !s.is_empty())
        .map(|s| {
            chrono::DateTime::parse_from_rfc3339(s)
                .map(|t| t.naive_utc())
                .map_err(|_| refused(StatusCode::BAD_REQUEST, format!("success_time {s:?}")))
        })
        .transpose()
}

/// `POST /pay/{slug}/v3`: a v3 notification of a payment or a refund.
pub async fn v3_notification(
    req: HttpRequest,
    state: web::Data<AppState>,
    slug: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let r = async {
        too_big(&body)?;
        let (scope, settings) = tenant(&state, &slug).await?;
        let key = settings
            .apiv3_key
            .as_deref()
            .ok_or_else(|| refused(StatusCode::NOT_FOUND, "no APIv3 key for this account: set it on its WeChat Pay page"))
            .and_then(|k| Ok(v3::ApiV3Key::new(k)?))?;
        let keys = ops::platform_keys(&settings.platform_keys)?;
        v3::verify(
            &v3::Headers {
                timestamp: header(&req, v3::HEADER_TIMESTAMP),
                nonce: header(&req, v3::HEADER_NONCE),
                signature: header(&req, v3::HEADER_SIGNATURE),
                serial: header(&req, v3::HEADER_SERIAL),
            },
            &body,
            &keys,
            chrono::Utc::now().timestamp(),
        )?;
        let envelope = v3::Envelope::parse(&body)?;
        let notify_key = format!("v3:{}", envelope.id);
        if envelope.event_type.starts_with("TRANSACTION.") {
            let t = envelope.transaction(&key)?;
            same_merchant(&settings, &t.mchid)?;
            if t.trade_state != "SUCCESS" {
                tracing::info!(tenant = %slug.as_str(), state = %t.trade_state, "v3 notification of an unpaid transaction");
                return Ok(());
            }
            let paid_at = rfc3339(&t.success_time)?.unwrap_or_else(patron_store::now);
            let plain = serde_json::to_string(&t).unwrap_or_default();
            let discount: i64 = t.amount.total - t.amount.payer_total;
            let applied = state
                .run(move |c| {
                    ops::paid(
                        c,
                        &scope,
                        &notify_key,
                        "v3",
                        &plain,
                        &Paid {
                            out_trade_no: &t.out_trade_no,
                            transaction_id: &t.transaction_id,
                            openid: Some(t.payer.openid.as_str()).filter(|o| !o.is_empty()),
                            total_fen: t.amount.total,
                            payer_fen: t.amount.payer_total,
                            discount_fen: discount.max(0),
                            trade_type: Some(t.trade_type.as_str()),
                            bank_type: Some(t.bank_type.as_str()),
                            attach: Some(t.attach.as_str()).filter(|a| !a.is_empty()),
                            paid_at,
                            source: "v3",
                        },
                    )
                })
                .await?;
            logged(&slug, "v3 payment", &applied)
        } else if envelope.event_type.starts_with("REFUND.") {
            let rf = envelope.refund(&key)?;
            same_merchant(&settings, &rf.mchid)?;
            let succeeded_at = rfc3339(&rf.success_time)?;
            let plain = serde_json::to_string(&rf).unwrap_or_default();
            let applied = state
                .run(move |c| {
                    ops::refunded(
                        c,
                        &scope,
                        &notify_key,
                        "v3",
                        &plain,
                        &Refunded {
                            out_trade_no: &rf.out_trade_no,
                            out_refund_no: &rf.out_refund_no,
                            refund_id: Some(rf.refund_id.as_str()),
                            amount_fen: rf.amount.refund,
                            status: &rf.refund_status,
                            succeeded_at,
                            source: "v3",
                        },
                    )
                })
                .await?;
            logged(&slug, "v3 refund", &applied)
        } else {
            tracing::info!(tenant = %slug.as_str(), event = %envelope.event_type, "v3 notification of another kind, acknowledged");
            Ok(())
        }
    }
    .await;
    v3_answer(&slug, r)
}
