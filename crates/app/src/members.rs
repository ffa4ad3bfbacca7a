//! A tenant's users: inviting one (the page and the API share it).

use crate::AppError;
use patron_domain::validate;
use patron_domain::{Role, StoreId, TenantScope, UserId};
use patron_store::invitations::{self, Invitation};
use patron_store::{stores, DbConn};

/// What to invite: an email, a role name, and for cashiers their stores.
pub struct Invite<'a> {
    pub email: &'a str,
    pub role: &'a str,
    pub store_ids: &'a [i64],
    pub by: Option<UserId>,
}

/// Checks the fields and the scope's right to grant the role (an API token: only roles
/// below merchant admin), then creates the invitation. Returns it and the token of its
/// link (shown once: it is stored hashed).
pub fn invite(
    c: &mut DbConn,
    scope: &TenantScope,
    i: &Invite<'_>,
) -> Result<(Invitation, String), AppError> {
    let (email, role, stores) = check(scope, i)?;
    stores::check_all_in_tenant(c, scope, &stores)
        .map_err(|_| AppError::Invalid(vec![validate::invalid("store_ids", "invalid_choice")]))?;
    Ok(invitations::create_for_tenant(
        c, scope, &email, role, &stores, i.by,
    )?)
}

/// The checks that need no database, every problem at once.
fn check(scope: &TenantScope, i: &Invite<'_>) -> Result<(String, Role, Vec<StoreId>), AppError> {
    let mut errs = Vec::new();
    let email = validate::email(i.email).map_err(|e| errs.push(e)).ok();
    let role = Role::parse(i.role).filter(|r| scope.may_grant(*r));
    if role.is_none() {
        errs.push(validate::invalid("role", "invalid_choice"));
    }
    let stores: Vec<StoreId> = i.store_ids.iter().copied().map(StoreId).collect();
    if role == Some(Role::Cashier) && stores.is_empty() {
        errs.push(validate::invalid("store_ids", "cashier_needs_store"));
    }
    match (email, role) {
        (Some(email), Some(role)) if errs.is_empty() => {
            let stores = if role == Role::Cashier {
                stores
            } else {
                vec![]
            };
            Ok((email, role, stores))
        }
        _ => Err(AppError::Invalid(errs)),
    }
}
