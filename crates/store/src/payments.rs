//! WeChat Pay: a tenant's merchant settings, its payments and refunds, and the
//! notifications applied (each once: WeChat retries until it hears SUCCESS).
//!
//! The functions here are the rows; `patron_app::payments` composes them with the
//! loyalty ledger into the one transaction a notification is applied in.

use crate::schema::{pay_notifications as pn, pay_settings as ps, payments as p, refunds as r};
use crate::secrets::SecretBox;
use crate::{now, DbConn, Result, StoreError};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use patron_domain::TenantScope;
use serde::{Deserialize, Serialize};

const COL_V2: &str = "pay_settings.apiv2_key";
const COL_V3: &str = "pay_settings.apiv3_key";
const COL_MERCHANT: &str = "pay_settings.merchant_key";

/// A platform key that signs v3 notifications: its id (`PUB_KEY_ID_…` or a certificate
/// serial) and its PEM (a public key or a certificate).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PlatformKey {
    pub id: String,
    pub pem: String,
}

/// A tenant's merchant account, keys opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaySettings {
    pub mch_id: String,
    pub apiv2_key: Option<String>,
    pub apiv3_key: Option<String>,
    pub platform_keys: Vec<PlatformKey>,
    /// The merchant's API certificate: its serial number and private key (PEM), which
    /// sign the requests to the bill API (the daily fetch).
    pub merchant_serial: Option<String>,
    pub merchant_key: Option<String>,
    pub updated_at: NaiveDateTime,
}

/// What the settings page and the API may show: which keys are set, never their values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct PaySettingsView {
    pub mch_id: String,
    pub apiv2_key_set: bool,
    pub apiv3_key_set: bool,
    /// The platform keys' ids.
    pub platform_key_ids: Vec<String>,
    /// The merchant API certificate's serial number (its private key is write-only).
    pub merchant_serial: Option<String>,
    pub merchant_key_set: bool,
    pub updated_at: NaiveDateTime,
}

impl PaySettings {
    pub fn view(&self) -> PaySettingsView {
        PaySettingsView {
            mch_id: self.mch_id.clone(),
            apiv2_key_set: self.apiv2_key.is_some(),
            apiv3_key_set: self.apiv3_key.is_some(),
            platform_key_ids: self.platform_keys.iter().map(|k| k.id.clone()).collect(),
            merchant_serial: self.merchant_serial.clone(),
            merchant_key_set: self.merchant_key.is_some(),
            updated_at: self.updated_at,
        }
    }
}

/// The tenant's pay settings, keys decrypted (`None`: not set up).
pub fn settings(
    conn: &mut DbConn,
    scope: &TenantScope,
    sb: &SecretBox,
) -> Result<Option<PaySettings>> {
    type Row = (
        String,
        Option<String>,
        Option<String>,
        String,
        NaiveDateTime,
        Option<String>,
        Option<String>,
    );
    let row: Option<Row> = ps::table
        .filter(ps::tenant_id.eq(scope.tenant_id().0))
        .select((
            ps::mch_id,
            ps::apiv2_key_enc,
            ps::apiv3_key_enc,
            ps::platform_keys,
            ps::updated_at,
            ps::merchant_serial,
            ps::merchant_key_enc,
        ))
        .first(conn)
        .optional()?;
    let Some((mch_id, v2, v3, keys, updated_at, merchant_serial, merchant)) = row else {
        return Ok(None);
    };
    let open = |col: &str, v: Option<String>| v.map(|s| sb.decrypt(col, &s)).transpose();
    Ok(Some(PaySettings {
        mch_id,
        apiv2_key: open(COL_V2, v2)?,
        apiv3_key: open(COL_V3, v3)?,
        platform_keys: serde_json::from_str(&keys)
            .map_err(|e| StoreError::Config(format!("pay_settings.platform_keys: {e}")))?,
        merchant_serial,
        merchant_key: open(COL_MERCHANT, merchant)?,
        updated_at,
    }))
}

/// The tenants that can fetch their trade bills (the merchant certificate's key set).
pub fn tenants_with_merchant_key(conn: &mut DbConn) -> Result<Vec<patron_domain::TenantId>> {
    Ok(ps::table
        .filter(ps::merchant_key_enc.is_not_null())
        .filter(ps::merchant_serial.is_not_null())
        .order(ps::tenant_id)
        .select(ps::tenant_id)
        .load::<i64>(conn)?
        .into_iter()
        .map(patron_domain::TenantId)
        .collect())
}

