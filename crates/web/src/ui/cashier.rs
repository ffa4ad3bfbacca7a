//! The cashier's till: scan (camera, hardware scanner typing like a keyboard, or the code
//! typed by hand), see what the coupon is worth and whether it is valid here and now,
//! redeem it once, void a mistake, and the day's redemptions. Server-rendered forms; the
//! camera only fills in the code and submits (static/cashier.js with the vendored jsQR).

use crate::ctx::Ctx;
use crate::error::UiError;
use crate::render::{html, Page};
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;
use patron_app::coupons as app_coupons;
use patron_app::AppError;
use patron_app::{redeemer, till};
use patron_domain::coupons::{self as rules, Refusal, ScanRefusal};
use patron_domain::{Permission, Principal, TenantScope};
use patron_store::coupons::{self, Campaign, Coupon, NotVoided, Redeemed};
use patron_store::stores::Store;
use patron_store::tenants::Tenant;
use patron_store::DbConn;
use serde::Deserialize;

/// The key a tenant's coupon QR payloads are signed with (`patron_app::coupons::qr_key`).
pub fn qr_key(state: &crate::AppState, scope: &TenantScope) -> Vec<u8> {
    app_coupons::qr_key(state.secrets.mac_key(), scope)
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
    today: Vec<(coupons::Event, coupons::Coupon)>,
    today_all: i64,
    scan: String,
    /// With no store to work at: whether this user may add one (else they are told to
    /// ask to be assigned).
    may_add_store: bool,
}

impl CashierPage {
    fn when(&self, t: &chrono::NaiveDateTime) -> String {
        crate::format::local(t, &self.tz)
    }
    fn store_name(&self, id: &Option<i64>) -> String {
        id.and_then(|id| self.stores.iter().find(|s| s.id == id))
            .map(|s| s.name.clone())
            .unwrap_or_else(|| "—".into())
    }
    fn benefit(&self, c: &Campaign) -> String {
        crate::format::benefit_text(self.page.lang, c)
    }
    fn refusal_text(&self, r: &Refusal) -> String {
        crate::format::refusal_text(self.page.lang, r, &self.tz)
    }
    fn display(&self, code: &str) -> String {
        rules::display(code)
    }
    fn yuan(&self, fen: &i64) -> String {
        rules::yuan(*fen)
    }
    /// Whether a lookup, a redemption or a void answered (its card takes the focus).
    fn has_answer(&self) -> bool {
        !matches!(self.answer, Answer::None)
    }
    /// This row's redemption is still the coupon's (not voided since) and young enough.
    fn voidable(&self, e: &coupons::Event, c: &coupons::Coupon) -> bool {
        self.still_redeemed(e, c) && patron_store::now() - e.at <= app_coupons::VOID_WINDOW
    }
    /// A redemption row whose coupon is still redeemed by it.
    fn still_redeemed(&self, e: &coupons::Event, c: &coupons::Coupon) -> bool {
        e.action == "redeem"
            && c.status == patron_domain::coupons::CouponStatus::Redeemed
            && c.redeemed_at == Some(e.at)
    }
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

/// Everything the till page shows besides the answer, read in the same unit of work as
/// the request's operation: the scope, the tenant, the stores this user works at, the
/// store in use, this cashier's redemptions today and the navigation's tenants.
struct Till {
    scope: TenantScope,
    tenant: Tenant,
    stores: Vec<Store>,
    store_id: i64,
    today: Vec<(coupons::Event, coupons::Coupon)>,
    /// How many redemptions and voids today in all (the page shows the latest).
    today_all: i64,
    visible: Vec<Tenant>,
}

/// The latest of today's redemptions the till lists (a busy till's day is hundreds; the
/// count says how many, the campaign pages have them all).
const TODAY_SHOWN: i64 = 20;

impl Till {
    /// Authorizes (404 for strangers, 403 without the till's permission) and reads the
    /// frame.
    fn open(c: &mut DbConn, principal: &Principal, slug: &str) -> Result<Till, AppError> {
        let (scope, tenant) =
            patron_app::tenants::authorize(c, principal, slug, Permission::Redeem)?;
        let stores = app_coupons::stores_for(c, &scope)?;
        let visible = patron_store::tenants::list_visible(c, principal)?;
        Ok(Till {
            scope,
            tenant,
            stores,
            store_id: 0,
            today: Vec::new(),
            today_all: 0,
            visible,
        })
    }

