//! The cashier's till: scan (camera, hardware scanner typing like a keyboard, or the code
//! typed by hand), see what the coupon is worth and whether it is valid here and now,
//! redeem it once, void a mistake, and the day's redemptions. Server-rendered forms; the
//! camera only fills in the code and submits (static/cashier.js with the vendored jsQR).

use crate::ctx::Ctx;
use crate::error::UiError;
use crate::policy::till;
use crate::render::{html, Page};
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;
use patron_domain::coupons::{self as rules, Refusal, Scanned, Typed};
use patron_domain::{Permission, TenantScope};
use patron_store::coupons::{self, Campaign, Coupon, Redeemed, Till};
use patron_store::stores::Store;
use patron_store::StoreError;
use serde::Deserialize;

/// How long after a redemption it may be voided.
pub const VOID_WINDOW: chrono::TimeDelta = chrono::TimeDelta::minutes(30);

/// The key a tenant's coupon QR payloads are signed with.
pub fn qr_key(state: &crate::AppState, scope: &TenantScope) -> Vec<u8> {
    use hmac::{Hmac, Mac};
    let mut m = Hmac::<sha2::Sha256>::new_from_slice(state.secrets.mac_key())
        .expect("HMAC takes any key length");
    m.update(format!("coupon-qr:{}", scope.tenant_id().0).as_bytes());
    m.finalize().into_bytes().to_vec()
}

/// What the till shows about a looked-up coupon.
pub struct Found {
    pub coupon: Coupon,
    pub campaign: Campaign,
    pub follower: Option<String>,
    /// `None`: valid here and now.
    pub refusal: Option<Refusal>,
    /// The idempotency key the redeem button carries.
    pub key: String,
}

/// A member card read at the till: who, their points and their stamp cards.
pub struct Member {
    pub follower_id: i64,
    pub name: String,
    pub points: i64,
    pub cards: Vec<(patron_store::stamps::Card, i64)>,
}