/// A change of the pay settings: `None` keeps what is stored (keys are write-only: the
/// forms and the API never show them, so leaving a field empty must not erase it).
#[derive(Debug, Clone, Default)]
pub struct PayInput {
    pub mch_id: String,
    pub apiv2_key: Option<String>,
    pub apiv3_key: Option<String>,
    /// Replaces the platform keys (`None`: keep them).
    pub platform_keys: Option<Vec<PlatformKey>>,
    /// The merchant API certificate's serial and private key (`None`: keep them).
    pub merchant_serial: Option<String>,
    pub merchant_key: Option<String>,
}

/// Saves the settings (checked by the caller: `patron_app::payments::check_settings`).
pub fn put_settings(
    conn: &mut DbConn,
    scope: &TenantScope,
    sb: &SecretBox,
    i: &PayInput,
) -> Result<PaySettings> {
    let tenant = scope.tenant_id().0;
    crate::write_tx(conn, |c| {
        let before = settings(c, scope, sb)?;
        let seal = |col: &str, new: &Option<String>, old: Option<&String>| {
            new.as_ref().or(old).map(|k| sb.encrypt(col, k))
        };
        let keys = i
            .platform_keys
            .clone()
            .or_else(|| before.as_ref().map(|b| b.platform_keys.clone()))
            .unwrap_or_default();
        let keys = serde_json::to_string(&keys).expect("keys serialize");
        let v2 = seal(
            COL_V2,
            &i.apiv2_key,
            before.as_ref().and_then(|b| b.apiv2_key.as_ref()),
        );
        let v3 = seal(
            COL_V3,
            &i.apiv3_key,
            before.as_ref().and_then(|b| b.apiv3_key.as_ref()),
        );
        let merchant = seal(
            COL_MERCHANT,
            &i.merchant_key,
            before.as_ref().and_then(|b| b.merchant_key.as_ref()),
        );
        let serial = i
            .merchant_serial
            .as_ref()
            .map(|s| s.trim().to_string())
            .or_else(|| before.as_ref().and_then(|b| b.merchant_serial.clone()));
        let at = now();
        if before.is_some() {
            diesel::update(ps::table.filter(ps::tenant_id.eq(tenant)))
                .set((
                    ps::mch_id.eq(i.mch_id.trim()),
                    ps::apiv2_key_enc.eq(v2),
                    ps::apiv3_key_enc.eq(v3),
                    ps::platform_keys.eq(keys),
                    ps::merchant_serial.eq(serial),
                    ps::merchant_key_enc.eq(merchant),
                    ps::updated_at.eq(at),
                ))
                .execute(c)?;
        } else {
            diesel::insert_into(ps::table)
                .values((
                    ps::tenant_id.eq(tenant),
                    ps::mch_id.eq(i.mch_id.trim()),
                    ps::apiv2_key_enc.eq(v2),
                    ps::apiv3_key_enc.eq(v3),
                    ps::platform_keys.eq(keys),
                    ps::merchant_serial.eq(serial),
                    ps::merchant_key_enc.eq(merchant),
                    ps::updated_at.eq(at),
                ))
                .execute(c)?;
        }
        settings(c, scope, sb)?.ok_or(StoreError::NotFound)
    })
}

/// Payment states.
pub mod state {
    /// An order the till (or the API) recorded, waiting for its payment.
    pub const EXPECTED: &str = "expected";
    pub const PAID: &str = "paid";
    pub const PARTLY_REFUNDED: &str = "partly_refunded";
    pub const REFUNDED: &str = "refunded";
}

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Serialize, utoipa::ToSchema)]
#[diesel(table_name = p)]
pub struct Payment {
    pub id: i64,
    pub tenant_id: i64,
    pub out_trade_no: String,
    pub transaction_id: Option<String>,
    pub openid: Option<String>,
    pub follower_id: Option<i64>,
    /// The order's amount (fen).
    pub total_fen: i64,
    /// What the payer paid (fen).
    pub payer_fen: i64,
    /// WeChat-side discounts (fen).
    pub discount_fen: i64,
    pub refunded_fen: i64,
    /// expected, paid, partly_refunded, refunded
    pub state: String,
    pub trade_type: Option<String>,
    pub bank_type: Option<String>,
    pub attach: Option<String>,
    /// The coupon redeemed at the till with this order reference.
    pub coupon_id: Option<i64>,
    pub paid_at: Option<NaiveDateTime>,
    /// v2, v3, till, bill
    pub source: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Serialize, utoipa::ToSchema)]
