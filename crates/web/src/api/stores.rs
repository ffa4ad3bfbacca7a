//! `/api/v1/stores`.

use super::{ApiAuth, ApiResult};
use actix_web::{web, HttpResponse};
use patron_domain::{Permission, StoreId};
use patron_store::stores;
use serde::Deserialize;

#[derive(Deserialize)]
pub struct StoreBody {
    pub name: String,
    #[serde(default)]
    pub address: String,
}

pub async fn list(auth: ApiAuth) -> ApiResult {
    let scope = auth.require(Permission::View)?.clone();
    let list = auth.state.db(move |c| stores::list(c, &scope)).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "stores": list })))
}

pub async fn show(auth: ApiAuth, id: web::Path<i64>) -> ApiResult {
    let scope = auth.require(Permission::View)?.clone();
    let id = StoreId(id.into_inner());
    let s = auth.state.db(move |c| stores::get(c, &scope, id)).await?;
    Ok(HttpResponse::Ok().json(s))
}

pub async fn create(auth: ApiAuth, body: web::Json<StoreBody>) -> ApiResult {
    let scope = auth.require(Permission::ManageSettings)?.clone();
    let b = body.into_inner();
    let s = auth
        .state
        .db(move |c| stores::create(c, &scope, &b.name, &b.address))
        .await?;
    Ok(HttpResponse::Created().json(s))
}

pub async fn update(auth: ApiAuth, id: web::Path<i64>, body: web::Json<StoreBody>) -> ApiResult {
    let scope = auth.require(Permission::ManageSettings)?.clone();
    let id = StoreId(id.into_inner());
    let b = body.into_inner();
    let s = auth
        .state
        .db(move |c| stores::update(c, &scope, id, &b.name, &b.address))
        .await?;
    Ok(HttpResponse::Ok().json(s))
}
