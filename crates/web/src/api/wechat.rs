//! `/api/v1/qr-codes`, `/api/v1/menu`, `/api/v1/tags/sync` and messages to a follower:
//! what the API does through WeChat's.

use super::coupons::JobAccepted;
use super::{ApiAuth, ApiError, ApiResult, ErrorBody};
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use patron_app::wechat::{create_qr_code, MenuSaved, NewCode, NotCreated};
use patron_domain::replies::Content;
use patron_domain::{validate, Permission};
use patron_store::qr_codes::QrCode;
use patron_store::{menus, qr_codes, tenants};
use patron_wechat::api::menu::Menu;
use serde::{Deserialize, Serialize};

#[derive(Serialize, utoipa::ToSchema)]
pub struct QrList {
    pub qr_codes: Vec<QrCode>,
}

/// The custom menu as last saved, and whether WeChat has it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct MenuJson {
    /// WeChat's menu JSON; null when none was saved.
    pub menu: Option<Menu>,
    pub published_at: Option<chrono::NaiveDateTime>,
    /// What WeChat said when the last publish failed.
    pub publish_error: Option<String>,
    pub updated_at: Option<chrono::NaiveDateTime>,
}

fn not_configured() -> ApiError {
    ApiError::invalid(vec![validate::invalid(
        "wx_app_secret",
        "api_not_configured",
    )])
}

/// The parametric QR codes.
#[utoipa::path(get, path = "/qr-codes", operation_id = "listQrCodes", tag = "wechat",
    responses((status = 200, description = "The codes", body = QrList)))]
pub async fn qr_list(auth: ApiAuth) -> ApiResult {
    let scope = auth.require(Permission::Market)?.clone();
    let qr_codes = auth.state.db(move |c| qr_codes::list(c, &scope)).await?;
    Ok(HttpResponse::Ok().json(QrList { qr_codes }))
}

/// Makes a parametric QR code through WeChat (a scene each flyer, table or store).
#[utoipa::path(post, path = "/qr-codes", operation_id = "createQrCode", tag = "wechat",
    request_body = NewCode,
    responses(
        (status = 201, description = "The code", body = QrCode),
        (status = 502, description = "WeChat refused (`wechat`)", body = ErrorBody),
    ))]
pub async fn qr_create(auth: ApiAuth, body: web::Json<NewCode>) -> ApiResult {
    let scope = auth.require(Permission::Market)?.clone();
    let s2 = scope.clone();
    let tenant = auth.state.db(move |c| tenants::get(c, &s2)).await?;
    let st = &auth.state;
    match create_qr_code(&st.pool, &st.secrets, &scope, &tenant, body.into_inner()).await {
        Ok(code) => Ok(HttpResponse::Created().json(code)),
        Err(NotCreated::Invalid(i)) => Err(ApiError::invalid(vec![i])),
        Err(NotCreated::WeChat(e)) => Err(ApiError::new(
            StatusCode::BAD_GATEWAY,
            "wechat",
            crate::format::wechat_failure(auth.lang, &e),
        )),
        Err(NotCreated::Failed(e)) => {
            tracing::error!(error = %e, "QR code not created");
            Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "internal error; see the server log for the request id",
            ))
        }
    }
}

/// One QR code.
#[utoipa::path(get, path = "/qr-codes/{qr_id}", operation_id = "getQrCode", tag = "wechat",
    params(("qr_id" = i64, Path)),
    responses(
        (status = 200, description = "The code", body = QrCode),
        (status = 404, description = "No such code", body = ErrorBody),
    ))]
pub async fn qr_show(auth: ApiAuth, id: web::Path<i64>) -> ApiResult {
    let scope = auth.require(Permission::Market)?.clone();
    let id = id.into_inner();
    let code = auth.state.db(move |c| qr_codes::get(c, &scope, id)).await?;
    Ok(HttpResponse::Ok().json(code))
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(default)]
pub struct QrUpdate {
    /// The tag a scan puts on the follower; null for none.
    pub tag_id: Option<i64>,
}

/// Sets the tag a scan puts on the follower.
#[utoipa::path(put, path = "/qr-codes/{qr_id}", operation_id = "putQrCode", tag = "wechat",
    params(("qr_id" = i64, Path)),
    request_body = QrUpdate,
    responses(
        (status = 200, description = "The code", body = QrCode),
        (status = 404, description = "No such code or tag", body = ErrorBody),
    ))]
