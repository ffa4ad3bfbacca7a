//! Points and stamps for merchants: the points program (first-follow points, the daily
//! check-in word and its replies, expiry), the stamp cards, and, on a follower's page,
//! posting points and giving stamps by hand.

use crate::ctx::Ctx;
use crate::error::UiError;
use crate::paths;
use crate::render::{html, redirect_flash, redirect_flash_with, Page};
use crate::ui::messages as form_messages;
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;
use patron_app::loyalty as app_loyalty;
use patron_app::AppError;
use patron_domain::loyalty::Program;
use patron_domain::{validate, Permission};
use patron_store::coupons::Campaign;
use patron_store::loyalty::{self, Posted};
use patron_store::stamps::{self, Card, CardInput, Stamped};
use patron_store::StoreError;
use serde::Deserialize;

#[derive(Deserialize, Default, Clone)]
#[serde(default)]
pub struct ProgramForm {
    csrf: String,
    subscribe_points: String,
    checkin_keyword: String,
    checkin_points: String,
    checkin_reply: String,
    checkin_again_reply: String,
    points_per_yuan: String,
    expiry_days: String,
}

impl ProgramForm {
    fn of(p: &Program) -> ProgramForm {
        ProgramForm {
            csrf: String::new(),
            subscribe_points: p.subscribe_points.to_string(),
            checkin_keyword: p.checkin_keyword.clone(),
            checkin_points: p.checkin_points.to_string(),
            checkin_reply: p.checkin_reply.clone(),
            checkin_again_reply: p.checkin_again_reply.clone(),
            points_per_yuan: p.points_per_yuan.to_string(),
            expiry_days: p.expiry_days.map(|d| d.to_string()).unwrap_or_default(),
        }
    }

    /// A first program, in the merchant's language.
    fn starter(page: &Page) -> ProgramForm {
        ProgramForm {
            subscribe_points: "0".into(),
            checkin_points: "10".into(),
            checkin_keyword: page.t("loyalty.default_keyword").to_string(),
            checkin_reply: page.t("loyalty.default_reply").to_string(),
            checkin_again_reply: page.t("loyalty.default_again").to_string(),
            points_per_yuan: "0".into(),
            ..Default::default()
        }
    }

    fn program(&self) -> Result<Program, validate::Invalid> {
        let n = |s: &str, field: &'static str| -> Result<i64, validate::Invalid> {
            match s.trim() {
                "" => Ok(0),
                v => v
                    .parse::<i64>()
                    .map_err(|_| validate::invalid(field, "invalid_points")),
            }
        };
        let p = Program {
            subscribe_points: n(&self.subscribe_points, "subscribe_points")?,
            checkin_keyword: self.checkin_keyword.trim().to_string(),
            checkin_points: n(&self.checkin_points, "checkin_points")?,
            checkin_reply: self.checkin_reply.trim().to_string(),
            checkin_again_reply: self.checkin_again_reply.trim().to_string(),
            points_per_yuan: n(&self.points_per_yuan, "points_per_yuan")?,
            expiry_days: match self.expiry_days.trim() {
                "" => None,
                v => Some(
                    v.parse::<i64>()
                        .map_err(|_| validate::invalid("expiry_days", "invalid_expiry"))?,
                ),
            },
        };
        p.validate()
            .map_err(|(field, code)| validate::invalid(field, code))?;
        Ok(p)
    }
}

#[derive(Template)]
#[template(path = "loyalty.html")]
struct LoyaltyPage {
    page: Page,
    slug: String,
    form: ProgramForm,
    errors: Vec<String>,
    cards: Vec<Card>,
    campaigns: Vec<Campaign>,
    card_errors: Vec<String>,
}

impl LoyaltyPage {
    fn campaign_name(&self, id: &i64) -> String {
        self.campaigns
            .iter()
            .find(|c| c.id == *id)
            .map(|c| c.name.clone())
            .unwrap_or_else(|| format!("#{id}"))
    }
}

async fn render(
    ctx: &Ctx,
    slug: &str,
    form: Option<ProgramForm>,
    errors: Vec<String>,
    card_errors: Vec<String>,
) -> Result<HttpResponse, UiError> {
    let (scope, tenant) = ctx.tenant(slug, Permission::Market).await?;
    let s2 = scope.clone();
    let (program, cards, campaigns) = ctx
        .state
        .db(move |c| {
            Ok((
                loyalty::program(c, &s2)?,
                stamps::list(c, &s2)?,
                patron_store::coupons::list(c, &s2)?,
            ))
        })
        .await?;
    let page = ctx
        .page("loyalty", "loyalty.title", Some((&scope, &tenant)))
        .await?;
    let form = form.unwrap_or_else(|| match &program {
        Some(p) => ProgramForm::of(p),
        None => ProgramForm::starter(&page),
    });
    let status = if errors.is_empty() && card_errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    Ok(html(
        &LoyaltyPage {
            page,
            slug: tenant.slug.clone(),
            form,
            errors,
            cards,
            campaigns,
            card_errors,
        },
        status,
    ))
}

