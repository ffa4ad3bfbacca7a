//! Links to a follower's own page (their coupons, points and stamp cards), signed so that
//! only the follower it names can open it, for replies, customer-service messages and the
//! merchant's "open their page".

/// A follower's own page (the route table registers these patterns).
pub const FOLLOWER_PAGE: &str = "/m/{tenant}/{token}";
/// A coupon's QR code on the follower's page (`{coupon_file}` is `CODE.svg`).
pub const FOLLOWER_PAGE_FILE: &str = "/m/{tenant}/{token}/{coupon_file}";
/// Where an email's unsubscribe link leads (the token is signed for that purpose only).
pub const UNSUBSCRIBE: &str = "/e/{tenant}/unsubscribe/{token}";
/// Where WeChat Pay notifies a tenant's payments (v2 XML), refunds (v2) and both (v3).
pub const PAY_V2: &str = "/pay/{tenant}/v2";
pub const PAY_V2_REFUND: &str = "/pay/{tenant}/v2/refund";
pub const PAY_V3: &str = "/pay/{tenant}/v3";
/// A tenant's webhook, where WeChat pushes messages and events.
pub const WEBHOOK: &str = "/wx/{tenant}";

/// The path of `slug`'s webhook (slugs are `[a-z0-9-]`, nothing to encode).
pub fn webhook_path(slug: &str) -> String {
    WEBHOOK.replace("{tenant}", slug)
}

/// The path of a file on a follower's page (`member-card.svg`, `CODE.svg`).
pub fn follower_file_path(slug: &str, token: &str, file: &str) -> String {
    FOLLOWER_PAGE_FILE
        .replace("{tenant}", slug)
        .replace("{token}", token)
        .replace("{coupon_file}", file)
}

/// The signed link that stops a follower's email, valid for
/// [`patron_domain::links::UNSUBSCRIBE_DAYS`].
pub fn unsubscribe_url(
    key: &[u8],
    base_url: &str,
    slug: &str,
    tenant: i64,
    follower: i64,
) -> String {
    use patron_domain::links::{sign_for, Purpose, UNSUBSCRIBE_DAYS};
    let expires = chrono::Utc::now().timestamp() + UNSUBSCRIBE_DAYS * 86_400;
    let token = sign_for(Purpose::Unsubscribe, key, tenant, follower, expires);
    format!(
        "{base_url}{}",
        UNSUBSCRIBE
            .replace("{tenant}", slug)
            .replace("{token}", &token)
    )
}

/// Makes links to one tenant's follower pages: `{base_url}/m/{slug}/{token}`.
pub struct FollowerPage {
    key: Vec<u8>,
    /// The link with its token to fill, e.g. `https://crm.example.com/m/shop/{token}`.
    base: String,
    days: i64,
}

impl FollowerPage {
    /// Links to `slug`'s follower pages under `base_url`, valid for
    /// [`patron_domain::links::LINK_DAYS`].
    pub fn new(key: &[u8], base_url: &str, slug: &str) -> FollowerPage {
        FollowerPage {
            key: key.to_vec(),
            base: format!("{base_url}{}", FOLLOWER_PAGE.replace("{tenant}", slug)),
            days: patron_domain::links::LINK_DAYS,
        }
    }

    pub fn link(&self, tenant: i64, follower: i64) -> String {
        let expires = chrono::Utc::now().timestamp() + self.days * 86_400;
        let token = patron_domain::links::sign(&self.key, tenant, follower, expires);
        self.base.replace("{token}", &token)
    }
}

impl patron_store::inbox::FollowerLinks for FollowerPage {
    fn link(&self, tenant: i64, follower: i64) -> String {
        FollowerPage::link(self, tenant, follower)
    }
}
