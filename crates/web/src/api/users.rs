//! `/api/v1/users` and `/api/v1/invitations`.

use super::{ApiAuth, ApiResult, ErrorBody};
use actix_web::{web, HttpResponse};
use patron_domain::{Permission, UserId};
use patron_store::users::{self, Member};
use serde::{Deserialize, Serialize};

#[derive(Serialize, utoipa::ToSchema)]
pub struct UserJson {
    pub id: i64,
    pub email: String,
    pub name: String,
    /// `merchant_admin`, `marketer` or `cashier` (`agency_admin` for the agency's).
    pub role: String,
    /// The stores a cashier works at.
    pub store_ids: Vec<i64>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct UserList {
    pub users: Vec<UserJson>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct InvitationJson {
    pub id: i64,
    pub email: String,
    pub role: String,
    #[schema(format = DateTime)]
    pub expires_at: String,
    /// Whether the mail with the link went out (the link also works if it did not).
    pub mail_sent: bool,
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

/// The tenant's users and their roles.
#[utoipa::path(get, path = "/users", operation_id = "listUsers", tag = "users",
    responses((status = 200, description = "The users", body = UserList)))]
pub async fn list(auth: ApiAuth) -> ApiResult {
    let scope = auth.require(Permission::ManageUsers)?.clone();
    let list = auth
        .state
        .db(move |c| users::tenant_members(c, &scope))
        .await?;
    let users: Vec<UserJson> = list.into_iter().map(json).collect();
    Ok(HttpResponse::Ok().json(UserList { users }))
}

/// One user of the tenant.
#[utoipa::path(get, path = "/users/{user_id}", operation_id = "getUser", tag = "users",
    params(("user_id" = i64, Path)),
    responses(
        (status = 200, description = "The user", body = UserJson),
        (status = 404, description = "No such user in this tenant", body = ErrorBody),
    ))]
pub async fn show(auth: ApiAuth, id: web::Path<i64>) -> ApiResult {
    let scope = auth.require(Permission::ManageUsers)?.clone();
    let id = UserId(id.into_inner());
    let m = auth
        .state
        .db(move |c| users::tenant_member(c, &scope, id))
        .await?;
    Ok(HttpResponse::Ok().json(json(m)))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct InviteBody {
    pub email: String,
    /// `marketer` or `cashier` (a token may not invite admins).
    pub role: String,
    /// Required for cashiers: the stores they work at.
    #[serde(default)]
    pub store_ids: Vec<i64>,
}

/// Invites a user into the tenant; the invitation link goes to their mailbox.
#[utoipa::path(post, path = "/invitations", operation_id = "createInvitation", tag = "users",
    request_body = InviteBody,
    responses((status = 201, description = "The invitation", body = InvitationJson)))]
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
        Ok((inv, sent)) => Ok(HttpResponse::Created().json(InvitationJson {
            id: inv.id,
            email: inv.email,
            role: inv.role,
            expires_at: format!("{}Z", inv.expires_at.format("%Y-%m-%dT%H:%M:%S")),
            mail_sent: sent,
        })),
        Err(e) => Err(e.into()),
    }
}