/// The answer panel.
pub enum Answer {
    None,
    Member(Box<Member>),
    /// A message key (and detail) for a lookup that found nothing usable.
    Problem(&'static str, String),
    Found(Box<Found>),
    Redeemed(Redeemed),
    Voided(String),
}

#[derive(Template)]
#[template(path = "cashier.html")]
struct CashierPage {
    page: Page,
    slug: String,
    tz: String,
    stores: Vec<Store>,
    store_id: i64,
    answer: Answer,
    today: Vec<(coupons::Event, String)>,
    scan: String,
}

impl CashierPage {
    fn when(&self, t: &chrono::NaiveDateTime) -> String {
        super::followers::local(t, &self.tz)
    }
    fn store_name(&self, id: &Option<i64>) -> String {
        id.and_then(|id| self.stores.iter().find(|s| s.id == id))
            .map(|s| s.name.clone())
            .unwrap_or_else(|| "—".into())
    }
    fn benefit(&self, c: &Campaign) -> String {
        benefit_text(self.page.lang, c)
    }
    fn refusal_text(&self, r: &Refusal) -> String {
        refusal_text(self.page.lang, r, &self.tz)
    }
    fn display(&self, code: &str) -> String {
        rules::display(code)
    }
    fn yuan(&self, fen: &i64) -> String {
        rules::yuan(*fen)
    }
    fn voidable(&self, e: &coupons::Event) -> bool {
        e.action == "redeem" && patron_store::now() - e.at <= VOID_WINDOW
    }
}

pub fn benefit_text(lang: crate::i18n::Lang, c: &Campaign) -> String {
    use rules::Benefit::*;
    match c.benefit() {
        Some(AmountOff { fen }) => lang.t1("coupon.amount_off", rules::yuan(fen)),
        Some(PercentOff { percent, cap_fen }) if cap_fen > 0 => format!(
            "{} ({})",
            lang.t1("coupon.percent_off", percent),
            lang.t1("coupon.cap", rules::yuan(cap_fen))
        ),
        Some(PercentOff { percent, .. }) => lang.t1("coupon.percent_off", percent),
        Some(Gift { item }) => lang.t1("coupon.gift", item),
        Some(Exchange { item }) => lang.t1("coupon.exchange", item),
        None => String::new(),
    }
}

pub fn refusal_text(lang: crate::i18n::Lang, r: &Refusal, tz: &str) -> String {
    match r {
        Refusal::NotYetValid { from } => {
            lang.t1("till.not_yet_valid", super::followers::local(from, tz))
        }
        Refusal::Expired { to } => lang.t1("till.expired", super::followers::local(to, tz)),
        Refusal::WrongStore => lang.t("till.wrong_store").to_string(),
        Refusal::MinSpendNotMet { min_fen } => lang.t1("till.min_spend", rules::yuan(*min_fen)),
        Refusal::CampaignPaused => lang.t("till.paused").to_string(),
        Refusal::CampaignEnded => lang.t("till.ended").to_string(),
        Refusal::AlreadyRedeemed => lang.t("till.already").to_string(),
        Refusal::Voided => lang.t("till.voided").to_string(),
    }
}

/// The stores this user may work at in the tenant (a cashier: their own).
async fn stores_for(ctx: &Ctx, scope: &TenantScope) -> Result<Vec<Store>, UiError> {
    let s2 = scope.clone();
    let all = ctx
        .state
        .db(move |c| patron_store::stores::list(c, &s2))
        .await?;
    Ok(match scope.stores() {
        Some(mine) => all
            .into_iter()
            .filter(|s| mine.iter().any(|m| m.0 == s.id))
            .collect(),
        None => all,
    })
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct TillForm {
    csrf: String,
    store_id: Option<i64>,
    scan: String,
    key: String,
    order_ref: String,
    amount: String,
    reason: String,
    code: String,
}

async fn render(
    ctx: &Ctx,
    slug: &str,
    store_id: Option<i64>,
    answer: Answer,
    scan: String,
) -> Result<HttpResponse, UiError> {
    let (scope, tenant) = ctx.tenant(slug, Permission::Redeem).await?;
    let stores = stores_for(ctx, &scope).await?;
    let store_id = store_id
        .filter(|id| stores.iter().any(|s| s.id == *id))
        .or_else(|| stores.first().map(|s| s.id))
        .unwrap_or(0);
    let user_id = ctx.require_user()?.user.id;
    let tz: chrono_tz::Tz = tenant
        .time_zone
        .parse()
        .unwrap_or(chrono_tz::Asia::Shanghai);
    let midnight = chrono::Utc::now()
        .with_timezone(&tz)
        .date_naive()
        .and_time(chrono::NaiveTime::MIN)
        .and_local_timezone(tz)
        .earliest()
        .map(|t| t.naive_utc())
        .unwrap_or_else(patron_store::now);
    let s2 = scope.clone();
    let today = ctx
        .state
        .db(move |c| coupons::events_by(c, &s2, user_id, midnight))
        .await?;
    let status = match &answer {
        Answer::Problem(..) => StatusCode::UNPROCESSABLE_ENTITY,
        _ => StatusCode::OK,
    };
    let page = ctx
        .page("cashier", "till.title", Some((&scope, &tenant)))
        .await?;
    Ok(html(
        &CashierPage {
            page,
            slug: tenant.slug.clone(),
            tz: tenant.time_zone.clone(),
            stores,
            store_id,
            answer,
            today,
            scan,
        },
        status,
    ))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct StoreQuery {
    store: Option<i64>,
}

pub async fn page(
    ctx: Ctx,
    slug: web::Path<String>,
    q: web::Query<StoreQuery>,
) -> Result<HttpResponse, UiError> {
    render(&ctx, &slug, q.store, Answer::None, String::new()).await
}

/// Reads what was scanned or typed into a code, or the problem with it (no database yet).
fn read_scan(key: &[u8], scan: &str) -> Result<String, (&'static str, String)> {
    if scan.trim().is_empty() {
        return Err(("till.empty", String::new()));
    }
    match rules::verify_scan(key, scan) {
        Scanned::Signed(code) => Ok(code),
        Scanned::Forged => Err(("till.forged", String::new())),
        Scanned::Typed(Typed::BadCheck) => Err(("till.bad_check", scan.trim().to_string())),
        Scanned::Typed(Typed::Generated(code)) | Scanned::Typed(Typed::Other(code)) => Ok(code),
    }
}

/// Whether this cashier or device is past the failed-lookup limit (`policy::till`).
async fn throttled(ctx: &Ctx, keys: &[String; 2]) -> Result<bool, UiError> {
    let k = keys.clone();
    Ok(ctx.state.db(move |c| till::locked(c, &k)).await?)
}

/// Counts a failed lookup (a forged QR, a typo, an unknown code).
async fn fail(ctx: &Ctx, keys: &[String; 2]) -> Result<(), UiError> {
    let k = keys.clone();
    Ok(ctx.state.db(move |c| till::failed(c, &k)).await?)
}

fn throttled_answer(ctx: &Ctx, slug: &str) -> Answer {
    tracing::warn!(tenant = slug, ip = %ctx.ip, "till lookups throttled");
    Answer::Problem("till.throttled", String::new())
}

pub async fn lookup(
    ctx: Ctx,
    slug: web::Path<String>,
    f: web::Form<TillForm>,
) -> Result<HttpResponse, UiError> {
    let (scope, tenant) = ctx.tenant(&slug, Permission::Redeem).await?;
    ctx.check_csrf(&f.csrf)?;
    let f = f.into_inner();
    let keys = till::keys(&scope, &ctx.ip);
    if throttled(&ctx, &keys).await? {
        let answer = throttled_answer(&ctx, &tenant.slug);
        return render(&ctx, &slug, f.store_id, answer, f.scan).await;
    }
    let key = qr_key(&ctx.state, &scope);
    match patron_domain::loyalty::verify_member(&key, &f.scan) {
        None => {}
        Some(Ok(follower)) => {
            let s2 = scope.clone();
            let m = ctx
                .state
                .db(move |c| {
                    let fl = patron_store::followers::get(c, &s2, follower)?;
                    Ok(Member {
                        follower_id: follower,
                        name: fl.name.unwrap_or(fl.openid),
                        points: patron_store::loyalty::balance(c, &s2, follower)?,
                        cards: patron_store::stamps::progress(c, &s2, follower)?
                            .into_iter()
                            .filter(|(card, _)| card.active)
                            .collect(),
                    })
                })
                .await?;
            return render(
                &ctx,
                &slug,
                f.store_id,
                Answer::Member(Box::new(m)),
                String::new(),
            )
            .await;
        }
        Some(Err(())) => {
            tracing::info!(tenant = %tenant.slug, "till refused a forged member card");
            fail(&ctx, &keys).await?;
            return render(
                &ctx,
                &slug,
                f.store_id,
                Answer::Problem("till.forged", String::new()),
                f.scan,
            )
            .await;
        }
    }
    let code = match read_scan(&key, &f.scan) {
        Ok(code) => code,
        Err((problem, detail)) => {
            tracing::info!(tenant = %tenant.slug, problem, "till lookup refused before the database");
            fail(&ctx, &keys).await?;
            return render(
                &ctx,
                &slug,
                f.store_id,
                Answer::Problem(problem, detail),
                f.scan,
            )
            .await;
        }
    };
    let store_id = f.store_id.unwrap_or(0);
    let s2 = scope.clone();
    let c2 = code.clone();
    let found = ctx
        .state
        .db(move |c| {
            let coupon = coupons::by_code(c, &s2, &c2)?;
            let campaign = coupons::get(c, &s2, coupon.campaign_id)?;
            let follower = match coupon.follower_id {
                Some(fid) => {
                    let f = patron_store::followers::get(c, &s2, fid)?;
                    Some(f.name.unwrap_or(f.openid))
                }
                None => None,
            };
            Ok((coupon, campaign, follower))
        })
        .await;
    let (coupon, campaign, follower) = match found {
        Ok(x) => x,
        Err(StoreError::NotFound) => {
            fail(&ctx, &keys).await?;
            return render(
                &ctx,
                &slug,
                f.store_id,
                Answer::Problem("till.unknown", code),
                f.scan,
            )
            .await;
        }
        Err(e) => return Err(e.into()),
    };
    let stores = campaign.stores();
    let refusal = rules::can_redeem(
        &rules::Redeemable {
            status: &coupon.status,
            campaign_status: &campaign.status,
            valid_from: coupon.valid_from,
            valid_to: coupon.valid_to,
            stores: stores.as_deref(),
            min_spend_fen: campaign.min_spend_fen,
        },
        store_id,
        patron_store::now(),
        None,
    )
    .err();
    let answer = if refusal == Some(Refusal::AlreadyRedeemed) {
        Answer::Redeemed(Redeemed::AlreadyRedeemed {
            code: coupon.code.clone(),
            store_id: coupon.redeemed_store_id,
            by: coupon.redeemed_by_name.clone(),
            at: coupon.redeemed_at,
        })
    } else {
        Answer::Found(Box::new(Found {
            coupon,
            campaign,
            follower,
            refusal,
            key: patron_store::tokens::generate("").0,
        }))
    };
    // The panel shows the code; the field is cleared for the next scan.
    render(&ctx, &slug, f.store_id, answer, String::new()).await
}

pub async fn redeem(
    ctx: Ctx,
    slug: web::Path<String>,
    f: web::Form<TillForm>,
) -> Result<HttpResponse, UiError> {
    let (scope, tenant) = ctx.tenant(&slug, Permission::Redeem).await?;
    ctx.check_csrf(&f.csrf)?;
    let f = f.into_inner();
    let user = ctx.require_user()?.user.clone();
    let stores = stores_for(&ctx, &scope).await?;
    let Some(store_id) = f.store_id.filter(|id| stores.iter().any(|s| s.id == *id)) else {
        return render(
            &ctx,
            &slug,
            None,
            Answer::Problem("till.pick_store", String::new()),
            f.scan,
        )
        .await;
    };
    let keys = till::keys(&scope, &ctx.ip);
    if throttled(&ctx, &keys).await? {
        let answer = throttled_answer(&ctx, &tenant.slug);
        return render(&ctx, &slug, Some(store_id), answer, f.scan).await;
    }
    let code = match read_scan(&qr_key(&ctx.state, &scope), &f.scan) {
        Ok(c) => c,
        Err((p, d)) => {
            fail(&ctx, &keys).await?;
            return render(&ctx, &slug, Some(store_id), Answer::Problem(p, d), f.scan).await;
        }
    };
    let amount = match f.amount.trim() {
        "" => None,
        a => match rules::parse_yuan(a) {
            Some(fen) => Some(fen),
            None => {
                return render(
                    &ctx,
                    &slug,
                    Some(store_id),
                    Answer::Problem("till.bad_amount", a.to_string()),
                    f.scan,
                )
                .await
            }
        },
    };
    let order_ref = f.order_ref.trim().chars().take(64).collect::<String>();
    let key = (!f.key.is_empty()).then(|| f.key.chars().take(64).collect::<String>());
    let device = ctx.user_agent.chars().take(200).collect::<String>();
    let c2 = code.clone();
    let result = ctx
        .state
        .db(move |c| {
            coupons::redeem(
                c,
                &scope,
                &c2,
                &Till {
                    user_id: Some(user.id),
                    user_name: &user.name,
                    store_id,
                    device: &device,
                },
                key.as_deref(),
                (!order_ref.is_empty()).then_some(order_ref.as_str()),
                amount,
            )
        })
        .await;
    let answer = match result {
        Ok(r) => {
            tracing::info!(tenant = %tenant.slug, code = %code, outcome = ?r, "till redemption");
            Answer::Redeemed(r)
        }
        Err(StoreError::NotFound) => {
            fail(&ctx, &keys).await?;
            Answer::Problem("till.unknown", code)
        }
        Err(e) => return Err(e.into()),
    };
    render(&ctx, &slug, Some(store_id), answer, String::new()).await
}

pub async fn void(
    ctx: Ctx,
    slug: web::Path<String>,
    f: web::Form<TillForm>,
) -> Result<HttpResponse, UiError> {
    let (scope, tenant) = ctx.tenant(&slug, Permission::Redeem).await?;
    ctx.check_csrf(&f.csrf)?;
    let f = f.into_inner();
    let user = ctx.require_user()?.user.clone();
    let stores = stores_for(&ctx, &scope).await?;
    let Some(store_id) = f.store_id.filter(|id| stores.iter().any(|s| s.id == *id)) else {
        return render(
            &ctx,
            &slug,
            None,
            Answer::Problem("till.pick_store", String::new()),
            String::new(),
        )
        .await;
    };
    let keys = till::keys(&scope, &ctx.ip);
    if throttled(&ctx, &keys).await? {
        let answer = throttled_answer(&ctx, &tenant.slug);
        return render(&ctx, &slug, Some(store_id), answer, String::new()).await;
    }
    let device = ctx.user_agent.chars().take(200).collect::<String>();
    let (code, reason) = (f.code.clone(), f.reason.clone());
    let result = ctx
        .state
        .db(move |c| {
            coupons::void(
                c,
                &scope,
                &code,
                &Till {
                    user_id: Some(user.id),
                    user_name: &user.name,
                    store_id,
                    device: &device,
                },
                &reason,
                VOID_WINDOW,
            )
        })
        .await;
    let answer = match result {
        Ok(Ok(c)) => {
            tracing::info!(tenant = %tenant.slug, code = %c.code, "till void");
            Answer::Voided(c.code)
        }
        Ok(Err(why)) => Answer::Problem(
            match why {
                "void_window_passed" => "till.void_too_late",
                "other_store" => "till.void_other_store",
                _ => "till.not_redeemed",
            },
            f.code,
        ),
        Err(StoreError::Invalid(_)) => Answer::Problem("till.void_reason", f.code),
        Err(StoreError::NotFound) => {
            fail(&ctx, &keys).await?;
            Answer::Problem("till.unknown", f.code)
        }
        Err(e) => return Err(e.into()),
    };
    render(&ctx, &slug, Some(store_id), answer, String::new()).await
}
