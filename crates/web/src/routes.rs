//! The one list of routes. The macro both registers them and records them in [`ROUTES`],
//! so tests (the tenant-isolation and CSRF sweeps, the OpenAPI check) cover every route,
//! including routes added later, without anyone remembering to list them.

use crate::{api, assets, ui, webhook};
use actix_web::web;

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
}

#[derive(Debug, Clone, Copy)]
pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
    pub access: Access,
}

macro_rules! routes {
    ($($method:ident $path:literal $access:ident => $handler:path;)*) => {
        pub const ROUTES: &[Route] = &[
            $(Route { method: stringify!($method), path: $path, access: Access::$access },)*
        ];

        pub fn register(cfg: &mut web::ServiceConfig) {
            $(cfg.route($path, web::$method().to($handler));)*
        }
    };
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
    get    "/healthz" Public => ui::health::healthz;
    get    "/readyz" Public => ui::health::readyz;
    get    "/static/{name}" Public => assets::serve;
    get    "/metrics" Public => webhook::metrics;
    get    "/wx/{tenant}" Webhook => webhook::verify;
    post   "/wx/{tenant}" Webhook => webhook::push;

    get    "/" Public => ui::home;
    get    "/setup" Public => ui::setup::form;
    post   "/setup" Public => ui::setup::submit;
    get    "/login" Public => ui::auth::login_form;
    post   "/login" Public => ui::auth::login;
    post   "/logout" Session => ui::auth::logout;
    post   "/lang" Public => ui::account::set_language;
    get    "/password/forgot" Public => ui::auth::forgot_form;
    post   "/password/forgot" Public => ui::auth::forgot;
    get    "/password/reset/{token}" Public => ui::auth::reset_form;
    post   "/password/reset/{token}" Public => ui::auth::reset;
    get    "/invite/{token}" Public => ui::invite::form;
    get    "/m/{tenant}/{token}" Public => ui::follower_page::page;
    get    "/m/{tenant}/{token}/{coupon_file}" Public => ui::follower_page::qr;
    post   "/invite/{token}" Public => ui::invite::accept;

    get    "/account" Session => ui::account::page;
    post   "/account/password" Session => ui::account::change_password;
    post   "/account/sessions/revoke" Session => ui::account::revoke_other_sessions;

    get    "/agency/tenants" Session => ui::agency::tenants;
    get    "/agency/tenants/new" Session => ui::agency::new_tenant;
    post   "/agency/tenants" Session => ui::agency::create_tenant;
    get    "/agency/users" Session => ui::agency::users;
    post   "/agency/invitations" Session => ui::agency::invite_admin;
    get    "/agency/settings" Session => ui::agency::settings;
    post   "/agency/settings" Session => ui::agency::save_settings;

    get    "/t/{tenant}" Session => ui::tenant::dashboard;
    get    "/t/{tenant}/settings" Session => ui::tenant::settings_form;
    post   "/t/{tenant}/settings" Session => ui::tenant::save_settings;
    get    "/t/{tenant}/stores" Session => ui::stores::list;
    post   "/t/{tenant}/stores" Session => ui::stores::create;
    get    "/t/{tenant}/stores/{store_id}" Session => ui::stores::edit_form;
    post   "/t/{tenant}/stores/{store_id}" Session => ui::stores::update;
    get    "/t/{tenant}/users" Session => ui::members::list;
    post   "/t/{tenant}/invitations" Session => ui::members::invite;
    post   "/t/{tenant}/invitations/{invitation_id}/revoke" Session => ui::members::revoke_invitation;
    post   "/t/{tenant}/users/{user_id}/remove" Session => ui::members::remove;
    get    "/t/{tenant}/followers" Session => ui::followers::list;
    get    "/t/{tenant}/followers.csv" Session => ui::export::followers_csv;
    post   "/t/{tenant}/followers/sync" Session => ui::followers::sync;
    get    "/t/{tenant}/followers/import" Session => ui::imports::page;
    post   "/t/{tenant}/followers/import" Session => ui::imports::upload;
    get    "/t/{tenant}/followers/imports/{import_id}" Session => ui::imports::show;
    post   "/t/{tenant}/followers/imports/{import_id}/confirm" Session => ui::imports::confirm;
    post   "/t/{tenant}/attributes" Session => ui::attributes::create;
    post   "/t/{tenant}/attributes/{attribute_id}/delete" Session => ui::attributes::delete;
    post   "/t/{tenant}/segments" Session => ui::segments::create_segment;
    get    "/t/{tenant}/segments/{segment_id}" Session => ui::segments::open_segment;
    post   "/t/{tenant}/segments/{segment_id}/delete" Session => ui::segments::delete_segment;
    post   "/t/{tenant}/followers/tags" Session => ui::tags::apply_tag;
    post   "/t/{tenant}/tags" Session => ui::tags::create_tag;
    post   "/t/{tenant}/tags/{tag_id}/delete" Session => ui::tags::delete_tag;
    get    "/t/{tenant}/followers/{follower_id}" Session => ui::followers::show;
    post   "/t/{tenant}/followers/{follower_id}" Session => ui::followers::update;
    post   "/t/{tenant}/followers/{follower_id}/notes" Session => ui::followers::add_note;
    post   "/t/{tenant}/followers/{follower_id}/attributes" Session => ui::attributes::set_values;
    post   "/t/{tenant}/followers/{follower_id}/message" Session => ui::followers::send_message;
    get    "/t/{tenant}/replies" Session => ui::replies::list;
    post   "/t/{tenant}/replies" Session => ui::replies::create;
    post   "/t/{tenant}/replies/{rule_id}/delete" Session => ui::replies::delete;
    get    "/t/{tenant}/menu" Session => ui::menu::page;
    post   "/t/{tenant}/menu" Session => ui::menu::save;
    get    "/t/{tenant}/qr" Session => ui::qr::list;
    post   "/t/{tenant}/qr" Session => ui::qr::create;
    post   "/t/{tenant}/qr/{qr_id}/tag" Session => ui::qr::set_tag;
    get    "/t/{tenant}/qr/{qr_file}" Session => ui::qr::image;
    post   "/t/{tenant}/tags/sync" Session => ui::tags::sync_tags;
    get    "/t/{tenant}/campaigns" Session => ui::campaigns::list;
    post   "/t/{tenant}/campaigns" Session => ui::campaigns::create;
    get    "/t/{tenant}/campaigns/{campaign_id}" Session => ui::campaigns::show;
    post   "/t/{tenant}/campaigns/{campaign_id}/status" Session => ui::campaigns::set_status;
    post   "/t/{tenant}/campaigns/{campaign_id}/bulk" Session => ui::campaigns::bulk;
    post   "/t/{tenant}/followers/{follower_id}/coupons" Session => ui::campaigns::issue_to_follower;
    post   "/t/{tenant}/followers/{follower_id}/link" Session => ui::follower_page::send_link;
    get    "/t/{tenant}/followers/{follower_id}/page" Session => ui::follower_page::preview;
    get    "/t/{tenant}/coupons" Session => ui::coupon_lookup::lookup;
    post   "/t/{tenant}/campaigns/{campaign_id}/import" Session => ui::coupon_import::import;
    get    "/t/{tenant}/coupons/{coupon_file}" Session => ui::campaigns::qr;
    get    "/t/{tenant}/loyalty" Session => ui::loyalty::page;
    post   "/t/{tenant}/loyalty" Session => ui::loyalty::save;
    post   "/t/{tenant}/stamp-cards" Session => ui::loyalty::create_card;
    post   "/t/{tenant}/stamp-cards/{card_id}" Session => ui::loyalty::update_card;
    post   "/t/{tenant}/followers/{follower_id}/points" Session => ui::loyalty::post_points;
    post   "/t/{tenant}/followers/{follower_id}/stamps" Session => ui::loyalty::give_stamp;
    get    "/t/{tenant}/cashier" Session => ui::cashier::page;
    post   "/t/{tenant}/cashier/lookup" Session => ui::cashier::lookup;
    post   "/t/{tenant}/cashier/redeem" Session => ui::cashier::redeem;
    post   "/t/{tenant}/cashier/void" Session => ui::cashier::void;
    get    "/t/{tenant}/tokens" Session => ui::tokens::list;
    post   "/t/{tenant}/tokens" Session => ui::tokens::create;
    post   "/t/{tenant}/tokens/{token_id}/revoke" Session => ui::tokens::revoke;

    get    "/api/v1/openapi.json" Public => api::openapi::document;
    get    "/api/v1/tenant" Token => api::tenants::show;
    put    "/api/v1/tenant" Token => api::tenants::update;
    get    "/api/v1/stores" Token => api::stores::list;
    post   "/api/v1/stores" Token => api::stores::create;
    get    "/api/v1/stores/{store_id}" Token => api::stores::show;
    put    "/api/v1/stores/{store_id}" Token => api::stores::update;
    get    "/api/v1/users" Token => api::users::list;
    get    "/api/v1/users/{user_id}" Token => api::users::show;
    post   "/api/v1/invitations" Token => api::users::invite;
    get    "/api/v1/followers" Token => api::followers::list;
    get    "/api/v1/followers/summary" Token => api::followers::summary;
    get    "/api/v1/followers/{follower_id}" Token => api::followers::show;
    put    "/api/v1/followers/{follower_id}" Token => api::followers::update;
    get    "/api/v1/followers/{follower_id}/messages" Token => api::followers::messages;
    get    "/api/v1/followers/{follower_id}/notes" Token => api::followers::notes;
    post   "/api/v1/followers/{follower_id}/notes" Token => api::followers::add_note;
    get    "/api/v1/reply-rules" Token => api::replies::list;
    post   "/api/v1/reply-rules" Token => api::replies::create;
    delete "/api/v1/reply-rules/{rule_id}" Token => api::replies::delete;
    get    "/api/v1/tags" Token => api::tags::list;
    post   "/api/v1/tags" Token => api::tags::create;
    delete "/api/v1/tags/{tag_id}" Token => api::tags::delete;
    post   "/api/v1/tags/{tag_id}/followers" Token => api::tags::apply;
    get    "/api/v1/attributes" Token => api::attributes::list;
    post   "/api/v1/attributes" Token => api::attributes::create;
    delete "/api/v1/attributes/{attribute_id}" Token => api::attributes::delete;
    get    "/api/v1/followers/{follower_id}/attributes" Token => api::attributes::values;
    put    "/api/v1/followers/{follower_id}/attributes" Token => api::attributes::set_values;
    get    "/api/v1/segments" Token => api::attributes::segments_list;
    post   "/api/v1/segments" Token => api::attributes::segment_create;
    delete "/api/v1/segments/{segment_id}" Token => api::attributes::segment_delete;
    get    "/api/v1/segments/{segment_id}/followers" Token => api::attributes::segment_followers;
    post   "/api/v1/follower-imports" Token => api::imports::create;
    get    "/api/v1/follower-imports/{import_id}" Token => api::imports::show;
    post   "/api/v1/follower-imports/{import_id}/confirm" Token => api::imports::confirm;
    get    "/api/v1/qr-codes" Token => api::wechat::qr_list;
    post   "/api/v1/qr-codes" Token => api::wechat::qr_create;
    get    "/api/v1/qr-codes/{qr_id}" Token => api::wechat::qr_show;
    put    "/api/v1/qr-codes/{qr_id}" Token => api::wechat::qr_update;
    get    "/api/v1/menu" Token => api::wechat::menu_show;
    put    "/api/v1/menu" Token => api::wechat::menu_put;
    post   "/api/v1/tags/sync" Token => api::wechat::tags_sync;
    post   "/api/v1/followers/{follower_id}/messages" Token => api::wechat::send;
    get    "/api/v1/loyalty/program" Token => api::loyalty::program;
    put    "/api/v1/loyalty/program" Token => api::loyalty::save_program;
    get    "/api/v1/followers/{follower_id}/points" Token => api::loyalty::balance;
    post   "/api/v1/followers/{follower_id}/points" Token => api::loyalty::post;
    get    "/api/v1/stamp-cards" Token => api::loyalty::cards;
    post   "/api/v1/stamp-cards" Token => api::loyalty::create_card;
    post   "/api/v1/followers/{follower_id}/stamps" Token => api::loyalty::stamp;
    get    "/api/v1/campaigns" Token => api::coupons::list;
    post   "/api/v1/campaigns" Token => api::coupons::create;
    get    "/api/v1/campaigns/{campaign_id}" Token => api::coupons::show;
    post   "/api/v1/campaigns/{campaign_id}/coupons" Token => api::coupons::issue;
    post   "/api/v1/campaigns/{campaign_id}/bulk" Token => api::coupons::bulk;
    get    "/api/v1/coupons/{code}" Token => api::coupons::validate;
    post   "/api/v1/coupons/{code}/redeem" Token => api::coupons::redeem;
    post   "/api/v1/coupons/{code}/void" Token => api::coupons::void;
}