#[diesel(table_name = r)]
pub struct Refund {
    pub id: i64,
    pub tenant_id: i64,
    pub payment_id: i64,
    pub out_refund_no: String,
    pub refund_id: Option<String>,
    pub amount_fen: i64,
    /// SUCCESS, CHANGE, REFUNDCLOSE, CLOSED, ABNORMAL, PROCESSING
    pub status: String,
    pub succeeded_at: Option<NaiveDateTime>,
    pub source: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// Records a notification by its key; false when it was applied before (a retry).
pub fn note_notification(
    conn: &mut DbConn,
    scope: &TenantScope,
    key: &str,
    kind: &str,
    version: &str,
    body: &str,
) -> Result<bool> {
    let row = (
        pn::tenant_id.eq(scope.tenant_id().0),
        pn::notify_key.eq(key),
        pn::kind.eq(kind),
        pn::version.eq(version),
        pn::body.eq(body),
        pn::received_at.eq(now()),
    );
    let n = match conn {
        DbConn::Postgres(pg) => diesel::insert_into(pn::table)
            .values(row)
            .on_conflict_do_nothing()
            .execute(pg)?,
        DbConn::Sqlite(lite) => diesel::insert_into(pn::table)
            .values(row)
            .on_conflict_do_nothing()
            .execute(lite)?,
    };
    Ok(n == 1)
}

/// A payment by its order reference.
pub fn by_order(
    conn: &mut DbConn,
    scope: &TenantScope,
    out_trade_no: &str,
) -> Result<Option<Payment>> {
    Ok(p::table
        .filter(p::tenant_id.eq(scope.tenant_id().0))
        .filter(p::out_trade_no.eq(out_trade_no))
        .select(Payment::as_select())
        .first(conn)
        .optional()?)
}

pub fn get(conn: &mut DbConn, scope: &TenantScope, id: i64) -> Result<Payment> {
    Ok(p::table
        .filter(p::tenant_id.eq(scope.tenant_id().0))
        .filter(p::id.eq(id))
        .select(Payment::as_select())
        .first(conn)?)
}

/// A payment WeChat reports (a verified notification, or a bill line accepted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paid<'a> {
    pub out_trade_no: &'a str,
    pub transaction_id: &'a str,
    pub openid: Option<&'a str>,
    pub total_fen: i64,
    pub payer_fen: i64,
    pub discount_fen: i64,
    pub trade_type: Option<&'a str>,
    pub bank_type: Option<&'a str>,
    pub attach: Option<&'a str>,
    pub paid_at: NaiveDateTime,
    pub source: &'a str,
}

/// Why a reported payment was not applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotApplied {
    /// The order we expected has another amount: a forged or mistaken notification
    /// (WeChat's own advice: check the amount against the merchant's order).
    AmountDiffers { expected_fen: i64 },
    /// The order is known under another WeChat transaction.
    OtherTransaction,
}

