//! Every path of the admin UI, in one place: the route table registers these patterns
//! (`routes.rs` names the constants) and pages, redirects and templates build links with
//! the methods beside them, so renaming a route is one change here. A pattern's
//! placeholders are filled in order, each percent-encoded; a builder whose arguments do
//! not match its pattern's placeholders does not compile. Arguments are anything
//! `Display` (ids, codes, tokens), so templates, which pass references, call the same
//! methods as handlers.
//!
//! The public follower page (`/m/…`) and the webhook (`/wx/…`) are built below the web
//! crate too (jobs send follower links), so their patterns live in `patron_app::links`.
//! The JSON API's paths are in `routes.rs` and its OpenAPI document, not linked to.

use std::fmt::Display;

/// Links within one tenant's pages: `paths::tenant(slug).follower(7)`.
#[derive(Debug, Clone, Copy)]
pub struct Tenant<'a>(pub &'a str);

pub fn tenant(slug: &str) -> Tenant<'_> {
    Tenant(slug)
}

/// Links outside any tenant (sign-in, account, agency).
#[derive(Debug, Clone, Copy)]
pub struct Site;

/// How many `{placeholder}`s a pattern has.
const fn placeholders(pattern: &str) -> usize {
    let b = pattern.as_bytes();
    let (mut i, mut n) = (0, 0);
    while i < b.len() {
        if b[i] == b'{' {
            n += 1;
        }
        i += 1;
    }
    n
}

/// `pattern` with its placeholders replaced, in order, by `args` (percent-encoded).
pub fn fill(pattern: &str, args: &[&str]) -> String {
    let mut out = String::with_capacity(pattern.len() + 24);
    let mut args = args.iter();
    let mut rest = pattern;
    while let Some(i) = rest.find('{') {
        out.push_str(&rest[..i]);
        let j = i + rest[i..].find('}').expect("a placeholder is closed");
        let arg = args.next().expect("an argument for every placeholder");
        out.push_str(&urlencoding::encode(arg));
        rest = &rest[j + 1..];
    }
    out.push_str(rest);
    out
}

/// Fills a pattern of one group: a tenant's paths start with its slug.
trait Filler {
    fn path(&self, pattern: &str, args: &[&str]) -> String;
}

impl Filler for Site {
    fn path(&self, pattern: &str, args: &[&str]) -> String {
        fill(pattern, args)
    }
}

impl Filler for Tenant<'_> {
    fn path(&self, pattern: &str, args: &[&str]) -> String {
        let mut all = Vec::with_capacity(args.len() + 1);
        all.push(self.0);
        all.extend_from_slice(args);
        fill(pattern, &all)
    }
}

