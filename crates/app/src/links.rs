//! Links to a follower's own page (their coupons, points and stamp cards), signed so that
//! only the follower it names can open it, for replies, customer-service messages and the
//! merchant's "open their page".

/// Makes links to one tenant's follower pages: `{base_url}/m/{slug}/{token}`.
pub struct FollowerPage {
    key: Vec<u8>,
    /// Everything before the token, e.g. `https://crm.example.com/m/shop/`.
    base: String,
    days: i64,
}

impl FollowerPage {
    /// Links to `slug`'s follower pages under `base_url`, valid for
    /// [`patron_domain::links::LINK_DAYS`].
    pub fn new(key: &[u8], base_url: &str, slug: &str) -> FollowerPage {
        FollowerPage {
            key: key.to_vec(),
            base: format!("{base_url}/m/{slug}/"),
            days: patron_domain::links::LINK_DAYS,
        }
    }

    pub fn link(&self, tenant: i64, follower: i64) -> String {
        let expires = chrono::Utc::now().timestamp() + self.days * 86_400;
        let token = patron_domain::links::sign(&self.key, tenant, follower, expires);
        format!("{}{token}", self.base)
    }
}

impl patron_store::inbox::FollowerLinks for FollowerPage {
    fn link(&self, tenant: i64, follower: i64) -> String {
        FollowerPage::link(self, tenant, follower)
    }
}