/// Records the payment as paid: a new row, or the expected order filled in (its amount
/// must match). The follower is found by OpenID, the coupon redeemed with this order
/// reference is linked. Must run inside the caller's write transaction.
pub fn apply_paid(
    conn: &mut DbConn,
    scope: &TenantScope,
    x: &Paid<'_>,
) -> Result<std::result::Result<Payment, NotApplied>> {
    use crate::schema::{coupons as cp, followers as f};
    let tenant = scope.tenant_id().0;
    let follower: Option<i64> = match x.openid {
        Some(o) => f::table
            .filter(f::tenant_id.eq(tenant))
            .filter(f::openid.eq(o))
            .select(f::id)
            .first(conn)
            .optional()?,
        None => None,
    };
    let coupon: Option<i64> = cp::table
        .filter(cp::tenant_id.eq(tenant))
        .filter(cp::order_ref.eq(x.out_trade_no))
        .select(cp::id)
        .first(conn)
        .optional()?;
    let at = now();
    match by_order(conn, scope, x.out_trade_no)? {
        Some(known) => {
            if known
                .transaction_id
                .as_deref()
                .is_some_and(|t| t != x.transaction_id)
            {
                return Ok(Err(NotApplied::OtherTransaction));
            }
            if known.state == state::EXPECTED && known.total_fen != x.total_fen {
                return Ok(Err(NotApplied::AmountDiffers {
                    expected_fen: known.total_fen,
                }));
            }
            if known.state != state::EXPECTED {
                // Known and paid already (another channel told us first).
                return Ok(Ok(known));
            }
            diesel::update(p::table.find(known.id))
                .set((
                    p::transaction_id.eq(Some(x.transaction_id)),
                    p::openid.eq(x.openid),
                    p::follower_id.eq(follower.or(known.follower_id)),
                    p::payer_fen.eq(x.payer_fen),
                    p::discount_fen.eq(x.discount_fen),
                    p::state.eq(state::PAID),
                    p::trade_type.eq(x.trade_type),
                    p::bank_type.eq(x.bank_type),
                    p::attach.eq(x.attach),
                    p::coupon_id.eq(coupon.or(known.coupon_id)),
                    p::paid_at.eq(Some(x.paid_at)),
                    p::updated_at.eq(at),
                ))
                .execute(conn)?;
            Ok(Ok(get(conn, scope, known.id)?))
        }
        None => {
            let id: i64 = diesel::insert_into(p::table)
                .values((
                    p::tenant_id.eq(tenant),
                    p::out_trade_no.eq(x.out_trade_no),
                    p::transaction_id.eq(Some(x.transaction_id)),
                    p::openid.eq(x.openid),
                    p::follower_id.eq(follower),
                    p::total_fen.eq(x.total_fen),
                    p::payer_fen.eq(x.payer_fen),
                    p::discount_fen.eq(x.discount_fen),
                    p::refunded_fen.eq(0i64),
                    p::state.eq(state::PAID),
                    p::trade_type.eq(x.trade_type),
                    p::bank_type.eq(x.bank_type),
                    p::attach.eq(x.attach),
                    p::coupon_id.eq(coupon),
                    p::paid_at.eq(Some(x.paid_at)),
                    p::source.eq(x.source),
                    p::created_at.eq(at),
                    p::updated_at.eq(at),
                ))
                .returning(p::id)
                .get_result(conn)?;
            Ok(Ok(get(conn, scope, id)?))
        }
    }
}

/// An order the till (or the API) expects to be paid: its reference and amount, so
/// that the notification's amount is checked against it and the redemption is linked.
/// An order already known keeps what it has.
pub fn expect(
    conn: &mut DbConn,
    scope: &TenantScope,
    out_trade_no: &str,
    total_fen: i64,
    coupon_id: Option<i64>,
    follower_id: Option<i64>,
) -> Result<Payment> {
    if let Some(known) = by_order(conn, scope, out_trade_no)? {
        if known.coupon_id.is_none() && coupon_id.is_some() {
            diesel::update(p::table.find(known.id))
                .set(p::coupon_id.eq(coupon_id))
                .execute(conn)?;
        }
        return get(conn, scope, known.id);
    }
    let at = now();
    let id: i64 = diesel::insert_into(p::table)
        .values((
            p::tenant_id.eq(scope.tenant_id().0),
            p::out_trade_no.eq(out_trade_no),
            p::follower_id.eq(follower_id),
            p::total_fen.eq(total_fen),
            p::payer_fen.eq(0i64),
            p::discount_fen.eq(0i64),
            p::refunded_fen.eq(0i64),
            p::state.eq(state::EXPECTED),
            p::coupon_id.eq(coupon_id),
            p::source.eq("till"),
            p::created_at.eq(at),
            p::updated_at.eq(at),
        ))
        .returning(p::id)
        .get_result(conn)?;
    get(conn, scope, id)
}

/// A refund WeChat reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refunded<'a> {
    pub out_trade_no: &'a str,
    pub out_refund_no: &'a str,
    pub refund_id: Option<&'a str>,
    pub amount_fen: i64,
    /// SUCCESS, CHANGE / ABNORMAL, REFUNDCLOSE / CLOSED, PROCESSING
    pub status: &'a str,
    pub succeeded_at: Option<NaiveDateTime>,
    pub source: &'a str,
}

/// What applying a refund did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundApplied {
    pub payment: Payment,
    pub refund: Refund,
    /// It became successful now (the points are reversed once, then).
    pub newly_succeeded: bool,
}

