//! Roles and what each may do. This table is the only place permissions are decided.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Every tenant of the agency, plus the agency's own settings and users.
    AgencyAdmin,
    /// Everything inside one tenant, including its users and API tokens.
    MerchantAdmin,
    /// Followers, campaigns and broadcasts of one tenant; no users, no tokens.
    Marketer,
    /// The till: redeem coupons at the stores the membership is bound to.
    Cashier,
}

/// Something a principal may want to do inside a tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    /// See the tenant at all (its dashboard, its name).
    View,
    /// Edit the tenant's settings, WeChat connection and stores.
    ManageSettings,
    /// Invite, change and remove the tenant's users.
    ManageUsers,
    /// Create and revoke API tokens.
    ManageTokens,
    /// Work on followers, replies, campaigns, broadcasts.
    Market,
    /// Redeem and void coupons at a store.
    Redeem,
}

impl Role {
    pub const ALL: [Role; 4] = [
        Role::AgencyAdmin,
        Role::MerchantAdmin,
        Role::Marketer,
        Role::Cashier,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::AgencyAdmin => "agency_admin",
            Role::MerchantAdmin => "merchant_admin",
            Role::Marketer => "marketer",
            Role::Cashier => "cashier",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// Roles that are granted on one tenant (as opposed to the whole agency).
    pub fn is_tenant_role(self) -> bool {
        !matches!(self, Role::AgencyAdmin)
    }

    pub fn allows(self, p: Permission) -> bool {
        use Permission::*;
        match self {
            Role::AgencyAdmin | Role::MerchantAdmin => true,
            Role::Marketer => matches!(p, View | Market),
            Role::Cashier => matches!(p, View | Redeem),
        }
    }

    /// Which roles a holder of `self` may hand out inside a tenant.
    pub fn may_grant(self, other: Role) -> bool {
        match self {
            Role::AgencyAdmin => true,
            Role::MerchantAdmin => other.is_tenant_role(),
            _ => false,
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_names_round_trip() {
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
        assert_eq!(Role::parse("root"), None);
    }

    #[test]
    fn cashier_cannot_manage_and_marketer_cannot_redeem() {
        assert!(Role::Cashier.allows(Permission::Redeem));
        assert!(!Role::Cashier.allows(Permission::Market));
        assert!(!Role::Cashier.allows(Permission::ManageUsers));
        assert!(!Role::Marketer.allows(Permission::Redeem));
        assert!(!Role::Marketer.allows(Permission::ManageTokens));
        assert!(Role::MerchantAdmin.allows(Permission::ManageTokens));
    }

    #[test]
    fn merchant_admin_cannot_create_agency_admins() {
        assert!(!Role::MerchantAdmin.may_grant(Role::AgencyAdmin));
        assert!(Role::MerchantAdmin.may_grant(Role::Cashier));
        assert!(!Role::Marketer.may_grant(Role::Cashier));
        assert!(Role::AgencyAdmin.may_grant(Role::AgencyAdmin));
    }
}