macro_rules! paths {
    ($on:ty, $bound:literal, $all:ident; $( $(#[$doc:meta])* $name:ident = $pattern:literal => $method:ident($($arg:ident: $ty:ty),*); )*) => {
        $(
            $(#[$doc])*
            pub const $name: &str = $pattern;
            const _: () = assert!(
                placeholders($pattern) == $bound + <[&str]>::len(&[$(stringify!($arg)),*]),
                concat!("the arguments of paths::", stringify!($name), " do not match its placeholders")
            );
        )*
        /// Every pattern of this group (for the test that each is registered).
        pub const $all: &[&str] = &[$($name),*];
        impl $on {
            $(
                $(#[$doc])*
                pub fn $method(&self, $($arg: $ty),*) -> String {
                    Filler::path(self, $name, &[$(&$arg.to_string()),*])
                }
            )*
        }
    };
}

paths! { Site, 0, SITE_PATHS;
    HOME = "/" => home();
    SETUP = "/setup" => setup();
    LOGIN = "/login" => login();
    LOGOUT = "/logout" => logout();
    LANG = "/lang" => lang();
    FORGOT = "/password/forgot" => forgot();
    RESET = "/password/reset/{token}" => reset(token: impl Display);
    INVITE = "/invite/{token}" => invite(token: impl Display);
    ACCOUNT = "/account" => account();
    ACCOUNT_PASSWORD = "/account/password" => account_password();
    ACCOUNT_SESSIONS_REVOKE = "/account/sessions/revoke" => revoke_sessions();
    AGENCY_TENANTS = "/agency/tenants" => agency_tenants();
    AGENCY_TENANT_NEW = "/agency/tenants/new" => new_tenant();
    AGENCY_USERS = "/agency/users" => agency_users();
    AGENCY_INVITATIONS = "/agency/invitations" => agency_invitations();
    AGENCY_SETTINGS = "/agency/settings" => agency_settings();
    AGENCY_OPERATIONS = "/agency/operations" => agency_operations();
    OPENAPI = "/api/v1/openapi.json" => openapi();
}

impl Site {
    /// Sign-in, then back to `next` (a path of ours).
    pub fn login_then(&self, next: &str) -> String {
        format!("{LOGIN}?next={}", urlencoding::encode(next))
    }
}

paths! { Tenant<'_>, 1, TENANT_PATHS;
    /// The tenant's dashboard.
    DASHBOARD = "/t/{tenant}" => home();
    /// One of the dashboard's tables as CSV (`audience.csv`, `campaigns.csv`…).
    DASHBOARD_CSV = "/t/{tenant}/dashboard/{table_file}" => dashboard_csv(file: impl Display);
    SETTINGS = "/t/{tenant}/settings" => settings();
    STORES = "/t/{tenant}/stores" => stores();
    STORE = "/t/{tenant}/stores/{store_id}" => store(id: impl Display);
    USERS = "/t/{tenant}/users" => users();
    INVITATIONS = "/t/{tenant}/invitations" => invitations();
    INVITATION_REVOKE = "/t/{tenant}/invitations/{invitation_id}/revoke" => revoke_invitation(id: impl Display);
    USER_REMOVE = "/t/{tenant}/users/{user_id}/remove" => remove_user(id: impl Display);
    FOLLOWERS = "/t/{tenant}/followers" => followers();
    FOLLOWERS_CSV = "/t/{tenant}/followers.csv" => followers_csv();
    FOLLOWERS_SYNC = "/t/{tenant}/followers/sync" => sync_followers();
    IMPORT = "/t/{tenant}/followers/import" => import();
    IMPORT_SHOW = "/t/{tenant}/followers/imports/{import_id}" => import_status(id: impl Display);
    IMPORT_CONFIRM = "/t/{tenant}/followers/imports/{import_id}/confirm" => confirm_import(id: impl Display);
    ATTRIBUTES = "/t/{tenant}/attributes" => attributes();
    ATTRIBUTE_DELETE = "/t/{tenant}/attributes/{attribute_id}/delete" => delete_attribute(id: impl Display);
    SEGMENTS = "/t/{tenant}/segments" => segments();
    SEGMENT = "/t/{tenant}/segments/{segment_id}" => segment(id: impl Display);
    SEGMENT_DELETE = "/t/{tenant}/segments/{segment_id}/delete" => delete_segment(id: impl Display);
    FOLLOWERS_TAGS = "/t/{tenant}/followers/tags" => tag_followers();
    TAGS = "/t/{tenant}/tags" => tags();
    TAG_DELETE = "/t/{tenant}/tags/{tag_id}/delete" => delete_tag(id: impl Display);
    TAGS_SYNC = "/t/{tenant}/tags/sync" => sync_tags();
    FOLLOWER = "/t/{tenant}/followers/{follower_id}" => follower(id: impl Display);
    FOLLOWER_NOTES = "/t/{tenant}/followers/{follower_id}/notes" => notes(id: impl Display);
    FOLLOWER_ATTRIBUTES = "/t/{tenant}/followers/{follower_id}/attributes" => follower_attributes(id: impl Display);
    FOLLOWER_MESSAGE = "/t/{tenant}/followers/{follower_id}/message" => message(id: impl Display);
    FOLLOWER_COUPONS = "/t/{tenant}/followers/{follower_id}/coupons" => issue_coupon(id: impl Display);
    FOLLOWER_LINK = "/t/{tenant}/followers/{follower_id}/link" => send_link(id: impl Display);
    FOLLOWER_PAGE = "/t/{tenant}/followers/{follower_id}/page" => follower_page(id: impl Display);
    FOLLOWER_POINTS = "/t/{tenant}/followers/{follower_id}/points" => points(id: impl Display);
    FOLLOWER_STAMPS = "/t/{tenant}/followers/{follower_id}/stamps" => stamps(id: impl Display);
    REPLIES = "/t/{tenant}/replies" => replies();
    REPLY = "/t/{tenant}/replies/{rule_id}" => reply(id: impl Display);
    REPLY_EDIT = "/t/{tenant}/replies/{rule_id}/edit" => edit_reply(id: impl Display);
    REPLY_DELETE = "/t/{tenant}/replies/{rule_id}/delete" => delete_reply(id: impl Display);
    MENU = "/t/{tenant}/menu" => menu();
    QR_CODES = "/t/{tenant}/qr" => qr_codes();
    QR_TAG = "/t/{tenant}/qr/{qr_id}/tag" => qr_tag(id: impl Display);
    QR_FILE = "/t/{tenant}/qr/{qr_file}" => qr_file(file: impl Display);
    CAMPAIGNS = "/t/{tenant}/campaigns" => campaigns();
    CAMPAIGN = "/t/{tenant}/campaigns/{campaign_id}" => campaign(id: impl Display);
    CAMPAIGN_EDIT = "/t/{tenant}/campaigns/{campaign_id}/edit" => edit_campaign(id: impl Display);
    CAMPAIGN_STATUS = "/t/{tenant}/campaigns/{campaign_id}/status" => campaign_status(id: impl Display);
    CAMPAIGN_BULK = "/t/{tenant}/campaigns/{campaign_id}/bulk" => campaign_bulk(id: impl Display);
    CAMPAIGN_IMPORT = "/t/{tenant}/campaigns/{campaign_id}/import" => campaign_import(id: impl Display);
    COUPONS = "/t/{tenant}/coupons" => coupons();
    COUPON_FILE = "/t/{tenant}/coupons/{coupon_file}" => coupon_file(file: impl Display);
    LOYALTY = "/t/{tenant}/loyalty" => loyalty();
    STAMP_CARDS = "/t/{tenant}/stamp-cards" => stamp_cards();
    STAMP_CARD = "/t/{tenant}/stamp-cards/{card_id}" => stamp_card(id: impl Display);
    CASHIER = "/t/{tenant}/cashier" => cashier();
    CASHIER_LOOKUP = "/t/{tenant}/cashier/lookup" => cashier_lookup();
    CASHIER_REDEEM = "/t/{tenant}/cashier/redeem" => cashier_redeem();
    CASHIER_VOID = "/t/{tenant}/cashier/void" => cashier_void();
    BROADCASTS = "/t/{tenant}/broadcasts" => broadcasts();
    BROADCAST_NEW = "/t/{tenant}/broadcasts/new" => new_broadcast();
    BROADCAST_QUOTA = "/t/{tenant}/broadcasts/quota" => broadcast_quota();
    BROADCAST_CONSOLE = "/t/{tenant}/broadcasts/console" => console_send();
    BROADCAST_CONSOLE_DELETE = "/t/{tenant}/broadcasts/console/{slot_id}/delete" => delete_console_send(id: impl Display);
    BROADCAST = "/t/{tenant}/broadcasts/{broadcast_id}" => broadcast(id: impl Display);
    BROADCAST_EDIT = "/t/{tenant}/broadcasts/{broadcast_id}/edit" => edit_broadcast(id: impl Display);
    BROADCAST_SCHEDULE = "/t/{tenant}/broadcasts/{broadcast_id}/schedule" => schedule_broadcast(id: impl Display);
    BROADCAST_UNSCHEDULE = "/t/{tenant}/broadcasts/{broadcast_id}/unschedule" => unschedule_broadcast(id: impl Display);
    BROADCAST_SUBMIT = "/t/{tenant}/broadcasts/{broadcast_id}/submit" => submit_broadcast(id: impl Display);
    BROADCAST_APPROVE = "/t/{tenant}/broadcasts/{broadcast_id}/approve" => approve_broadcast(id: impl Display);
    BROADCAST_CANCEL = "/t/{tenant}/broadcasts/{broadcast_id}/cancel" => cancel_broadcast(id: impl Display);
    BROADCAST_PREVIEW = "/t/{tenant}/broadcasts/{broadcast_id}/preview" => preview_broadcast(id: impl Display);
    PAYMENTS = "/t/{tenant}/payments" => payments();
    PAYMENT = "/t/{tenant}/payments/{payment_id}" => payment(id: impl Display);
    PAY_SETTINGS = "/t/{tenant}/settings/pay" => pay_settings();
    RECONCILIATION = "/t/{tenant}/reconciliation" => reconciliation();
    RECONCILIATION_EXPORT = "/t/{tenant}/reconciliation/exceptions.csv" => reconciliation_export();
    RECONCILIATION_EXCEPTION = "/t/{tenant}/reconciliation/exceptions/{exception_id}" => resolve_exception(id: impl Display);
    JOBS = "/t/{tenant}/jobs" => jobs();
    JOB_RETRY = "/t/{tenant}/jobs/{job_id}/retry" => retry_job(id: impl Display);
    TOKENS = "/t/{tenant}/tokens" => tokens();
    TOKEN_REVOKE = "/t/{tenant}/tokens/{token_id}/revoke" => revoke_token(id: impl Display);
}

impl Tenant<'_> {
    /// The followers list with a filter's query string (`tag=3&subscribed=yes`).
    pub fn followers_where(&self, query: &str) -> String {
        with_query(self.followers(), query)
    }
    /// The followers export with a filter's query string.
    pub fn followers_csv_where(&self, query: &str) -> String {
        with_query(self.followers_csv(), query)
    }
    /// The followers carrying a tag.
    pub fn followers_tagged(&self, tag: impl Display) -> String {
        format!("{}?tag={tag}", self.followers())
    }
    /// A follower's page at an anchor (`points`, `stamps`).
    pub fn follower_at(&self, id: impl Display, anchor: &str) -> String {
        format!("{}#{anchor}", self.follower(id))
    }
    /// A parametric QR code's image: `svg` or `png`.
    pub fn qr_image(&self, id: impl Display, ext: &str) -> String {
        self.qr_file(format!("{id}.{ext}"))
    }
    /// A coupon's QR code as SVG.
    pub fn coupon_svg(&self, code: impl Display) -> String {
        self.coupon_file(format!("{code}.svg"))
    }
}

fn with_query(path: String, query: &str) -> String {
    if query.is_empty() {
        path
    } else {
        format!("{path}?{query}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_filled_in_order_and_encoded() {
        let t = tenant("shop-1");
        assert_eq!(t.follower(7), "/t/shop-1/followers/7");
        assert_eq!(t.qr_image(3, "svg"), "/t/shop-1/qr/3.svg");
        assert_eq!(Site.reset("a/b c"), "/password/reset/a%2Fb%20c");
        assert_eq!(t.followers_where(""), "/t/shop-1/followers");
        assert_eq!(t.followers_where("tag=2"), "/t/shop-1/followers?tag=2");
        assert_eq!(
            Site.login_then("/invite/x y"),
            "/login?next=%2Finvite%2Fx%20y"
        );
    }

    #[test]
    fn every_path_built_here_is_a_registered_route() {
        let registered = |p: &str| crate::routes::ROUTES.iter().any(|r| r.path == p);
        for p in SITE_PATHS.iter().chain(TENANT_PATHS) {
            assert!(registered(p), "{p} is not in the route table");
        }
    }
}
