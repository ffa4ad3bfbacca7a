//! The one list of routes. The macro both registers them and records them in [`ROUTES`],
//! so tests (the tenant-isolation and CSRF sweeps, the OpenAPI check) cover every route,
//! including routes added later, without anyone remembering to list them.

use crate::{api, assets, views, webhook};
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

routes! {
    get    "/healthz" Public => views::health::healthz;
    get    "/readyz" Public => views::health::readyz;
    get    "/static/{name}" Public => assets::serve;
    get    "/metrics" Public => webhook::metrics;
    get    "/wx/{tenant}" Webhook => webhook::verify;
    post   "/wx/{tenant}" Webhook => webhook::push;

    get    "/" Public => views::home;
    get    "/setup" Public => views::setup::form;
    post   "/setup" Public => views::setup::submit;
    get    "/login" Public => views::auth::login_form;
    post   "/login" Public => views::auth::login;
    post   "/logout" Session => views::auth::logout;
    post   "/lang" Public => views::account::set_language;
    get    "/password/forgot" Public => views::auth::forgot_form;
    post   "/password/forgot" Public => views::auth::forgot;
    get    "/password/reset/{token}" Public => views::auth::reset_form;
    post   "/password/reset/{token}" Public => views::auth::reset;
    get    "/invite/{token}" Public => views::invite::form;
    get    "/m/{tenant}/{token}" Public => views::member::page;
    get    "/m/{tenant}/{token}/{coupon_file}" Public => views::member::qr;
    post   "/invite/{token}" Public => views::invite::accept;

    get    "/account" Session => views::account::page;
    post   "/account/password" Session => views::account::change_password;
    post   "/account/sessions/revoke" Session => views::account::revoke_other_sessions;

    get    "/agency/tenants" Session => views::agency::tenants;
    get    "/agency/tenants/new" Session => views::agency::new_tenant;
    post   "/agency/tenants" Session => views::agency::create_tenant;
    get    "/agency/users" Session => views::agency::users;
    post   "/agency/invitations" Session => views::agency::invite_admin;
    get    "/agency/settings" Session => views::agency::settings;
    post   "/agency/settings" Session => views::agency::save_settings;

    get    "/t/{tenant}" Session => views::tenant::dashboard;
    get    "/t/{tenant}/settings" Session => views::tenant::settings_form;
    post   "/t/{tenant}/settings" Session => views::tenant::save_settings;
    get    "/t/{tenant}/stores" Session => views::stores::list;
    post   "/t/{tenant}/stores" Session => views::stores::create;
    get    "/t/{tenant}/stores/{store_id}" Session => views::stores::edit_form;
    post   "/t/{tenant}/stores/{store_id}" Session => views::stores::update;
    get    "/t/{tenant}/users" Session => views::members::list;
    post   "/t/{tenant}/invitations" Session => views::members::invite;
    post   "/t/{tenant}/invitations/{invitation_id}/revoke" Session => views::members::revoke_invitation;
    post   "/t/{tenant}/users/{user_id}/remove" Session => views::members::remove;
    get    "/t/{tenant}/followers" Session => views::followers::list;
    get    "/t/{tenant}/followers.csv" Session => views::export::followers_csv;
    post   "/t/{tenant}/followers/sync" Session => views::followers::sync;
    get    "/t/{tenant}/followers/import" Session => views::imports::page;
    post   "/t/{tenant}/followers/import" Session => views::imports::upload;
    get    "/t/{tenant}/followers/imports/{import_id}" Session => views::imports::show;
    post   "/t/{tenant}/followers/imports/{import_id}/confirm" Session => views::imports::confirm;
    post   "/t/{tenant}/attributes" Session => views::attributes::create;
    post   "/t/{tenant}/attributes/{attribute_id}/delete" Session => views::attributes::delete;
    post   "/t/{tenant}/segments" Session => views::attributes::create_segment;
    get    "/t/{tenant}/segments/{segment_id}" Session => views::attributes::open_segment;
    post   "/t/{tenant}/segments/{segment_id}/delete" Session => views::attributes::delete_segment;
    post   "/t/{tenant}/followers/tags" Session => views::followers::apply_tag;
    post   "/t/{tenant}/tags" Session => views::followers::create_tag;
    post   "/t/{tenant}/tags/{tag_id}/delete" Session => views::followers::delete_tag;
    get    "/t/{tenant}/followers/{follower_id}" Session => views::followers::show;
    post   "/t/{tenant}/followers/{follower_id}" Session => views::followers::update;
    post   "/t/{tenant}/followers/{follower_id}/notes" Session => views::followers::add_note;
    post   "/t/{tenant}/followers/{follower_id}/attributes" Session => views::attributes::set_values;
    post   "/t/{tenant}/followers/{follower_id}/message" Session => views::followers::send_message;
    get    "/t/{tenant}/replies" Session => views::replies::list;
    post   "/t/{tenant}/replies" Session => views::replies::create;
    post   "/t/{tenant}/replies/{rule_id}/delete" Session => views::replies::delete;
    get    "/t/{tenant}/menu" Session => views::menu::page;
    post   "/t/{tenant}/menu" Session => views::menu::save;
    get    "/t/{tenant}/qr" Session => views::qr::list;
    post   "/t/{tenant}/qr" Session => views::qr::create;
    post   "/t/{tenant}/qr/{qr_id}/tag" Session => views::qr::set_tag;
    get    "/t/{tenant}/qr/{qr_file}" Session => views::qr::image;
    post   "/t/{tenant}/tags/sync" Session => views::followers::sync_tags;
    get    "/t/{tenant}/campaigns" Session => views::campaigns::list;
    post   "/t/{tenant}/campaigns" Session => views::campaigns::create;
    get    "/t/{tenant}/campaigns/{campaign_id}" Session => views::campaigns::show;
    post   "/t/{tenant}/campaigns/{campaign_id}/status" Session => views::campaigns::set_status;
    post   "/t/{tenant}/campaigns/{campaign_id}/bulk" Session => views::campaigns::bulk;
    post   "/t/{tenant}/followers/{follower_id}/coupons" Session => views::campaigns::issue_to_follower;
    post   "/t/{tenant}/followers/{follower_id}/link" Session => views::member::send_link;
    get    "/t/{tenant}/followers/{follower_id}/page" Session => views::member::preview;
    get    "/t/{tenant}/coupons" Session => views::coupon_lookup::lookup;
    post   "/t/{tenant}/campaigns/{campaign_id}/import" Session => views::coupon_lookup::import;
    get    "/t/{tenant}/coupons/{coupon_file}" Session => views::campaigns::qr;
    get    "/t/{tenant}/loyalty" Session => views::loyalty::page;
    post   "/t/{tenant}/loyalty" Session => views::loyalty::save;
    post   "/t/{tenant}/stamp-cards" Session => views::loyalty::create_card;
    post   "/t/{tenant}/stamp-cards/{card_id}" Session => views::loyalty::update_card;
    post   "/t/{tenant}/followers/{follower_id}/points" Session => views::loyalty::post_points;
    post   "/t/{tenant}/followers/{follower_id}/stamps" Session => views::loyalty::give_stamp;
    get    "/t/{tenant}/cashier" Session => views::cashier::page;
    post   "/t/{tenant}/cashier/lookup" Session => views::cashier::lookup;
    post   "/t/{tenant}/cashier/redeem" Session => views::cashier::redeem;
    post   "/t/{tenant}/cashier/void" Session => views::cashier::void;
    get    "/t/{tenant}/tokens" Session => views::tokens::list;
    post   "/t/{tenant}/tokens" Session => views::tokens::create;
    post   "/t/{tenant}/tokens/{token_id}/revoke" Session => views::tokens::revoke;

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
