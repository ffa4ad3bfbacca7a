//! The authorization decision, in one place.
//!
//! Every tenant-owned query in the store takes a [`TenantScope`]. Its fields are private and
//! it has no public constructor: the only ways to get one are [`authorize`] (for users and
//! API tokens) and [`TenantScope::system`] (for the CLI and background jobs, which act for
//! the operator and are easy to grep for). So a query that forgets its tenant cannot be
//! written by accident, and "may this principal touch this tenant?" is answered here only.

use crate::{AgencyId, ApiTokenId, Permission, Role, StoreId, TenantId, UserId};

/// A role held by a user: on a whole agency (agency admins) or on one tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub role: Role,
    pub agency_id: AgencyId,
    /// `None` for agency-wide roles.
    pub tenant_id: Option<TenantId>,
    /// For cashiers: the stores they work at. Empty for other roles.
    pub store_ids: Vec<StoreId>,
}

/// Who is asking.
#[derive(Debug, Clone)]
pub enum Principal {
    User {
        user_id: UserId,
        grants: Vec<Grant>,
    },
    ApiToken {
        token_id: ApiTokenId,
        tenant_id: TenantId,
    },
}

/// Who performed an action, for audit columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    User(UserId),
    ApiToken(ApiTokenId),
    System,
}

/// The facts about a tenant that authorization needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TenantRef {
    pub id: TenantId,
    pub agency_id: AgencyId,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthzError {
    /// The principal has nothing to do with this tenant: answer as if it did not exist.
    #[error("not found")]
    NotFound,
    /// The principal belongs to the tenant but its role does not allow this.
    #[error("forbidden")]
    Forbidden,
}

/// Proof that a principal may act inside one tenant. Required by every tenant-owned query.
#[derive(Debug, Clone)]
pub struct TenantScope {
    tenant: TenantRef,
    /// `None` for API tokens and the system: they are not bound to a role.
    role: Option<Role>,
    /// `Some` restricts store-bound work (cashiers) to these stores.
    stores: Option<Vec<StoreId>>,
    actor: Actor,
}

impl TenantScope {
    /// The operator acting through the CLI or a background job: every tenant, every store.
    pub fn system(tenant: TenantRef) -> Self {
        TenantScope {
            tenant,
            role: None,
            stores: None,
            actor: Actor::System,
        }
    }

    pub fn tenant_id(&self) -> TenantId {
        self.tenant.id
    }
    pub fn agency_id(&self) -> AgencyId {
        self.tenant.agency_id
    }
    pub fn role(&self) -> Option<Role> {
        self.role
    }
    pub fn actor(&self) -> Actor {
        self.actor
    }
    /// The stores this scope is limited to, if it is limited.
    pub fn stores(&self) -> Option<&[StoreId]> {
        self.stores.as_deref()
    }
    pub fn may(&self, p: Permission) -> bool {
        match (self.actor, self.role) {
            (Actor::System, _) => true,
            (Actor::ApiToken(_), _) => p != Permission::ManageTokens,
            (Actor::User(_), Some(role)) => role.allows(p),
            (Actor::User(_), None) => false,
        }
    }
    /// May this scope hand `role` out inside its tenant (invitations)? Users follow
    /// [`Role::may_grant`]; an API token may invite only the roles below merchant admin
    /// (a merchant admin could mint tokens, and a token must not make one); the system
    /// (CLI) may grant any tenant role.
    pub fn may_grant(&self, role: Role) -> bool {
        if !role.is_tenant_role() {
            return false;
        }
        match (self.actor, self.role) {
            (Actor::System, _) => true,
            (Actor::ApiToken(_), _) => matches!(role, Role::Marketer | Role::Cashier),
            (Actor::User(_), Some(mine)) => mine.may_grant(role),
            (Actor::User(_), None) => false,
        }
    }

    /// May this scope point the tenant at another OA API base URL? Only the agency admin
    /// (and the operator through the CLI): the jobs send the tenant's decrypted AppSecret
    /// there, so whoever sets it could read a write-only secret.
    pub fn may_change_api_base(&self) -> bool {
        matches!(
            (self.actor, self.role),
            (Actor::System, _) | (Actor::User(_), Some(Role::AgencyAdmin))
        )
    }