pub async fn qr_update(auth: ApiAuth, id: web::Path<i64>, body: web::Json<QrUpdate>) -> ApiResult {
    let scope = auth.require(Permission::Market)?.clone();
    let (id, tag) = (id.into_inner(), body.tag_id);
    let code = auth
        .state
        .db(move |c| qr_codes::set_tag(c, &scope, id, tag))
        .await?;
    Ok(HttpResponse::Ok().json(code))
}

/// The custom menu.
#[utoipa::path(get, path = "/menu", operation_id = "getMenu", tag = "wechat",
    responses((status = 200, description = "The menu", body = MenuJson)))]
pub async fn menu_show(auth: ApiAuth) -> ApiResult {
    let scope = auth.require(Permission::Market)?.clone();
    let row = auth.state.db(move |c| menus::get(c, &scope)).await?;
    Ok(HttpResponse::Ok().json(match row {
        Some(r) => MenuJson {
            menu: serde_json::from_str(&r.body).ok(),
            published_at: r.published_at,
            publish_error: r.publish_error,
            updated_at: Some(r.updated_at),
        },
        None => MenuJson {
            menu: None,
            published_at: None,
            publish_error: None,
            updated_at: None,
        },
    }))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct MenuBody {
    /// WeChat's menu JSON (`{"button": [...]}`).
    pub menu: Menu,
    /// Also send it to WeChat.
    #[serde(default)]
    pub publish: bool,
}

/// Saves the custom menu, and publishes it to WeChat if asked.
#[utoipa::path(put, path = "/menu", operation_id = "putMenu", tag = "wechat",
    request_body = MenuBody,
    responses(
        (status = 200, description = "The menu as saved", body = MenuJson),
        (status = 502, description = "WeChat refused the menu (`wechat`); it is saved, not published", body = ErrorBody),
    ))]
pub async fn menu_put(auth: ApiAuth, body: web::Json<MenuBody>) -> ApiResult {
    let scope = auth.require(Permission::Market)?.clone();
    let b = body.into_inner();
    b.menu
        .validate()
        .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", e.to_string()))?;
    let s2 = scope.clone();
    let tenant = auth.state.db(move |c| tenants::get(c, &s2)).await?;
    let st = &auth.state;
    let saved =
        patron_app::wechat::save_menu(&st.pool, &st.secrets, &scope, &tenant, &b.menu, b.publish)
            .await?;
    match saved {
        MenuSaved::Saved | MenuSaved::Published => {}
        MenuSaved::NotConfigured => return Err(not_configured()),
        MenuSaved::Refused(e) => {
            return Err(ApiError::new(
                StatusCode::BAD_GATEWAY,
                "wechat",
                crate::format::wechat_failure(auth.lang, &e),
            ))
        }
    }
    menu_show(auth).await
}

/// Queues a two-way sync of the tags with WeChat.
#[utoipa::path(post, path = "/tags/sync", operation_id = "syncTags", tag = "wechat",
    responses((status = 202, description = "Queued", body = JobAccepted)))]
pub async fn tags_sync(auth: ApiAuth) -> ApiResult {
    let scope = auth.require(Permission::Market)?.clone();
    let job = auth
        .state
        .db(move |c| patron_app::jobs::sync_tags(c, &scope))
        .await?;
    Ok(HttpResponse::Accepted().json(JobAccepted { job_id: job.0 }))
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(default)]
pub struct SendBody {
    /// Customer-service messages (text, image, news with one article).
    #[schema(max_items = 5)]
    pub messages: Vec<Content>,
}

/// Queues customer-service messages to a follower; they reach the timeline once sent.
#[utoipa::path(post, path = "/followers/{follower_id}/messages", operation_id = "sendMessages", tag = "wechat",
    params(("follower_id" = i64, Path)),
    request_body = SendBody,
    responses(
        (status = 202, description = "Queued", body = JobAccepted),
        (status = 404, description = "No such follower", body = ErrorBody),
    ))]
pub async fn send(auth: ApiAuth, id: web::Path<i64>, body: web::Json<SendBody>) -> ApiResult {
    let scope = auth.require(Permission::Market)?.clone();
    let id = id.into_inner();
    let messages = body.into_inner().messages;
    let job = auth
        .state
        .run(move |c| patron_app::followers::send_messages(c, &scope, id, messages))
        .await?;
    Ok(HttpResponse::Accepted().json(JobAccepted { job_id: job.0 }))
}
