//! The one list of routes. The macro both registers them and records them in [`ROUTES`],
//! so tests (the tenant-isolation and CSRF sweeps, the OpenAPI check) cover every route,
//! including routes added later, without anyone remembering to list them.

use crate::{api, assets, paths, pay, ui, webhook};
use actix_web::web;
use patron_app::links;

/// How a route is reached, for the sweeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone (login, setup, health, static files, invitation links).
    Public,
    /// A signed-in user through the browser (session cookie; POST needs a CSRF token).
    Session,
    /// A per-tenant API token (`Authorization: Bearer …`).
    Token,
    /// WeChat's servers, authenticated by the tenant's signature.
    Webhook,
    /// Whoever holds a link signed for this one purpose, tenant and follower (the link
    /// is the credential: no session, so no CSRF token; e.g. an email's unsubscribe link,
    /// which mail clients also POST to in one click).
    Signed,
}

#[derive(Debug, Clone, Copy)]
pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
    pub access: Access,
}

macro_rules! routes {
    ($($method:ident $access:ident $path:expr => $handler:path;)*) => {
        pub const ROUTES: &[Route] = &[
            $(Route { method: stringify!($method), path: $path, access: Access::$access },)*
        ];

        pub fn register(cfg: &mut web::ServiceConfig) {
            register_grouped(cfg, vec![$(($path, web::$method().to($handler)),)*]);
        }
    };
}

/// The static first segment of a route's path (`/api` of `/api/v1/campaigns`), or `None`
/// for the root and for a first segment that is a placeholder.
fn section(path: &str) -> Option<&str> {
    let first = path.get(1..)?.split('/').next().unwrap_or("");
    (!first.is_empty() && !first.contains('{')).then(|| &path[..=first.len()])
}

/// actix tries a request against the routes one after another, a regex each: with some
/// 200 routes that was a fifth of the server's CPU under the redemption benchmark
/// (docs/benchmarks.md, "Redemptions"). Routes sharing a static first segment go in one
/// scope, matched by its literal prefix, and so on down the path, so a request tries the
/// few routes of its own section. Sections of one level cannot overlap (their first
/// segments differ), so the list's order still decides within each; a level where some
/// route starts with a placeholder (which could match any section's segment) is
/// registered as listed instead. The sweeps over [`ROUTES`] (CSRF, tenant isolation, the
/// API contract) reach every route through this.
fn register_grouped(cfg: &mut web::ServiceConfig, routes: Vec<(&'static str, actix_web::Route)>) {
    let placeholder_first = |p: &str| {
        p.get(1..)
            .and_then(|r| r.split('/').next())
            .is_some_and(|first| first.contains('{'))
    };
    if routes.len() == 1 || routes.iter().any(|(p, _)| placeholder_first(p)) {
        for (path, route) in routes {
            cfg.route(path, route);
        }
        return;
    }
    let mut sections: Vec<(&'static str, Vec<(&'static str, actix_web::Route)>)> = Vec::new();
    for (path, route) in routes {
        // The level's own root ("/" or the scope's path itself) overlaps no section.
        let Some(key) = section(path) else {
            cfg.route(path, route);
            continue;
        };
        let rest = &path[key.len()..];
        match sections.iter_mut().find(|(k, _)| *k == key) {
            Some((_, list)) => list.push((rest, route)),
            None => sections.push((key, vec![(rest, route)])),
        }
    }
    for (prefix, list) in sections {
        if list.len() == 1 {
            let (rest, route) = list.into_iter().next().expect("one route");
            cfg.service(web::scope(prefix).route(rest, route));
        } else {
            cfg.service(web::scope(prefix).configure(|c| register_grouped(c, list)));
        }
    }
}