    pub fn require(&self, p: Permission) -> Result<(), AuthzError> {
        if self.may(p) {
            Ok(())
        } else {
            Err(AuthzError::Forbidden)
        }
    }
}

/// Proof that a user administers an agency.
#[derive(Debug, Clone)]
pub struct AgencyScope {
    agency_id: AgencyId,
    actor: Actor,
}

impl AgencyScope {
    pub fn system(agency_id: AgencyId) -> Self {
        AgencyScope {
            agency_id,
            actor: Actor::System,
        }
    }
    pub fn agency_id(&self) -> AgencyId {
        self.agency_id
    }
    pub fn actor(&self) -> Actor {
        self.actor
    }
}

/// May `principal` do `perm` inside `tenant`? Strangers get [`AuthzError::NotFound`].
pub fn authorize(
    principal: &Principal,
    tenant: TenantRef,
    perm: Permission,
) -> Result<TenantScope, AuthzError> {
    let scope = match principal {
        Principal::ApiToken {
            token_id,
            tenant_id,
        } => {
            if *tenant_id != tenant.id {
                return Err(AuthzError::NotFound);
            }
            TenantScope {
                tenant,
                role: None,
                stores: None,
                actor: Actor::ApiToken(*token_id),
            }
        }
        Principal::User { user_id, grants } => {
            let grant = strongest_grant(grants, tenant).ok_or(AuthzError::NotFound)?;
            TenantScope {
                tenant,
                role: Some(grant.role),
                stores: (grant.role == Role::Cashier).then(|| grant.store_ids.clone()),
                actor: Actor::User(*user_id),
            }
        }
    };
    scope.require(perm)?;
    Ok(scope)
}

/// May `principal` administer `agency`?
pub fn authorize_agency(
    principal: &Principal,
    agency: AgencyId,
) -> Result<AgencyScope, AuthzError> {
    match principal {
        Principal::User { user_id, grants }
            if grants
                .iter()
                .any(|g| g.role == Role::AgencyAdmin && g.agency_id == agency) =>
        {
            Ok(AgencyScope {
                agency_id: agency,
                actor: Actor::User(*user_id),
            })
        }
        _ => Err(AuthzError::NotFound),
    }
}

fn strongest_grant(grants: &[Grant], tenant: TenantRef) -> Option<&Grant> {
    let rank = |r: Role| match r {
        Role::AgencyAdmin => 0,
        Role::MerchantAdmin => 1,
        Role::Marketer => 2,
        Role::Cashier => 3,
    };
    grants
        .iter()
        .filter(|g| match g.tenant_id {
            None => g.role == Role::AgencyAdmin && g.agency_id == tenant.agency_id,
            Some(t) => t == tenant.id,
        })
        .min_by_key(|g| rank(g.role))
}

impl Principal {
    /// The agencies this principal administers.
    pub fn admin_agencies(&self) -> Vec<AgencyId> {
        match self {
            Principal::User { grants, .. } => grants
                .iter()
                .filter(|g| g.role == Role::AgencyAdmin)
                .map(|g| g.agency_id)
                .collect(),
            Principal::ApiToken { .. } => Vec::new(),
        }
    }

