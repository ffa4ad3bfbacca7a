//! `/api/v1/qr-codes`, `/api/v1/menu`, `/api/v1/tags/sync` and messages to a follower:
//! what the API does through WeChat's.

use super::{ApiAuth, ApiError, ApiResult};
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use patron_app::wechat::{create_qr_code, NewCode, NotCreated};
use patron_domain::replies::Content;
use patron_domain::{validate, Permission};
use patron_store::{jobs, menus, qr_codes, tenants};
use patron_wechat::api::menu::Menu;
use serde::Deserialize;

fn not_configured() -> ApiError {
    ApiError::invalid(vec![validate::invalid(
        "wx_app_secret",
        "api_not_configured",
    )])
}

pub async fn qr_list(auth: ApiAuth) -> ApiResult {
    let scope = auth.require(Permission::Market)?.clone();
    let codes = auth.state.db(move |c| qr_codes::list(c, &scope)).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "qr_codes": codes })))
}

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
            format!("WeChat refused: {e}"),
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

pub async fn qr_show(auth: ApiAuth, id: web::Path<i64>) -> ApiResult {
    let scope = auth.require(Permission::Market)?.clone();
    let id = id.into_inner();
    let code = auth.state.db(move |c| qr_codes::get(c, &scope, id)).await?;
    Ok(HttpResponse::Ok().json(code))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct QrUpdate {
    /// The tag a scan puts on the follower; null for none.
    pub tag_id: Option<i64>,
}

pub async fn qr_update(auth: ApiAuth, id: web::Path<i64>, body: web::Json<QrUpdate>) -> ApiResult {
    let scope = auth.require(Permission::Market)?.clone();
    let (id, tag) = (id.into_inner(), body.tag_id);
    let code = auth
        .state
        .db(move |c| qr_codes::set_tag(c, &scope, id, tag))
        .await?;
    Ok(HttpResponse::Ok().json(code))
}

pub async fn menu_show(auth: ApiAuth) -> ApiResult {
    let scope = auth.require(Permission::Market)?.clone();
    let row = auth.state.db(move |c| menus::get(c, &scope)).await?;
    Ok(HttpResponse::Ok().json(match row {
        Some(r) => serde_json::json!({
            "menu": serde_json::from_str::<serde_json::Value>(&r.body).unwrap_or_default(),
            "published_at": r.published_at,
            "publish_error": r.publish_error,
            "updated_at": r.updated_at,
        }),
        None => serde_json::json!({ "menu": null }),
    }))
}

#[derive(Deserialize)]
pub struct MenuBody {
    /// WeChat's menu JSON (`{"button": [...]}`).
    pub menu: Menu,
    /// Also send it to WeChat.
    #[serde(default)]
    pub publish: bool,
}

pub async fn menu_put(auth: ApiAuth, body: web::Json<MenuBody>) -> ApiResult {
    let scope = auth.require(Permission::Market)?.clone();
    let b = body.into_inner();
    b.menu
        .validate()
        .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", e.to_string()))?;
    let json = serde_json::to_string(&b.menu).unwrap_or_default();
    let s2 = scope.clone();
    let tenant = auth
        .state
        .db(move |c| {
            menus::save(c, &s2, &json)?;
            tenants::get(c, &s2)
        })
        .await?;
    if b.publish {
        let client = patron_app::wechat::tenant_client_if_set(&auth.state.secrets, &tenant)
            .map_err(|e| {
                tracing::error!(error = %e, "OA API client");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "internal error",
                )
            })?
            .ok_or_else(not_configured)?;
        let outcome = client.create_menu(&b.menu).await.map_err(|e| e.to_string());
        let failed = outcome.clone().err();
        let s2 = scope.clone();
        auth.state
            .db(move |c| menus::published(c, &s2, outcome))
            .await?;
        if let Some(e) = failed {
            return Err(ApiError::new(
                StatusCode::BAD_GATEWAY,
                "wechat",
                format!("WeChat refused the menu: {e}"),
            ));
        }
    }
    menu_show(auth).await
}

pub async fn tags_sync(auth: ApiAuth) -> ApiResult {
    let scope = auth.require(Permission::Market)?.clone();
    let job = auth
        .state
        .db(move |c| jobs::enqueue_once(c, &scope, jobs::kinds::TAG_SYNC))
        .await?;
    Ok(HttpResponse::Accepted().json(serde_json::json!({ "job_id": job.0 })))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct SendBody {
    /// Customer-service messages (text, image, news with one article).
    pub messages: Vec<Content>,
}

/// Queues customer-service messages to a follower; they reach the timeline once sent.
pub async fn send(auth: ApiAuth, id: web::Path<i64>, body: web::Json<SendBody>) -> ApiResult {
    let scope = auth.require(Permission::Market)?.clone();
    let id = id.into_inner();
    let messages = body.into_inner().messages;
    let job = auth
        .state
        .db(move |c| {
            let f = patron_store::followers::get(c, &scope, id)?;
            patron_domain::replies::encode(&messages)?;
            let payload = serde_json::json!({
                "tenant_id": scope.tenant_id().0, "openid": f.openid, "messages": messages,
            });
            jobs::enqueue(
                c,
                Some(&scope),
                jobs::kinds::CS_SEND,
                &payload.to_string(),
                5,
            )
        })
        .await?;
    Ok(HttpResponse::Accepted().json(serde_json::json!({ "job_id": job.0 })))
}