pub async fn page(ctx: Ctx, slug: web::Path<String>) -> Result<HttpResponse, UiError> {
    render(&ctx, &slug, None, vec![], vec![]).await
}

pub async fn save(
    ctx: Ctx,
    slug: web::Path<String>,
    f: web::Form<ProgramForm>,
) -> Result<HttpResponse, UiError> {
    let (scope, tenant) = ctx.tenant(&slug, Permission::Market).await?;
    ctx.check_csrf(&f.csrf)?;
    let form = f.into_inner();
    let program = match form.program() {
        Ok(p) => p,
        Err(i) => {
            tracing::info!(tenant = %tenant.slug, field = i.field, "points program refused");
            let e = form_messages(ctx.lang, &[i]);
            return render(&ctx, &slug, Some(form), e, vec![]).await;
        }
    };
    ctx.state
        .db(move |c| loyalty::save_program(c, &scope, &program))
        .await?;
    // The webhook answers check-ins from its cache of the tenant's settings.
    ctx.state.forget_cached(Some(&tenant.slug));
    tracing::info!(tenant = %tenant.slug, "points program saved");
    Ok(redirect_flash(
        &paths::tenant(&tenant.slug).loyalty(),
        "ok",
        "flash.saved",
        ctx.state.cfg.secure_cookies,
    ))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct CardForm {
    csrf: String,
    name: String,
    stamps_required: String,
    reward_campaign_id: String,
    stamp_on_checkin: Option<String>,
    active: Option<String>,
}

impl CardForm {
    fn input(&self, default_active: bool) -> Result<CardInput, validate::Invalid> {
        Ok(CardInput {
            name: self.name.clone(),
            stamps_required: self
                .stamps_required
                .trim()
                .parse()
                .map_err(|_| validate::invalid("stamps_required", "out_of_range"))?,
            reward_campaign_id: self
                .reward_campaign_id
                .trim()
                .parse()
                .map_err(|_| validate::invalid("reward_campaign_id", "required"))?,
            stamp_on_checkin: self.stamp_on_checkin.is_some(),
            active: self.active.is_some() || default_active,
        })
    }
}

/// Creates a card (`id` None) or updates one: form errors and refusals re-render the
/// page with 422, success goes back to it with a flash.
async fn save_card(
    ctx: &Ctx,
    slug: &str,
    id: Option<i64>,
    f: &CardForm,
) -> Result<HttpResponse, UiError> {
    let (scope, tenant) = ctx.tenant(slug, Permission::Market).await?;
    ctx.check_csrf(&f.csrf)?;
    if let Some(id) = id {
        // The card must be the tenant's before anything in the form is judged.
        let s2 = scope.clone();
        ctx.state.db(move |c| stamps::get(c, &s2, id)).await?;
    }
    // A new card starts switched on; an update says what it wants.
    let input = match f.input(id.is_none()) {
        Ok(i) => i,
        Err(i) => {
            let e = form_messages(ctx.lang, &[i]);
            return render(ctx, slug, None, vec![], e).await;
        }
    };
    let saved = ctx
        .state
        .db(move |c| match id {
            Some(id) => stamps::update(c, &scope, id, &input),
            None => stamps::create(c, &scope, &input),
        })
        .await;
    match saved {
        Ok(card) => {
            tracing::info!(tenant = %tenant.slug, card = card.id, "stamp card saved");
            Ok(redirect_flash(
                &paths::tenant(&tenant.slug).loyalty(),
                "ok",
                "flash.saved",
                ctx.state.cfg.secure_cookies,
            ))
        }
        Err(StoreError::Invalid(i)) => {
            let e = form_messages(ctx.lang, &[i]);
            render(ctx, slug, None, vec![], e).await
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn create_card(
    ctx: Ctx,
    slug: web::Path<String>,
    f: web::Form<CardForm>,
) -> Result<HttpResponse, UiError> {
    save_card(&ctx, &slug, None, &f).await
}

pub async fn update_card(
    ctx: Ctx,
    path: web::Path<(String, i64)>,
    f: web::Form<CardForm>,
) -> Result<HttpResponse, UiError> {
    let (slug, id) = path.into_inner();
    save_card(&ctx, &slug, Some(id), &f).await
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct PointsForm {
    csrf: String,
    kind: String,
    points: String,
    reason: String,
}

/// Posts points to a follower by hand (earn, spend, or a signed adjustment with a reason).
pub async fn post_points(
    ctx: Ctx,
    path: web::Path<(String, i64)>,
    f: web::Form<PointsForm>,
) -> Result<HttpResponse, UiError> {
    let (slug, follower) = path.into_inner();
    let (scope, tenant) = ctx.tenant(&slug, Permission::Market).await?;
    ctx.check_csrf(&f.csrf)?;
    let user = ctx.require_user()?.user.clone();
    let back = paths::tenant(&tenant.slug).follower_at(follower, "points");
    let secure = ctx.state.cfg.secure_cookies;
    let (kind, points, reason) = (
        f.kind.clone(),
        f.points.trim().parse().ok(),
        f.reason.clone(),
    );
    // A stranger's follower is 404 before the form is judged (inside the operation).
    let r = ctx
        .state
        .run(move |c| {
            app_loyalty::post_points(
                c,
                &scope,
                follower,
                &app_loyalty::PointsRequest {
                    kind: &kind,
                    points,
                    reason: &reason,
                    source: "manual",
                    key: None,
                    user: Some((user.id, &user.name)),
                },
            )
        })
        .await;
    Ok(match r {
        Ok(Posted::Done { balance, .. }) => {
            tracing::info!(tenant = %tenant.slug, follower, balance, "points posted by hand");
            redirect_flash(&back, "ok", "flash.points_posted", secure)
        }
        Ok(Posted::Insufficient { .. }) => {
            redirect_flash(&back, "err", "flash.points_insufficient", secure)
        }
        Ok(Posted::Duplicate { .. }) => redirect_flash(&back, "ok", "flash.saved", secure),
        Err(AppError::Invalid(i)) => {
            let field = i.first().map(|i| i.field);
            tracing::info!(tenant = %tenant.slug, follower, ?field, "points refused");
            redirect_flash(&back, "err", "flash.points_invalid", secure)
        }
        Err(e) => return Err(e.into()),
    })
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct StampForm {
    csrf: String,
    card_id: i64,
    back: String,
    /// Set at the till: the store the stamp was given at.
    store_id: Option<i64>,
}

/// Gives a follower one stamp by hand (the follower's page) or at the till.
pub async fn give_stamp(
    ctx: Ctx,
    path: web::Path<(String, i64)>,
    f: web::Form<StampForm>,
) -> Result<HttpResponse, UiError> {
    let (slug, follower) = path.into_inner();
    // At the till (a store given) it is the cashier's work; by hand, the marketer's.
    let at_till = f.store_id.is_some_and(|s| s > 0);
    let needed = if at_till {
        Permission::Redeem
    } else {
        Permission::Market
    };
    let (scope, tenant) = ctx.tenant(&slug, needed).await?;
    ctx.check_csrf(&f.csrf)?;
    let user = ctx.require_user()?.user.clone();
    let back = super::safe_next(&f.back)
        .filter(|b| b.starts_with(&format!("{}/", paths::tenant(&tenant.slug).home())))
        .map(str::to_string)
        .unwrap_or_else(|| paths::tenant(&tenant.slug).follower_at(follower, "stamps"));
    let card = f.card_id;
    let secure = ctx.state.cfg.secure_cookies;
    let store = f.store_id.filter(|s| *s > 0);
    let source = if store.is_some() { "till" } else { "manual" };
    let (r, stamped_card) = ctx
        .state
        .run(move |c| {
            app_loyalty::give_stamp(
                c,
                &scope,
                follower,
                &app_loyalty::StampRequest {
                    card,
                    source,
                    key: None,
                    // A cashier stamps only at their own stores (else forbidden).
                    by: stamps::By {
                        user: Some((user.id, &user.name)),
                        store,
                    },
                },
            )
        })
        .await?;
    Ok(match r {
        Stamped::Added {
            reward: Some(coupon),
            ..
        } => {
            tracing::info!(tenant = %tenant.slug, follower, card, coupon = coupon.id, "stamp card filled: reward issued");
            let code = patron_domain::coupons::display(&coupon.code);
            redirect_flash_with(&back, "ok", "flash.stamp_reward", &code, secure)
        }
        Stamped::Added {
            reward_refused: Some(why),
            ..
        } => {
            tracing::warn!(tenant = %tenant.slug, follower, card, ?why, "stamp card full but its reward could not be issued");
            redirect_flash(&back, "err", "flash.stamp_reward_refused", secure)
        }
        Stamped::Added {
            stamps, required, ..
        } => {
            let progress = format!("{} {stamps}/{required}", stamped_card.name);
            redirect_flash_with(&back, "ok", "flash.stamp_added", &progress, secure)
        }
        Stamped::Duplicate { .. } => redirect_flash(&back, "ok", "flash.saved", secure),
        Stamped::Inactive => redirect_flash(&back, "err", "flash.stamp_card_inactive", secure),
    })
}