    /// Tenants the principal holds a tenant-level role on.
    pub fn member_tenants(&self) -> Vec<TenantId> {
        match self {
            Principal::User { grants, .. } => grants.iter().filter_map(|g| g.tenant_id).collect(),
            Principal::ApiToken { tenant_id, .. } => vec![*tenant_id],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: TenantRef = TenantRef {
        id: TenantId(1),
        agency_id: AgencyId(10),
    };
    const B: TenantRef = TenantRef {
        id: TenantId(2),
        agency_id: AgencyId(20),
    };

    fn user(grants: Vec<Grant>) -> Principal {
        Principal::User {
            user_id: UserId(7),
            grants,
        }
    }

    fn tenant_grant(role: Role, t: TenantRef) -> Grant {
        Grant {
            role,
            agency_id: t.agency_id,
            tenant_id: Some(t.id),
            store_ids: vec![StoreId(3)],
        }
    }

    #[test]
    fn stranger_gets_not_found_not_forbidden() {
        let p = user(vec![tenant_grant(Role::MerchantAdmin, A)]);
        assert_eq!(
            authorize(&p, B, Permission::View).unwrap_err(),
            AuthzError::NotFound
        );
    }

    #[test]
    fn member_without_permission_gets_forbidden() {
        let p = user(vec![tenant_grant(Role::Cashier, A)]);
        assert_eq!(
            authorize(&p, A, Permission::ManageUsers).unwrap_err(),
            AuthzError::Forbidden
        );
        let s = authorize(&p, A, Permission::Redeem).unwrap();
        assert_eq!(s.stores(), Some(&[StoreId(3)][..]));
    }

    #[test]
    fn agency_admin_sees_every_tenant_of_its_agency_only() {
        let p = user(vec![Grant {
            role: Role::AgencyAdmin,
            agency_id: AgencyId(10),
            tenant_id: None,
            store_ids: vec![],
        }]);
        let s = authorize(&p, A, Permission::ManageTokens).unwrap();
        assert_eq!(s.role(), Some(Role::AgencyAdmin));
        assert_eq!(s.stores(), None);
        assert_eq!(
            authorize(&p, B, Permission::View).unwrap_err(),
            AuthzError::NotFound
        );
        assert!(authorize_agency(&p, AgencyId(10)).is_ok());
        assert!(authorize_agency(&p, AgencyId(20)).is_err());
    }

    #[test]
    fn strongest_role_wins() {
        let p = user(vec![
            tenant_grant(Role::Cashier, A),
            tenant_grant(Role::MerchantAdmin, A),
        ]);
        assert_eq!(
            authorize(&p, A, Permission::View).unwrap().role(),
            Some(Role::MerchantAdmin)
        );
    }

    #[test]
    fn api_token_is_bound_to_its_tenant_and_cannot_mint_tokens() {
        let p = Principal::ApiToken {
            token_id: ApiTokenId(1),
            tenant_id: A.id,
        };
        assert!(authorize(&p, A, Permission::ManageUsers).is_ok());
        assert_eq!(
            authorize(&p, A, Permission::ManageTokens).unwrap_err(),
            AuthzError::Forbidden
        );
        assert_eq!(
            authorize(&p, B, Permission::View).unwrap_err(),
            AuthzError::NotFound
        );
    }

    #[test]
    fn an_api_token_invites_only_roles_below_merchant_admin() {
        let token = authorize(
            &Principal::ApiToken {
                token_id: ApiTokenId(1),
                tenant_id: A.id,
            },
            A,
            Permission::ManageUsers,
        )
        .unwrap();
        assert!(token.may_grant(Role::Marketer));
        assert!(token.may_grant(Role::Cashier));
        assert!(!token.may_grant(Role::MerchantAdmin));
        assert!(!token.may_grant(Role::AgencyAdmin));
        let merchant = authorize(
            &user(vec![tenant_grant(Role::MerchantAdmin, A)]),
            A,
            Permission::ManageUsers,
        )
        .unwrap();
        assert!(merchant.may_grant(Role::MerchantAdmin));
        assert!(!merchant.may_grant(Role::AgencyAdmin));
        assert!(TenantScope::system(A).may_grant(Role::MerchantAdmin));
    }

    #[test]
    fn only_the_agency_admin_and_the_system_change_the_api_base() {
        let admin = user(vec![Grant {
            role: Role::AgencyAdmin,
            agency_id: A.agency_id,
            tenant_id: None,
            store_ids: vec![],
        }]);
        assert!(authorize(&admin, A, Permission::ManageSettings)
            .unwrap()
            .may_change_api_base());
        let merchant = user(vec![tenant_grant(Role::MerchantAdmin, A)]);
        assert!(!authorize(&merchant, A, Permission::ManageSettings)
            .unwrap()
            .may_change_api_base());
        let token = Principal::ApiToken {
            token_id: ApiTokenId(1),
            tenant_id: A.id,
        };
        assert!(!authorize(&token, A, Permission::ManageSettings)
            .unwrap()
            .may_change_api_base());
        assert!(TenantScope::system(A).may_change_api_base());
    }
}
