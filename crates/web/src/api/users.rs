//! `/api/v1/users` and `/api/v1/invitations`.

use super::{ApiAuth, ApiResult};
use actix_web::{web, HttpResponse};
use patron_domain::{Permission, UserId};
use patron_store::users::{self, Member};
use serde::{Deserialize, Serialize};

#[derive(Serialize)]
pub struct UserJson {
    pub id: i64,
    pub email: String,
    pub name: String,
    pub role: String,
    pub store_ids: Vec<i64>,
}

fn json(m: Member) -> UserJson {
    UserJson {
        id: m.user.id,
        email: m.user.email,
        name: m.user.name,
        role: m.role,
        store_ids: m.store_ids,
    }
}

pub async fn list(auth: ApiAuth) -> ApiResult {
    let scope = auth.require(Permission::ManageUsers)?.clone();
    let list = auth
        .state
        .db(move |c| users::tenant_members(c, &scope))
        .await?;
    let users: Vec<UserJson> = list.into_iter().map(json).collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({ "users": users })))
}

pub async fn show(auth: ApiAuth, id: web::Path<i64>) -> ApiResult {
    let scope = auth.require(Permission::ManageUsers)?.clone();
    let id = UserId(id.into_inner());
    let m = auth
        .state
        .db(move |c| users::tenant_member(c, &scope, id))
        .await?;
    Ok(HttpResponse::Ok().json(json(m)))
}

#[derive(Deserialize)]
pub struct InviteBody {
    pub email: String,
    pub role: String,
    #[serde(default)]
    pub store_ids: Vec<i64>,
}

/// Invites a user into the tenant; the invitation link goes to their mailbox.
pub async fn invite(auth: ApiAuth, body: web::Json<InviteBody>) -> ApiResult {
    let scope = auth.require(Permission::ManageUsers)?.clone();
    match crate::notify::invite(
        &auth.state,
        auth.lang,
        &scope,
        &body.email,
        &body.role,
        &body.store_ids,
        None,
    )
    .await
    {
        Ok((inv, sent)) => Ok(HttpResponse::Created().json(serde_json::json!({
            "id": inv.id,
            "email": inv.email,
            "role": inv.role,
            "expires_at": format!("{}Z", inv.expires_at.format("%Y-%m-%dT%H:%M:%S")),
            "mail_sent": sent,
        }))),
        Err(e) => Err(e.into()),
    }
}