    /// The store asked for, if this user works there.
    fn store(&self, asked: Option<i64>) -> Option<i64> {
        asked.filter(|id| self.stores.iter().any(|s| s.id == *id))
    }

    /// Settles the store shown (the one asked for, else the first) and reads today's
    /// redemptions of `user` (after the operation, so they include it).
    fn finish(mut self, c: &mut DbConn, user: i64, asked: Option<i64>) -> Result<Till, AppError> {
        self.store_id = self
            .store(asked)
            .or_else(|| self.stores.first().map(|s| s.id))
            .unwrap_or(0);
        let tz: chrono_tz::Tz = self
            .tenant
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
        (self.today, self.today_all) =
            coupons::events_by(c, &self.scope, user, midnight, TODAY_SHOWN)?;
        Ok(self)
    }
}

/// Runs `op` for the signed-in cashier as one trip to the database: authorization, the
/// operation and everything the page shows. `op` gets the opened till and answers.
async fn one_trip(
    ctx: &Ctx,
    slug: &str,
    asked_store: Option<i64>,
    op: impl FnOnce(&mut DbConn, &Till) -> Result<Answer, AppError> + Send + 'static,
) -> Result<(Till, Answer), UiError> {
    let auth = ctx.require_user()?;
    let (principal, user) = (auth.principal.clone(), auth.user.id);
    let slug = slug.to_string();
    Ok(ctx
        .state
        .run(move |c| {
            let till = Till::open(c, &principal, &slug)?;
            let answer = op(c, &till)?;
            Ok((till.finish(c, user, asked_store)?, answer))
        })
        .await?)
}

/// Renders the till from what [`one_trip`] read (no further database work).
fn render(ctx: &Ctx, till: Till, answer: Answer, scan: String) -> HttpResponse {
    let status = match &answer {
        Answer::Problem(..) => StatusCode::UNPROCESSABLE_ENTITY,
        _ => StatusCode::OK,
    };
    let page = ctx.page_from(
        "cashier",
        "till.title",
        Some((&till.scope, &till.tenant)),
        till.visible,
    );
    html(
        &CashierPage {
            page,
            slug: till.tenant.slug.clone(),
            tz: till.tenant.time_zone.clone(),
            stores: till.stores,
            store_id: till.store_id,
            answer,
            today: till.today,
            today_all: till.today_all,
            scan,
            may_add_store: till.scope.may(Permission::ManageSettings),
        },
        status,
    )
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
    let (till, answer) = one_trip(&ctx, &slug, q.store, |_, _| Ok(Answer::None)).await?;
    Ok(render(&ctx, till, answer, String::new()))
}

/// What stays in the scan field: what was scanned when it went wrong (to correct it),
/// nothing otherwise (the panel shows the coupon; the field is ready for the next scan).
fn kept_scan(answer: &Answer, scan: String) -> String {
    if matches!(answer, Answer::Problem(..)) {
        scan
    } else {
        String::new()
    }
}

/// The answer for a code-taking operation that did not run or found nothing.
fn gated_answer<T>(
    gated: Result<till::Gated<T>, AppError>,
    code_shown: &str,
    done: impl FnOnce(T) -> Answer,
) -> Result<Answer, AppError> {
    Ok(match gated {
        Ok(till::Gated::Done(t)) => done(t),
        Ok(till::Gated::Locked) => Answer::Problem("till.throttled", String::new()),
        Ok(till::Gated::Refused(r)) => Answer::Problem(
            match r {
                ScanRefusal::Empty => "till.empty",
                ScanRefusal::ForgedQr => "till.forged",
                ScanRefusal::BadCheckCharacter => "till.bad_check",
            },
            if r == ScanRefusal::BadCheckCharacter {
                code_shown.trim().to_string()
            } else {
                String::new()
            },
        ),
        Err(AppError::NotFound) => Answer::Problem("till.unknown", code_shown.to_string()),
        Err(e) => return Err(e),
    })
}

/// A scan at the till: a member card (points and stamp cards) or a coupon (what it is
/// worth and whether it may be redeemed here now). One trip.
pub async fn lookup(
    ctx: Ctx,
    slug: web::Path<String>,
    f: web::Form<TillForm>,
) -> Result<HttpResponse, UiError> {
    ctx.check_csrf(&f.csrf)?;
    let f = f.into_inner();
    let (mac_key, ip) = (*ctx.state.secrets.mac_key(), ctx.ip.clone());
    let (scan, store) = (f.scan.clone(), f.store_id);
    let (till, answer) = one_trip(&ctx, &slug, f.store_id, move |c, t| {
        // Past the limit even a genuine card waits: the lock is on the cashier and device.
        let keys = till::keys(&t.scope, &ip);
        if till::locked(c, &keys)? {
            tracing::warn!(tenant = %t.tenant.slug, ip = %ip, "till lookups throttled");
            return Ok(Answer::Problem("till.throttled", String::new()));
        }
        let key = app_coupons::qr_key(&mac_key, &t.scope);
        match patron_domain::loyalty::verify_member(&key, &scan) {
            Some(Ok(follower)) => {
                let fl = patron_store::followers::get(c, &t.scope, follower)?;
                return Ok(Answer::Member(Box::new(Member {
                    follower_id: follower,
                    name: fl.name.unwrap_or(fl.openid),
                    points: patron_store::loyalty::balance(c, &t.scope, follower)?,
                    cards: patron_store::stamps::progress(c, &t.scope, follower)?
                        .into_iter()
                        .filter(|(card, _)| card.active)
                        .collect(),
                })));
            }
            Some(Err(())) => {
                tracing::info!(tenant = %t.tenant.slug, "till refused a forged member card");
                till::failed(c, &keys)?;
                return Ok(Answer::Problem("till.forged", String::new()));
            }
            None => {}
        }
        let store_id = t.store(store).unwrap_or(0);
        // The lock was checked above, once for both kinds of scan.
        let gated = till::code_past_gate(c, &t.scope, &mac_key, &keys, &scan, |c, code| {
            app_coupons::look_up(c, &t.scope, code, store_id, None)
        });
        gated_answer(gated, &scan, |found| {
            if found.verdict == Err(Refusal::AlreadyRedeemed) {
                Answer::Redeemed(Redeemed::AlreadyRedeemed {
                    code: found.coupon.code.clone(),
                    store_id: found.coupon.redeemed_store_id,
                    by: found.coupon.redeemed_by_name.clone(),
                    at: found.coupon.redeemed_at,
                })
            } else {
                Answer::Found(Box::new(Found {
                    refusal: found.verdict.err(),
                    follower: found.holder.map(|(_, name)| name),
                    coupon: found.coupon,
                    campaign: found.campaign,
                    key: patron_store::tokens::generate("").0,
                }))
            }
        })
    })
    .await?;
    let keep = kept_scan(&answer, f.scan);
    Ok(render(&ctx, till, answer, keep))
}

/// Redeems once: authorization and the form's checks (one trip), the redemption through
/// the process's redemption writers (`patron_app::redeemer`: the throttle, the code,
/// exactly once, answered after its commit), then the page with today's redemptions
/// (a second trip, so they include this one).
pub async fn redeem(
    ctx: Ctx,
    slug: web::Path<String>,
    f: web::Form<TillForm>,
) -> Result<HttpResponse, UiError> {
    ctx.check_csrf(&f.csrf)?;
    let f = f.into_inner();
    let auth = ctx.require_user()?;
    let (principal, user) = (auth.principal.clone(), auth.user.clone());
    let amount = match f.amount.trim() {
        "" => Ok(None),
        a => rules::parse_yuan(a).map(Some).ok_or(a.to_string()),
    };
    let slug = slug.into_inner();
    let till = ctx
        .state
        .run(move |c| Till::open(c, &principal, &slug))
        .await?;
    let asked = f.store_id;
    let answer = match (till.store(asked), amount) {
        (None, _) => Answer::Problem("till.pick_store", String::new()),
        (_, Err(typed)) => Answer::Problem("till.bad_amount", typed),
        (Some(store_id), Ok(amount_fen)) => {
            let order_ref = f.order_ref.trim().chars().take(64).collect::<String>();
            let ask = redeemer::Ask {
                scope: till.scope.clone(),
                ip: ctx.ip.clone(),
                scanned: f.scan.clone(),
                user_id: Some(user.id),
                user_name: user.name.clone(),
                store_id,
                device: ctx.user_agent.chars().take(200).collect(),
                idempotency_key: (!f.key.is_empty()).then(|| f.key.chars().take(64).collect()),
                order_ref: (!order_ref.is_empty()).then_some(order_ref),
                amount_fen,
            };
            let gated = ctx.state.redeemer.redeem(ask).await;
            gated_answer(gated, &f.scan, |r| {
                tracing::info!(tenant = %till.tenant.slug, outcome = ?r, "till redemption");
                Answer::Redeemed(r)
            })?
        }
    };
    let till = ctx
        .state
        .run(move |c| till.finish(c, user.id, asked))
        .await?;
    let keep = kept_scan(&answer, f.scan);
    Ok(render(&ctx, till, answer, keep))
}

/// Voids a redemption made at one of this cashier's stores, within the window, with a
/// reason. One trip.
pub async fn void(
    ctx: Ctx,
    slug: web::Path<String>,
    f: web::Form<TillForm>,
) -> Result<HttpResponse, UiError> {
    ctx.check_csrf(&f.csrf)?;
    let f = f.into_inner();
    let user = ctx.require_user()?.user.clone();
    let (mac_key, ip) = (*ctx.state.secrets.mac_key(), ctx.ip.clone());
    let device = ctx.user_agent.chars().take(200).collect::<String>();
    let (code, reason, asked) = (f.code.clone(), f.reason.clone(), f.store_id);
    let (till, answer) = one_trip(&ctx, &slug, f.store_id, move |c, t| {
        let Some(store_id) = t.store(asked) else {
            return Ok(Answer::Problem("till.pick_store", String::new()));
        };
        let gated = till::with_code(c, &t.scope, &mac_key, &ip, &code, |c, code| {
            let till = coupons::Till {
                user_id: Some(user.id),
                user_name: &user.name,
                store_id,
                device: &device,
            };
            app_coupons::void(c, &t.scope, code, &till, &reason)
        });
        match gated {
            Err(AppError::Invalid(errs)) if errs.iter().any(|i| i.field == "reason") => {
                Ok(Answer::Problem("till.void_reason", code.clone()))
            }
            other => gated_answer(other, &code, |r| match r {
                Ok(cp) => {
                    tracing::info!(tenant = %t.tenant.slug, code = %cp.code, "till void");
                    Answer::Voided(cp.code)
                }
                Err(why) => Answer::Problem(
                    match why {
                        NotVoided::WindowPassed => "till.void_too_late",
                        NotVoided::OtherStore => "till.void_other_store",
                        NotVoided::NotRedeemed => "till.not_redeemed",
                    },
                    code.clone(),
                ),
            }),
        }
    })
    .await?;
    Ok(render(&ctx, till, answer, String::new()))
}