/// The methods registered for the concrete `path` (pattern segments `{…}` match any one
/// segment): a request whose path exists with other methods answers 405 with these.
pub fn methods_for(path: &str) -> Vec<&'static str> {
    let want: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    let mut out: Vec<&'static str> = ROUTES
        .iter()
        .filter(|r| {
            let pat: Vec<&str> = r.path.split('/').collect();
            pat.len() == want.len()
                && pat.iter().zip(&want).all(|(p, w)| {
                    (p.starts_with('{') && p.ends_with('}') && !w.is_empty()) || p == w
                })
        })
        .map(|r| r.method)
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// The methods of the routes whose path is exactly `path`, placeholders not counted: a
/// request like `DELETE /api/v1/tags/sync` matches the pattern `/tags/{tag_id}` but means
/// the literal `/tags/sync`, which answers other methods (405, not 404).
pub fn literal_methods_for(path: &str) -> Vec<&'static str> {
    let path = path.trim_end_matches('/');
    let mut out: Vec<&'static str> = ROUTES
        .iter()
        .filter(|r| r.path == path)
        .map(|r| r.method)
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

routes! {
    get    Public  "/healthz" => ui::health::healthz;
    get    Public  "/readyz" => ui::health::readyz;
    get    Public  "/static/{name}" => assets::serve;
    get    Public  "/metrics" => webhook::metrics;
    get    Webhook links::WEBHOOK => webhook::verify;
    post   Webhook links::WEBHOOK => webhook::push;
    post   Webhook links::PAY_V2 => pay::v2_payment;
    post   Webhook links::PAY_V2_REFUND => pay::v2_refund;
    post   Webhook links::PAY_V3 => pay::v3_notification;
    get    Public  paths::HOME => ui::home;
    get    Public  paths::SETUP => ui::setup::form;
    post   Public  paths::SETUP => ui::setup::submit;
    get    Public  paths::LOGIN => ui::auth::login_form;
    post   Public  paths::LOGIN => ui::auth::login;
    post   Session paths::LOGOUT => ui::auth::logout;
    post   Public  paths::LANG => ui::account::set_language;
    get    Public  paths::FORGOT => ui::auth::forgot_form;
    post   Public  paths::FORGOT => ui::auth::forgot;
    get    Public  paths::RESET => ui::auth::reset_form;
    post   Public  paths::RESET => ui::auth::reset;
    get    Public  paths::INVITE => ui::invite::form;
    get    Public  links::FOLLOWER_PAGE => ui::follower_page::page;
    get    Public  links::FOLLOWER_PAGE_FILE => ui::follower_page::qr;
    post   Public  paths::INVITE => ui::invite::accept;
    get    Signed  links::UNSUBSCRIBE => ui::unsubscribe::form;
    post   Signed  links::UNSUBSCRIBE => ui::unsubscribe::confirm;
    get    Session paths::ACCOUNT => ui::account::page;
    post   Session paths::ACCOUNT_PASSWORD => ui::account::change_password;
    post   Session paths::ACCOUNT_SESSIONS_REVOKE => ui::account::revoke_other_sessions;
    get    Session paths::AGENCY_TENANTS => ui::agency::tenants;
    get    Session paths::AGENCY_TENANT_NEW => ui::agency::new_tenant;
    post   Session paths::AGENCY_TENANTS => ui::agency::create_tenant;
    get    Session paths::AGENCY_USERS => ui::agency::users;
    post   Session paths::AGENCY_INVITATIONS => ui::agency::invite_admin;
    get    Session paths::AGENCY_SETTINGS => ui::agency::settings;
    get    Session paths::AGENCY_OPERATIONS => ui::operations::page;
    post   Session paths::AGENCY_SETTINGS => ui::agency::save_settings;
    get    Session paths::DASHBOARD => ui::tenant::dashboard;
    get    Session paths::DASHBOARD_CSV => ui::tenant::dashboard_csv;
    get    Session paths::SETTINGS => ui::tenant::settings_form;
    post   Session paths::SETTINGS => ui::tenant::save_settings;
    get    Session paths::STORES => ui::stores::list;
    post   Session paths::STORES => ui::stores::create;
    get    Session paths::STORE => ui::stores::edit_form;
    post   Session paths::STORE => ui::stores::update;
    get    Session paths::USERS => ui::members::list;
    post   Session paths::INVITATIONS => ui::members::invite;
    post   Session paths::INVITATION_REVOKE => ui::members::revoke_invitation;
    post   Session paths::USER_REMOVE => ui::members::remove;
    get    Session paths::FOLLOWERS => ui::followers::list;
    get    Session paths::FOLLOWERS_CSV => ui::export::followers_csv;
    post   Session paths::FOLLOWERS_SYNC => ui::followers::sync;
    get    Session paths::IMPORT => ui::imports::page;
    post   Session paths::IMPORT => ui::imports::upload;
    get    Session paths::IMPORT_SHOW => ui::imports::show;
    post   Session paths::IMPORT_CONFIRM => ui::imports::confirm;
    post   Session paths::ATTRIBUTES => ui::attributes::create;
    post   Session paths::ATTRIBUTE_DELETE => ui::attributes::delete;
    post   Session paths::SEGMENTS => ui::segments::create_segment;
    get    Session paths::SEGMENT => ui::segments::open_segment;
    post   Session paths::SEGMENT_DELETE => ui::segments::delete_segment;
    post   Session paths::FOLLOWERS_TAGS => ui::tags::apply_tag;
    post   Session paths::TAGS => ui::tags::create_tag;
    post   Session paths::TAG_DELETE => ui::tags::delete_tag;
    get    Session paths::FOLLOWER => ui::followers::show;
    post   Session paths::FOLLOWER => ui::followers::update;
    post   Session paths::FOLLOWER_NOTES => ui::followers::add_note;
    post   Session paths::FOLLOWER_ATTRIBUTES => ui::attributes::set_values;
    post   Session paths::FOLLOWER_MESSAGE => ui::followers::send_message;
    get    Session paths::REPLIES => ui::replies::list;
    post   Session paths::REPLIES => ui::replies::create;
    get    Session paths::REPLY_EDIT => ui::replies::edit_form;
    post   Session paths::REPLY => ui::replies::update;
    post   Session paths::REPLY_DELETE => ui::replies::delete;
    get    Session paths::MENU => ui::menu::page;
    post   Session paths::MENU => ui::menu::save;
    get    Session paths::QR_CODES => ui::qr::list;
    post   Session paths::QR_CODES => ui::qr::create;
    post   Session paths::QR_TAG => ui::qr::set_tag;
    get    Session paths::QR_FILE => ui::qr::image;
    post   Session paths::TAGS_SYNC => ui::tags::sync_tags;
    get    Session paths::CAMPAIGNS => ui::campaigns::list;
    post   Session paths::CAMPAIGNS => ui::campaigns::create;
    get    Session paths::CAMPAIGN => ui::campaigns::show;
    post   Session paths::CAMPAIGN => ui::campaign_edit::update;
    get    Session paths::CAMPAIGN_EDIT => ui::campaign_edit::edit_form;
    post   Session paths::CAMPAIGN_STATUS => ui::campaigns::set_status;
    post   Session paths::CAMPAIGN_BULK => ui::campaigns::bulk;
    post   Session paths::FOLLOWER_COUPONS => ui::campaigns::issue_to_follower;
    post   Session paths::FOLLOWER_LINK => ui::follower_page::send_link;
    get    Session paths::FOLLOWER_PAGE => ui::follower_page::preview;
    get    Session paths::COUPONS => ui::coupon_lookup::lookup;
    post   Session paths::CAMPAIGN_IMPORT => ui::coupon_import::import;
    get    Session paths::COUPON_FILE => ui::campaigns::qr;
    get    Session paths::LOYALTY => ui::loyalty::page;
    post   Session paths::LOYALTY => ui::loyalty::save;
    post   Session paths::STAMP_CARDS => ui::loyalty::create_card;
    post   Session paths::STAMP_CARD => ui::loyalty::update_card;
    post   Session paths::FOLLOWER_POINTS => ui::loyalty::post_points;
    post   Session paths::FOLLOWER_STAMPS => ui::loyalty::give_stamp;
    get    Session paths::CASHIER => ui::cashier::page;
    post   Session paths::CASHIER_LOOKUP => ui::cashier::lookup;
    post   Session paths::CASHIER_REDEEM => ui::cashier::redeem;
    post   Session paths::CASHIER_VOID => ui::cashier::void;
    get    Session paths::PAYMENTS => ui::payments::list;
    get    Session paths::PAYMENT => ui::payments::show;
    get    Session paths::RECONCILIATION => ui::reconcile::page;
    post   Session paths::RECONCILIATION => ui::reconcile::upload;
    get    Session paths::RECONCILIATION_EXPORT => ui::reconcile::export;
    post   Session paths::RECONCILIATION_EXCEPTION => ui::reconcile::resolve;
    get    Session paths::PAY_SETTINGS => ui::payments::settings_form;
    post   Session paths::PAY_SETTINGS => ui::payments::save_settings;
    get    Session paths::BROADCASTS => ui::broadcasts::list;
    post   Session paths::BROADCASTS => ui::broadcasts::create;
    get    Session paths::BROADCAST_NEW => ui::broadcasts::new_form;
    post   Session paths::BROADCAST_QUOTA => ui::broadcasts::set_quota;
    post   Session paths::BROADCAST_CONSOLE => ui::broadcasts::record_console;
    post   Session paths::BROADCAST_CONSOLE_DELETE => ui::broadcasts::delete_console;
    get    Session paths::BROADCAST => ui::broadcasts::show;
    post   Session paths::BROADCAST => ui::broadcasts::update;
    get    Session paths::BROADCAST_EDIT => ui::broadcasts::edit_form;
    post   Session paths::BROADCAST_SCHEDULE => ui::broadcasts::schedule;
    post   Session paths::BROADCAST_UNSCHEDULE => ui::broadcasts::unschedule;
    post   Session paths::BROADCAST_SUBMIT => ui::broadcasts::submit;
    post   Session paths::BROADCAST_APPROVE => ui::broadcasts::approve;
    post   Session paths::BROADCAST_CANCEL => ui::broadcasts::cancel;
    post   Session paths::BROADCAST_PREVIEW => ui::broadcasts::preview;
    get    Session paths::JOBS => ui::jobs::list;
    post   Session paths::JOB_RETRY => ui::jobs::retry;
    get    Session paths::TOKENS => ui::tokens::list;
    post   Session paths::TOKENS => ui::tokens::create;
    post   Session paths::TOKEN_REVOKE => ui::tokens::revoke;
    get    Public  paths::OPENAPI => api::openapi::document;
    get    Token   "/api/v1/tenant" => api::tenants::show;
    put    Token   "/api/v1/tenant" => api::tenants::update;
    get    Token   "/api/v1/stores" => api::stores::list;
    post   Token   "/api/v1/stores" => api::stores::create;
    get    Token   "/api/v1/stores/{store_id}" => api::stores::show;
    put    Token   "/api/v1/stores/{store_id}" => api::stores::update;
    get    Token   "/api/v1/users" => api::users::list;
    get    Token   "/api/v1/users/{user_id}" => api::users::show;
    post   Token   "/api/v1/invitations" => api::users::invite;
    get    Token   "/api/v1/followers" => api::followers::list;
    get    Token   "/api/v1/followers/summary" => api::followers::summary;
    get    Token   "/api/v1/followers/{follower_id}" => api::followers::show;
    put    Token   "/api/v1/followers/{follower_id}" => api::followers::update;
    get    Token   "/api/v1/followers/{follower_id}/messages" => api::followers::messages;
    get    Token   "/api/v1/followers/{follower_id}/notes" => api::followers::notes;
    post   Token   "/api/v1/followers/{follower_id}/notes" => api::followers::add_note;
    get    Token   "/api/v1/pay-settings" => api::payments::settings;
    put    Token   "/api/v1/pay-settings" => api::payments::put_settings;
    get    Token   "/api/v1/payments" => api::payments::list;
    get    Token   "/api/v1/payments/{payment_id}" => api::payments::show;
    post   Token   "/api/v1/reconciliation/bills" => api::reconcile::create;
    get    Token   "/api/v1/reconciliation/bills/{bill_id}" => api::reconcile::show_bill;
    get    Token   "/api/v1/reconciliation/runs" => api::reconcile::runs;
    get    Token   "/api/v1/reconciliation/runs/{run_id}" => api::reconcile::show_run;
    get    Token   "/api/v1/reconciliation/exceptions" => api::reconcile::exceptions;
    post   Token   "/api/v1/reconciliation/exceptions/{exception_id}/resolve" => api::reconcile::resolve;
    get    Token   "/api/v1/broadcasts" => api::broadcasts::list;
    post   Token   "/api/v1/broadcasts" => api::broadcasts::create;
    get    Token   "/api/v1/broadcasts/{broadcast_id}" => api::broadcasts::show;
    post   Token   "/api/v1/broadcasts/{broadcast_id}/schedule" => api::broadcasts::schedule;
    post   Token   "/api/v1/broadcasts/{broadcast_id}/cancel" => api::broadcasts::cancel;
    get    Token   "/api/v1/broadcast-slots" => api::broadcasts::slots;
    get    Token   "/api/v1/reply-rules" => api::replies::list;
    post   Token   "/api/v1/reply-rules" => api::replies::create;
    delete Token   "/api/v1/reply-rules/{rule_id}" => api::replies::delete;
    get    Token   "/api/v1/tags" => api::tags::list;
    post   Token   "/api/v1/tags" => api::tags::create;
    delete Token   "/api/v1/tags/{tag_id}" => api::tags::delete;
    post   Token   "/api/v1/tags/{tag_id}/followers" => api::tags::apply;
    get    Token   "/api/v1/attributes" => api::attributes::list;
    post   Token   "/api/v1/attributes" => api::attributes::create;
    delete Token   "/api/v1/attributes/{attribute_id}" => api::attributes::delete;
    get    Token   "/api/v1/followers/{follower_id}/attributes" => api::attributes::values;
    put    Token   "/api/v1/followers/{follower_id}/attributes" => api::attributes::set_values;
    get    Token   "/api/v1/segments" => api::attributes::segments_list;
    post   Token   "/api/v1/segments" => api::attributes::segment_create;
    delete Token   "/api/v1/segments/{segment_id}" => api::attributes::segment_delete;
    get    Token   "/api/v1/segments/{segment_id}/followers" => api::attributes::segment_followers;
    post   Token   "/api/v1/follower-imports" => api::imports::create;
    get    Token   "/api/v1/follower-imports/{import_id}" => api::imports::show;
    post   Token   "/api/v1/follower-imports/{import_id}/confirm" => api::imports::confirm;
    get    Token   "/api/v1/qr-codes" => api::wechat::qr_list;
    post   Token   "/api/v1/qr-codes" => api::wechat::qr_create;
    get    Token   "/api/v1/qr-codes/{qr_id}" => api::wechat::qr_show;
    put    Token   "/api/v1/qr-codes/{qr_id}" => api::wechat::qr_update;
    get    Token   "/api/v1/menu" => api::wechat::menu_show;
    put    Token   "/api/v1/menu" => api::wechat::menu_put;
    post   Token   "/api/v1/tags/sync" => api::wechat::tags_sync;
    post   Token   "/api/v1/followers/{follower_id}/messages" => api::wechat::send;
    get    Token   "/api/v1/loyalty/program" => api::loyalty::program;
    put    Token   "/api/v1/loyalty/program" => api::loyalty::save_program;
    get    Token   "/api/v1/followers/{follower_id}/points" => api::loyalty::balance;
    post   Token   "/api/v1/followers/{follower_id}/points" => api::loyalty::post;
    get    Token   "/api/v1/stamp-cards" => api::loyalty::cards;
    post   Token   "/api/v1/stamp-cards" => api::loyalty::create_card;
    post   Token   "/api/v1/followers/{follower_id}/stamps" => api::loyalty::stamp;
    get    Token   "/api/v1/campaigns" => api::coupons::list;
    post   Token   "/api/v1/campaigns" => api::coupons::create;
    get    Token   "/api/v1/campaigns/{campaign_id}" => api::coupons::show;
    post   Token   "/api/v1/campaigns/{campaign_id}/coupons" => api::coupons::issue;
    post   Token   "/api/v1/campaigns/{campaign_id}/bulk" => api::coupons::bulk;
    get    Token   "/api/v1/coupons/{code}" => api::coupons::validate;
    post   Token   "/api/v1/coupons/{code}/redeem" => api::coupons::redeem;
    post   Token   "/api/v1/coupons/{code}/void" => api::coupons::void;
}