/// Records the refund (or its new status) against its payment and keeps the payment's
/// refunded total and state. `None` when the payment is unknown here. Must run inside
/// the caller's write transaction.
pub fn apply_refund(
    conn: &mut DbConn,
    scope: &TenantScope,
    x: &Refunded<'_>,
) -> Result<Option<RefundApplied>> {
    let tenant = scope.tenant_id().0;
    let Some(pay) = by_order(conn, scope, x.out_trade_no)? else {
        return Ok(None);
    };
    let at = now();
    let known: Option<Refund> = r::table
        .filter(r::tenant_id.eq(tenant))
        .filter(r::out_refund_no.eq(x.out_refund_no))
        .select(Refund::as_select())
        .first(conn)
        .optional()?;
    let succeeded = x.status == "SUCCESS";
    let (refund_id, was_success) = match known {
        Some(k) => {
            diesel::update(r::table.find(k.id))
                .set((
                    r::refund_id.eq(x.refund_id.map(str::to_string).or(k.refund_id.clone())),
                    r::status.eq(x.status),
                    r::succeeded_at.eq(x.succeeded_at.or(k.succeeded_at)),
                    r::updated_at.eq(at),
                ))
                .execute(conn)?;
            (k.id, k.status == "SUCCESS")
        }
        None => {
            let id: i64 = diesel::insert_into(r::table)
                .values((
                    r::tenant_id.eq(tenant),
                    r::payment_id.eq(pay.id),
                    r::out_refund_no.eq(x.out_refund_no),
                    r::refund_id.eq(x.refund_id),
                    r::amount_fen.eq(x.amount_fen),
                    r::status.eq(x.status),
                    r::succeeded_at.eq(x.succeeded_at),
                    r::source.eq(x.source),
                    r::created_at.eq(at),
                    r::updated_at.eq(at),
                ))
                .returning(r::id)
                .get_result(conn)?;
            (id, false)
        }
    };
    let newly_succeeded = succeeded && !was_success;
    if newly_succeeded {
        let refunded = pay.refunded_fen + x.amount_fen;
        let st = if refunded >= pay.total_fen {
            state::REFUNDED
        } else {
            state::PARTLY_REFUNDED
        };
        diesel::update(p::table.find(pay.id))
            .set((
                p::refunded_fen.eq(refunded),
                p::state.eq(st),
                p::updated_at.eq(at),
            ))
            .execute(conn)?;
    }
    Ok(Some(RefundApplied {
        payment: get(conn, scope, pay.id)?,
        refund: r::table
            .find(refund_id)
            .select(Refund::as_select())
            .first(conn)?,
        newly_succeeded,
    }))
}

/// A page of the tenant's payments, newest first (`before`: an id to continue below).
pub fn list(
    conn: &mut DbConn,
    scope: &TenantScope,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<Payment>> {
    let mut q = p::table
        .filter(p::tenant_id.eq(scope.tenant_id().0))
        .into_boxed();
    if let Some(b) = before {
        q = q.filter(p::id.lt(b));
    }
    Ok(q.order(p::id.desc())
        .limit(limit)
        .select(Payment::as_select())
        .load(conn)?)
}

/// The refunds of a payment, oldest first.
pub fn refunds_of(conn: &mut DbConn, scope: &TenantScope, payment: i64) -> Result<Vec<Refund>> {
    Ok(r::table
        .filter(r::tenant_id.eq(scope.tenant_id().0))
        .filter(r::payment_id.eq(payment))
        .order(r::id.asc())
        .select(Refund::as_select())
        .load(conn)?)
}

/// A follower's payments, newest first (their timeline).
pub fn of_follower(conn: &mut DbConn, scope: &TenantScope, follower: i64) -> Result<Vec<Payment>> {
    Ok(p::table
        .filter(p::tenant_id.eq(scope.tenant_id().0))
        .filter(p::follower_id.eq(follower))
        .order(p::id.desc())
        .limit(200)
        .select(Payment::as_select())
        .load(conn)?)
}

/// The refunds of a follower's payments, with the payment's order reference, newest
/// first (the follower's timeline).
pub fn refunds_of_follower(
    conn: &mut DbConn,
    scope: &TenantScope,
    follower: i64,
) -> Result<Vec<(Refund, String)>> {
    Ok(r::table
        .inner_join(p::table)
        .filter(r::tenant_id.eq(scope.tenant_id().0))
        .filter(p::follower_id.eq(follower))
        .order(r::id.desc())
        .limit(200)
        .select((Refund::as_select(), p::out_trade_no))
        .load(conn)?)
}
