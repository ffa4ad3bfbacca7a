//! The follower's own page, reached by a signed, expiring link sent in a WeChat message:
//! their coupons with QR code, code, terms, validity and status. No account, mobile-first.

use crate::ctx::Ctx;
use crate::error::UiError;
use crate::paths;
use crate::render::{html, Page};
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;
use patron_domain::coupons as rules;
use patron_domain::links::{self, LinkError};
use patron_domain::TenantScope;
use patron_store::coupons::{self, Campaign, Coupon};
use patron_store::tenants;

fn key(state: &crate::AppState) -> &[u8] {
    state.secrets.mac_key()
}

/// The link to a follower's page.
pub fn link(state: &crate::AppState, slug: &str, tenant_id: i64, follower_id: i64) -> String {
    patron_app::links::FollowerPage::new(key(state), &state.cfg.base_url, slug)
        .link(tenant_id, follower_id)
}

#[derive(Template)]
#[template(path = "member.html")]
struct MemberPage {
    page: Page,
    slug: String,
    token: String,
    tz: String,
    shop: String,
    name: Option<String>,
    coupons: Vec<(Coupon, Option<Campaign>)>,
    points: i64,
    ledger: Vec<patron_store::loyalty::Entry>,
    cards: Vec<(patron_store::stamps::Card, i64)>,
    /// The tenant's stores, to name where a coupon is valid.
    stores: Vec<patron_store::stores::Store>,
}

impl MemberPage {
    /// Every condition the till checks besides the dates, in words: the minimum spend,
    /// the stores, a paused or ended campaign.
    fn conditions(&self, camp: &Option<Campaign>) -> Vec<String> {
        let Some(k) = camp else {
            return Vec::new();
        };
        let lang = self.page.lang;
        let mut out = Vec::new();
        if k.min_spend_fen > 0 {
            out.push(lang.t1("member.min_spend", rules::yuan(k.min_spend_fen)));
        }
        if let Some(ids) = k.stores() {
            let names: Vec<&str> = self
                .stores
                .iter()
                .filter(|s| ids.contains(&s.id))
                .map(|s| s.name.as_str())
                .collect();
            out.push(lang.t1("member.only_at", lang.list(&names)));
        }
        match k.status.as_str() {
            "paused" => out.push(lang.t("till.paused").to_string()),
            "ended" => out.push(lang.t("till.ended").to_string()),
            _ => {}
        }
        out
    }
    /// A stamp card's slots: `true` for each stamp held.
    fn slots(&self, card: &patron_store::stamps::Card, n: &i64) -> Vec<bool> {
        (0..card.stamps_required).map(|i| i < *n).collect()
    }
    fn when(&self, t: &chrono::NaiveDateTime) -> String {
        crate::format::local(t, &self.tz)
    }
    fn benefit(&self, c: &Option<Campaign>) -> String {
        c.as_ref()
            .map(|c| crate::format::benefit_text(self.page.lang, c))
            .unwrap_or_default()
    }
    fn display(&self, code: &str) -> String {
        rules::display(code)
    }
    fn usable(&self, c: &Coupon) -> bool {
        c.status == patron_domain::coupons::CouponStatus::Issued && c.valid_to > patron_store::now()
    }
    fn state(&self, c: &Coupon) -> String {
        let key = if c.status == patron_domain::coupons::CouponStatus::Issued
            && c.valid_to <= patron_store::now()
        {
            "coupon.status_expired".to_string()
        } else {
            format!("coupon.status_{}", c.status.as_str())
        };
        self.page.t(&key).to_string()
    }
}

/// The tenant and follower a page link names; an expired link is 410, anything else 404.
async fn open(
    ctx: &Ctx,
    slug: &str,
    token: &str,
) -> Result<(TenantScope, tenants::Tenant, i64), UiError> {
    open_for(ctx, links::Purpose::FollowerPage, slug, token).await
}

/// The tenant and follower a link for `purpose` names; an expired link is 410, anything
/// else 404.
pub(crate) async fn open_for(
    ctx: &Ctx,
    purpose: links::Purpose,
    slug: &str,
    token: &str,
) -> Result<(TenantScope, tenants::Tenant, i64), UiError> {
    let s = slug.to_string();
    let found = ctx
        .state
        .db(move |c| {
            let Some(r) = tenants::find_ref_by_slug(c, &s)? else {
                return Ok(None);
            };
            // The link is the follower's credential for this one tenant.
            let scope = TenantScope::system(r);
            let t = tenants::get(c, &scope)?;
            Ok(Some((scope, t)))
        })
        .await?;
    let Some((scope, tenant)) = found else {
        return Err(UiError::NotFound);
    };
    match links::verify_for(
        purpose,
        key(&ctx.state),
        scope.tenant_id().0,
        token,
        chrono::Utc::now().timestamp(),
    ) {
        Ok(f) => Ok((scope, tenant, f)),
        Err(LinkError::Expired) => Err(UiError::Gone),
        Err(LinkError::Invalid) => {
            tracing::info!(tenant = %slug, ?purpose, "follower link refused");
            Err(UiError::NotFound)
        }
    }
}

