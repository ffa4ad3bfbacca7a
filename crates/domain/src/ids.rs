//! Newtype identifiers, so a store id can never stand in for a tenant id.

macro_rules! id_type {
    ($($(#[$meta:meta])* $name:ident),* $(,)?) => {$(
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = std::num::ParseIntError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                s.parse().map($name)
            }
        }
    )*};
}

id_type!(
    /// An agency: the top of the tenancy tree.
    AgencyId,
    /// A merchant account.
    TenantId,
    /// A physical store of a tenant.
    StoreId,
    /// A person who can log in.
    UserId,
    /// A user's role in an agency or tenant.
    MembershipId,
    /// A per-tenant API token.
    ApiTokenId,
    /// An invitation to join.
    InvitationId,
    /// A row of the durable job queue.
    JobId,
);
