//! `/api/v1/stores`.

use super::{ApiAuth, ApiResult, ErrorBody};
use actix_web::{web, HttpResponse};
use patron_domain::{Permission, StoreId};
use patron_store::stores::{self, Store};
use serde::{Deserialize, Serialize};

#[derive(Deserialize, utoipa::ToSchema)]
pub struct StoreBody {
    pub name: String,
    #[serde(default)]
    pub address: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct StoreList {
    pub stores: Vec<Store>,
}

/// The tenant's stores.
#[utoipa::path(get, path = "/stores", operation_id = "listStores", tag = "stores",
    responses((status = 200, description = "The stores", body = StoreList)))]
pub async fn list(auth: ApiAuth) -> ApiResult {
    let scope = auth.require(Permission::View)?.clone();
    let stores = auth.state.db(move |c| stores::list(c, &scope)).await?;
    Ok(HttpResponse::Ok().json(StoreList { stores }))
}

/// One store.
#[utoipa::path(get, path = "/stores/{store_id}", operation_id = "getStore", tag = "stores",
    params(("store_id" = i64, Path)),
    responses(
        (status = 200, description = "The store", body = Store),
        (status = 404, description = "No such store in this tenant (`not_found`)", body = ErrorBody),
    ))]
pub async fn show(auth: ApiAuth, id: web::Path<i64>) -> ApiResult {
    let scope = auth.require(Permission::View)?.clone();
    let id = StoreId(id.into_inner());
    let s = auth.state.db(move |c| stores::get(c, &scope, id)).await?;
    Ok(HttpResponse::Ok().json(s))
}

/// Creates a store.
#[utoipa::path(post, path = "/stores", operation_id = "createStore", tag = "stores",
    request_body = StoreBody,
    responses(
        (status = 201, description = "The new store", body = Store),
        (status = 409, description = "A store with this name exists (`conflict`)", body = ErrorBody),
    ))]
pub async fn create(auth: ApiAuth, body: web::Json<StoreBody>) -> ApiResult {
    let scope = auth.require(Permission::ManageSettings)?.clone();
    let b = body.into_inner();
    let s = auth
        .state
        .db(move |c| stores::create(c, &scope, &b.name, &b.address))
        .await?;
    Ok(HttpResponse::Created().json(s))
}

/// Renames or moves a store.
#[utoipa::path(put, path = "/stores/{store_id}", operation_id = "putStore", tag = "stores",
    params(("store_id" = i64, Path)),
    request_body = StoreBody,
    responses(
        (status = 200, description = "The updated store", body = Store),
        (status = 404, description = "No such store in this tenant", body = ErrorBody),
        (status = 409, description = "Name taken", body = ErrorBody),
    ))]
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