pub async fn page(ctx: Ctx, path: web::Path<(String, String)>) -> Result<HttpResponse, UiError> {
    let (slug, token) = path.into_inner();
    let (scope, tenant, follower) = open(&ctx, &slug, &token).await?;
    let (name, coupons, loyalty, stores) = ctx
        .state
        .db(move |c| {
            let f = patron_store::followers::get(c, &scope, follower)?;
            coupons::mark_opened(c, &scope, follower, patron_store::now())?;
            let stores = patron_store::stores::list(c, &scope)?;
            let list = coupons::of_follower(c, &scope, follower)?;
            let camps = coupons::list(c, &scope)?;
            let with: Vec<(Coupon, Option<Campaign>)> = list
                .into_iter()
                .map(|cp| {
                    let camp = camps.iter().find(|k| k.id == cp.campaign_id).cloned();
                    (cp, camp)
                })
                .collect();
            let loyalty = (
                patron_store::loyalty::balance(c, &scope, follower)?,
                patron_store::loyalty::entries(c, &scope, follower, 5)?,
                patron_store::stamps::progress(c, &scope, follower)?
                    .into_iter()
                    .filter(|(card, _)| card.active)
                    .collect::<Vec<_>>(),
            );
            Ok((f.name, with, loyalty, stores))
        })
        .await?;
    let (points, ledger, cards) = loyalty;
    let mut page = ctx.page("member", "member.title", None).await?;
    page.user = None;
    Ok(html(
        &MemberPage {
            page,
            slug: tenant.slug.clone(),
            token,
            tz: tenant.time_zone.clone(),
            shop: tenant.name.clone(),
            name,
            coupons,
            points,
            ledger,
            cards,
            stores,
        },
        StatusCode::OK,
    ))
}

/// The file name of the member card's QR (no coupon code has a hyphen before a lowercase
/// word, so it never names a coupon).
pub const MEMBER_CARD: &str = "member-card";

/// A coupon's QR on the follower's page: only for a coupon the link's follower holds.
pub async fn qr(
    ctx: Ctx,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, UiError> {
    let (slug, token, file) = path.into_inner();
    let (scope, _t, follower) = open(&ctx, &slug, &token).await?;
    let (code, ext) = file.rsplit_once('.').ok_or(UiError::NotFound)?;
    let key = patron_app::coupons::qr_key(ctx.state.secrets.mac_key(), &scope);
    if code == MEMBER_CARD {
        // The member card: the till reads the follower from it (stamps, points).
        let payload = patron_domain::loyalty::member_payload(&key, follower);
        return super::coupon_image(&payload, ext);
    }
    let (s2, c2) = (scope.clone(), code.to_string());
    let coupon = ctx.state.db(move |c| coupons::by_code(c, &s2, &c2)).await?;
    if coupon.follower_id != Some(follower) {
        return Err(UiError::NotFound);
    }
    let payload = rules::qr_payload(&key, &coupon.code);
    super::coupon_image(&payload, ext)
}

/// Opens the follower's own page as they would see it (a fresh signed link), so a merchant
/// can check what a follower is sent.
pub async fn preview(ctx: Ctx, path: web::Path<(String, i64)>) -> Result<HttpResponse, UiError> {
    let (slug, id) = path.into_inner();
    let (scope, tenant) = ctx.tenant(&slug, patron_domain::Permission::Market).await?;
    ctx.state
        .db(move |c| patron_store::followers::get(c, &scope, id))
        .await?;
    let url = link(&ctx.state, &tenant.slug, tenant.id, id);
    Ok(HttpResponse::SeeOther()
        .insert_header((actix_web::http::header::LOCATION, url))
        .finish())
}

/// Sends the follower the link to their page as a customer-service message (a job).
pub async fn send_link(
    ctx: Ctx,
    path: web::Path<(String, i64)>,
    f: web::Form<crate::forms::CsrfOnly>,
) -> Result<HttpResponse, UiError> {
    let (slug, id) = path.into_inner();
    let (scope, tenant) = ctx.tenant(&slug, patron_domain::Permission::Market).await?;
    ctx.check_csrf(&f.csrf)?;
    let back = paths::tenant(&tenant.slug).follower(id);
    let secure = ctx.state.cfg.secure_cookies;
    // Another tenant's (or no) follower is 404 before anything else is said about it.
    let s2 = scope.clone();
    ctx.state
        .db(move |c| patron_store::followers::get(c, &s2, id))
        .await?;
    if tenant.wx_appid.is_none() || !tenant.has_secret().app_secret {
        return Ok(crate::render::redirect_flash(
            &back,
            "err",
            "flash.sync_needs_settings",
            secure,
        ));
    }
    let url = link(&ctx.state, &tenant.slug, tenant.id, id);
    let text = ctx.lang.t1("member.link_message", url);
    let text = vec![patron_domain::replies::Content::Text { text }];
    ctx.state
        .run(move |c| patron_app::followers::send_messages(c, &scope, id, text))
        .await?;
    Ok(crate::render::redirect_flash(
        &back,
        "ok",
        "flash.message_queued",
        secure,
    ))
}
