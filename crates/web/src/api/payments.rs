//! `/api/v1/pay-settings` and `/api/v1/payments`: the tenant's WeChat Pay merchant
//! account (keys write-only) and its payments with their refunds, through the same
//! operations as the pages (`patron_app::payments`).

use super::{ApiAuth, ApiResult, ErrorBody};
use actix_web::{web, HttpResponse};
use patron_domain::Permission;
use patron_store::payments::{
    self as store, PayInput, PaySettingsView, Payment, PlatformKey, Refund,
};
use serde::{Deserialize, Serialize};

/// The merchant account, as far as it may be shown: which keys are set, never their
/// values; `null` when WeChat Pay is not set up.
#[derive(Serialize, utoipa::ToSchema)]
pub struct PaySettingsJson {
    pub settings: Option<PaySettingsView>,
    /// Where WeChat Pay should send this account's notifications (paths on this server).
    pub notify_paths: NotifyPaths,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct NotifyPaths {
    pub v2: String,
    pub v2_refund: String,
    pub v3: String,
}

fn paths(slug: &str) -> NotifyPaths {
    use patron_app::links::{PAY_V2, PAY_V2_REFUND, PAY_V3};
    NotifyPaths {
        v2: PAY_V2.replace("{tenant}", slug),
        v2_refund: PAY_V2_REFUND.replace("{tenant}", slug),
        v3: PAY_V3.replace("{tenant}", slug),
    }
}

/// The WeChat Pay settings.
#[utoipa::path(get, path = "/pay-settings", operation_id = "getPaySettings", tag = "payments",
    responses((status = 200, description = "The settings (keys never shown)", body = PaySettingsJson)))]
pub async fn settings(auth: ApiAuth) -> ApiResult {
    let scope = auth.require(Permission::ManageSettings)?.clone();
    let sb = auth.state.secrets.clone();
    let s2 = scope.clone();
    let (settings, slug) = auth
        .state
        .db(move |c| {
            let t = patron_store::tenants::get(c, &s2)?;
            Ok((store::settings(c, &s2, &sb)?, t.slug))
        })
        .await?;
    Ok(HttpResponse::Ok().json(PaySettingsJson {
        settings: settings.map(|s| s.view()),
        notify_paths: paths(&slug),
    }))
}

/// A change of the settings; a key left out (or null) is kept.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct PaySettingsBody {
    /// The merchant id (商户号).
    pub mch_id: String,
    /// The APIv2 key (32 characters), for v2 notifications.
    pub apiv2_key: Option<String>,
    /// The APIv3 key (32 bytes), for v3 notifications.
    pub apiv3_key: Option<String>,
    /// Replaces the platform keys that sign v3 notifications: a WeChat Pay public key
    /// (PEM) with its id (`PUB_KEY_ID_…`), or a platform certificate (PEM).
    pub platform_keys: Option<Vec<PlatformKey>>,
    /// The merchant API certificate's serial number, for the daily bill fetch.
    pub merchant_serial: Option<String>,
    /// The merchant API certificate's private key (PEM, PKCS#8 or PKCS#1), which signs
    /// the requests to the bill API; set with `merchant_serial`.
    pub merchant_key: Option<String>,
}

/// Sets the WeChat Pay settings; every problem is answered at once (422).
#[utoipa::path(put, path = "/pay-settings", operation_id = "putPaySettings", tag = "payments",
    request_body = PaySettingsBody,
    responses(
        (status = 200, description = "Saved", body = PaySettingsJson),
        (status = 422, description = "Invalid fields", body = ErrorBody),
    ))]
pub async fn put_settings(auth: ApiAuth, body: web::Json<PaySettingsBody>) -> ApiResult {
    let scope = auth.require(Permission::ManageSettings)?.clone();
    let b = body.into_inner();
    let input = PayInput {
        mch_id: b.mch_id,
        apiv2_key: b.apiv2_key,
        apiv3_key: b.apiv3_key,
        platform_keys: b.platform_keys,
        merchant_serial: b.merchant_serial,
        merchant_key: b.merchant_key,
    };
    let sb = auth.state.secrets.clone();
    let (saved, slug) = auth
        .state
        .run(move |c| {
            let saved = patron_app::payments::save_settings(c, &scope, &sb, &input)?;
            Ok((saved, patron_store::tenants::get(c, &scope)?.slug))
        })
        .await?;
    tracing::info!(tenant = %slug, "pay settings saved through the API");
    Ok(HttpResponse::Ok().json(PaySettingsJson {
        settings: Some(saved.view()),
        notify_paths: paths(&slug),
    }))
}

#[derive(Deserialize, Default, utoipa::IntoParams)]
#[serde(default)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Continue below this payment id (the previous page's `next`).
    pub before: Option<i64>,
    /// At most this many (1 to 200, default 50).
    pub limit: Option<i64>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct PaymentList {
    pub payments: Vec<Payment>,
    /// Pass as `before` for the next page; `null` on the last.
    pub next: Option<i64>,
}

/// The payments, newest first.
#[utoipa::path(get, path = "/payments", operation_id = "listPayments", tag = "payments",
    params(PageQuery),
    responses((status = 200, description = "A page of payments", body = PaymentList)))]
pub async fn list(auth: ApiAuth, q: web::Query<PageQuery>) -> ApiResult {
    let scope = auth.require(Permission::Market)?.clone();
    let limit = q.limit.unwrap_or(50).clamp(1, 200);
    let before = q.before;
    let payments = auth
        .state
        .db(move |c| store::list(c, &scope, before, limit))
        .await?;
    let next = (payments.len() as i64 == limit)
        .then(|| payments.last().map(|p| p.id))
        .flatten();
    Ok(HttpResponse::Ok().json(PaymentList { payments, next }))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct PaymentJson {
    pub payment: Payment,
    pub refunds: Vec<Refund>,
}

/// A payment with its refunds.
#[utoipa::path(get, path = "/payments/{payment_id}", operation_id = "showPayment", tag = "payments",
    params(("payment_id" = i64, Path)),
    responses(
        (status = 200, description = "The payment", body = PaymentJson),
        (status = 404, description = "No such payment", body = ErrorBody),
    ))]
pub async fn show(auth: ApiAuth, id: web::Path<i64>) -> ApiResult {
    let scope = auth.require(Permission::Market)?.clone();
    let id = id.into_inner();
    let (payment, refunds) = auth
        .state
        .db(move |c| {
            let p = store::get(c, &scope, id)?;
            let r = store::refunds_of(c, &scope, id)?;
            Ok((p, r))
        })
        .await?;
    Ok(HttpResponse::Ok().json(PaymentJson { payment, refunds }))
}
