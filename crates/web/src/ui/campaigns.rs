//! Coupon campaigns for merchants: the editor, the campaign page (issued / redeemed /
//! expired, redemptions by store and by cashier, issuing to a follower, status), and a
//! coupon's QR image.

use crate::ctx::Ctx;
use crate::error::UiError;
use crate::paths;
use crate::render::{html, redirect_flash, Page};
use crate::ui::messages as form_messages;
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;
use patron_app::coupons as app_coupons;
use patron_domain::coupons::{self as rules, Benefit, Validity};
use patron_domain::{validate, Permission};
use patron_store::coupons::{self, Campaign, CampaignInput, NotIssued, Stats};
use patron_store::stores::Store;
use patron_store::StoreError;

#[derive(Default, Clone)]
pub(super) struct CampaignForm {
    pub(super) csrf: String,
    pub(super) name: String,
    /// amount_off, percent_off, gift, exchange
    pub(super) kind: String,
    pub(super) amount: String,
    pub(super) percent: String,
    pub(super) cap: String,
    pub(super) item: String,
    pub(super) min_spend: String,
    /// relative or absolute
    pub(super) validity: String,
    pub(super) days: String,
    pub(super) from: String,
    pub(super) to: String,
    pub(super) supply: String,
    pub(super) per_follower: String,
    pub(super) store_ids: Vec<i64>,
    pub(super) terms: String,
    pub(super) prefix: String,
    pub(super) short_codes: bool,
}

impl CampaignForm {
    /// The form filled with a campaign as it is (the edit form).
    pub(super) fn of(c: &Campaign) -> CampaignForm {
        let mut f = CampaignForm {
            name: c.name.clone(),
            min_spend: if c.min_spend_fen > 0 {
                rules::yuan(c.min_spend_fen)
            } else {
                String::new()
            },
            supply: c.total_supply.map(|n| n.to_string()).unwrap_or_default(),
            per_follower: c
                .per_follower_limit
                .map(|n| n.to_string())
                .unwrap_or_default(),
            store_ids: c.stores().unwrap_or_default(),
            terms: c.terms.clone(),
            prefix: c.code_prefix.clone(),
            short_codes: c.accepts_short_codes,
            ..Default::default()
        };
        f.take_benefit(c);
        match c.validity() {
            Some(Validity::Absolute { from, to }) => {
                f.validity = "absolute".into();
                f.from = from.date().to_string();
                // Stored as the start of the day after the last one.
                f.to = to.date().pred_opt().unwrap_or(to.date()).to_string();
            }
            Some(Validity::Relative { days }) => {
                f.validity = "relative".into();
                f.days = days.to_string();
            }
            None => f.validity = "relative".into(),
        }
        f
    }

    /// What the campaign gives and its prefix, as stored (a started campaign keeps them,
    /// whatever the form sent).
    pub(super) fn take_benefit(&mut self, c: &Campaign) {
        (self.amount, self.percent, self.cap, self.item) = Default::default();
        match c.benefit() {
            Some(Benefit::AmountOff { fen }) => {
                self.kind = "amount_off".into();
                self.amount = rules::yuan(fen);
            }
            Some(Benefit::PercentOff { percent, cap_fen }) => {
                self.kind = "percent_off".into();
                self.percent = percent.to_string();
                if cap_fen > 0 {
                    self.cap = rules::yuan(cap_fen);
                }
            }
            Some(Benefit::Gift { item }) => {
                self.kind = "gift".into();
                self.item = item;
            }
            Some(Benefit::Exchange { item }) => {
                self.kind = "exchange".into();
                self.item = item;
            }
            None => {}
        }
        self.prefix = c.code_prefix.clone();
    }

    pub(super) fn parse(body: &[u8]) -> CampaignForm {
        let mut f = CampaignForm::default();
        for (k, v) in crate::forms::form_pairs(body) {
            match k.as_str() {
                "csrf" => f.csrf = v,
                "name" => f.name = v,
                "kind" => f.kind = v,
                "amount" => f.amount = v,
                "percent" => f.percent = v,
                "cap" => f.cap = v,
                "item" => f.item = v,
                "min_spend" => f.min_spend = v,
                "validity" => f.validity = v,
                "days" => f.days = v,
                "from" => f.from = v,
                "to" => f.to = v,
                "supply" => f.supply = v,
                "per_follower" => f.per_follower = v,
                "store_ids" => f.store_ids.extend(v.parse::<i64>().ok()),
                "terms" => f.terms = v,
                "prefix" => f.prefix = v.trim().to_uppercase(),
                "short_codes" => f.short_codes = v == "1",
                _ => {}
            }
        }
        f
    }

    /// The campaign as typed, or every problem with it at once (what cannot be read, then
    /// every rule it breaks).
    pub(super) fn input(&self) -> Result<CampaignInput, Vec<validate::Invalid>> {
        let mut errs = Vec::new();
        let money = |s: &str, field: &'static str, errs: &mut Vec<validate::Invalid>| match s.trim()
        {
            "" => 0,
            v => rules::parse_yuan(v).unwrap_or_else(|| {
                errs.push(validate::invalid(field, "invalid_amount"));
                0
            }),
        };
        let count = |s: &str, field: &'static str, errs: &mut Vec<validate::Invalid>| match s.trim()
        {
            "" => None,
            v => match v.parse::<i64>().ok().filter(|n| *n > 0) {
                Some(n) => Some(n),
                None => {
                    errs.push(validate::invalid(field, "invalid_limit"));
                    None
                }
            },
        };
        let benefit = match self.kind.as_str() {
            "amount_off" => Benefit::AmountOff {
                fen: money(&self.amount, "amount", &mut errs),
            },
            "percent_off" => Benefit::PercentOff {
                percent: self.percent.trim().parse().unwrap_or_else(|_| {
                    errs.push(validate::invalid("percent", "invalid_percent"));
                    0
                }),
                cap_fen: money(&self.cap, "cap", &mut errs),
            },
            "gift" => Benefit::Gift {
                item: self.item.trim().to_string(),
            },
            "exchange" => Benefit::Exchange {
                item: self.item.trim().to_string(),
            },
            _ => {
                errs.push(validate::invalid("kind", "invalid_choice"));
                Benefit::Gift {
                    item: String::new(),
                }
            }
        };
        let validity = if self.validity == "absolute" {
            let mut d = |s: &str, field: &'static str| match validate::date(s) {
                Ok(d) => Some(d),
                Err(code) => {
                    errs.push(validate::invalid(field, code));
                    None
                }
            };
            match (d(&self.from, "from"), d(&self.to, "to")) {
                // The last day counts whole: valid until the start of the next day (UTC).
                (Some(from), Some(to)) => Validity::Absolute {
                    from: rules::day_start(from),
                    to: rules::day_start(to.succ_opt().unwrap_or(to)),
                },
                _ => Validity::Relative { days: 1 },
            }
        } else {
            Validity::Relative {
                days: self.days.trim().parse().unwrap_or_else(|_| {
                    errs.push(validate::invalid("days", "invalid_days"));
                    1
                }),
            }
        };
        let input = CampaignInput {
            name: self.name.clone(),
            benefit,
            min_spend_fen: money(&self.min_spend, "min_spend", &mut errs),
            validity,
            total_supply: count(&self.supply, "supply", &mut errs),
            per_follower_limit: count(&self.per_follower, "per_follower", &mut errs),
            stores: (!self.store_ids.is_empty()).then(|| self.store_ids.clone()),
            terms: self.terms.clone(),
            code_prefix: self.prefix.clone(),
            accepts_short_codes: self.short_codes,
        };
        // The rules, for what could be read (a field already refused is not judged twice).
        for p in coupons::problems(&input) {
            let field = self.form_field(p.field);
            if !errs.iter().any(|e| e.field == field) {
                errs.push(validate::invalid(field, p.code));
            }
        }
        if errs.is_empty() {
            Ok(input)
        } else {
            Err(errs)
        }
    }

    pub(super) fn csrf(&self) -> &str {
        &self.csrf
    }

    /// The form field a rule's field is typed in.
    pub(super) fn form_field(&self, rule_field: &'static str) -> &'static str {
        match rule_field {
            "benefit" => match self.kind.as_str() {
                "amount_off" => "amount",
                "percent_off" => "percent",
                _ => "item",
            },
            "valid_to" => "to",
            "valid_days" => "days",
            "total_supply" => "supply",
            "per_follower_limit" => "per_follower",
            "code_prefix" => "prefix",
            other => other,
        }
    }
}

#[derive(Template)]
#[template(path = "campaigns.html")]
struct ListPage {
    page: Page,
    slug: String,
    campaigns: Vec<Campaign>,
    stores: Vec<Store>,
    form: CampaignForm,
    errors: Vec<String>,
    /// Each refused field and why, shown beside it.
    field_errors: super::FieldErrors,
    /// The new-campaign form locks nothing.
    locked: bool,
}

impl ListPage {
    fn field_err(&self, field: &str) -> Option<&str> {
        self.field_errors.get(field)
    }
    fn benefit(&self, c: &Campaign) -> String {
        crate::format::benefit_text(self.page.lang, c)
    }
    fn status(&self, s: &str) -> String {
        self.page.t(&format!("campaign.status_{s}")).to_string()
    }
    fn store_checked(&self, id: &i64) -> bool {
        self.form.store_ids.contains(id)
    }
}

async fn render_list(
    ctx: &Ctx,
    slug: &str,
    form: CampaignForm,
    errors: Vec<String>,
) -> Result<HttpResponse, UiError> {
    render_list_with(ctx, slug, form, errors, Default::default()).await
}

/// The list and the form, with each refused field's reason beside it.
async fn render_list_with(
    ctx: &Ctx,
    slug: &str,
    form: CampaignForm,
    errors: Vec<String>,
    field_errors: super::FieldErrors,
) -> Result<HttpResponse, UiError> {
    let (scope, tenant) = ctx.tenant(slug, Permission::Market).await?;
    let s2 = scope.clone();
    let (campaigns, stores) = ctx
        .state
        .db(move |c| Ok((coupons::list(c, &s2)?, patron_store::stores::list(c, &s2)?)))
        .await?;
    let page = ctx
        .page("campaigns", "campaign.title", Some((&scope, &tenant)))
        .await?;
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    Ok(html(
        &ListPage {
            page,
            slug: tenant.slug.clone(),
            campaigns,
            stores,
            form,
            errors,
            field_errors,
            locked: false,
        },
        status,
    ))
}

pub async fn list(ctx: Ctx, slug: web::Path<String>) -> Result<HttpResponse, UiError> {
    let form = CampaignForm {
        kind: "amount_off".into(),
        validity: "relative".into(),
        days: "30".into(),
        ..Default::default()
    };
    render_list(&ctx, &slug, form, vec![]).await
}

pub async fn create(
    ctx: Ctx,
    slug: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, UiError> {
    let (scope, tenant) = ctx.tenant(&slug, Permission::Market).await?;
    let form = CampaignForm::parse(&body);
    ctx.check_csrf(&form.csrf)?;
    let input = match form.input() {
        Ok(i) => i,
        Err(errs) => {
            tracing::info!(tenant = %tenant.slug, fields = ?errs.iter().map(|e| e.field).collect::<Vec<_>>(), "campaign refused");
            let beside = super::FieldErrors::of(ctx.lang, &errs);
            return render_list_with(&ctx, &slug, form, form_messages(ctx.lang, &errs), beside)
                .await;
        }
    };
    match ctx
        .state
        .db(move |c| coupons::create(c, &scope, &input))
        .await
    {
        Ok(c) => {
            tracing::info!(tenant = %tenant.slug, campaign = c.id, "campaign created");
            Ok(redirect_flash(
                &paths::tenant(&tenant.slug).campaign(c.id),
                "ok",
                "flash.campaign_created",
                ctx.state.cfg.secure_cookies,
            ))
        }
        Err(StoreError::Invalid(i)) => {
            let e = form_messages(ctx.lang, &[i]);
            render_list(&ctx, &slug, form, e).await
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Template)]
#[template(path = "campaign.html")]
struct ShowPage {
    page: Page,
    slug: String,
    c: Campaign,
    stats: Stats,
    stores: Vec<Store>,
    /// The statuses the campaign may move to now.
    statuses: &'static [&'static str],
    segments: Vec<patron_store::segments::Segment>,
    tags: Vec<patron_store::tags::Tag>,
    /// The latest bulk issue of this campaign.
    bulk: Option<patron_store::jobs::Job>,
    /// A bulk issue asked for, to confirm with its audience size.
    confirm: Option<BulkConfirm>,
    /// Who changed the campaign, when, and what (newest first).
    changes: Vec<coupons::Change>,
    tz: String,
}

impl ShowPage {
    fn bulk_running(&self) -> bool {
        self.bulk.as_ref().is_some_and(|j| {
            j.state == patron_store::jobs::QUEUED || j.state == patron_store::jobs::RUNNING
        })
    }
    fn when(&self, t: &chrono::NaiveDateTime) -> String {
        crate::format::local(t, &self.tz)
    }
    /// A change's fields, named as the form names them.
    fn changed_fields(&self, fields: &str) -> String {
        let names: Vec<&str> = fields
            .split(',')
            .map(|f| {
                self.page.t(match f {
                    "name" => "campaign.name",
                    "benefit" => "campaign.benefit",
                    "min_spend" => "campaign.min_spend",
                    "validity" => "campaign.validity",
                    "total_supply" => "campaign.supply",
                    "per_follower_limit" => "campaign.per_follower",
                    "stores" => "campaign.stores",
                    "terms" => "campaign.terms",
                    "code_prefix" => "campaign.prefix",
                    "accepts_short_codes" => "campaign.short_codes",
                    other => other,
                })
            })
            .collect();
        self.page
            .t1("campaign.changed_fields", self.page.lang.list(&names))
    }
    fn bulk_outcome(&self) -> Option<BulkOutcome> {
        let j = self.bulk.as_ref()?;
        serde_json::from_str(j.result.as_deref()?).ok()
    }
    fn bulk_state(&self) -> String {
        self.bulk
            .as_ref()
            .map(|j| self.page.t(&format!("job.{}", j.state)).to_string())
            .unwrap_or_default()
    }
    fn min_spend(&self) -> String {
        rules::yuan(self.c.min_spend_fen)
    }
    fn benefit(&self) -> String {
        crate::format::benefit_text(self.page.lang, &self.c)
    }
    fn status(&self, s: &str) -> String {
        self.page.t(&format!("campaign.status_{s}")).to_string()
    }
    fn store_name(&self, id: &Option<i64>) -> String {
        id.and_then(|id| self.stores.iter().find(|s| s.id == id))
            .map(|s| s.name.clone())
            .unwrap_or_else(|| "—".into())
    }
    fn valid_at(&self) -> String {
        let stores = self.c.stores();
        match stores {
            None => self.page.t("campaign.all_stores").to_string(),
            Some(ids) => ids
                .iter()
                .map(|id| self.store_name(&Some(*id)))
                .collect::<Vec<_>>()
                .join(", "),
        }
    }
    fn validity(&self) -> String {
        match self.c.validity() {
            Some(Validity::Relative { days }) => self.page.t1("campaign.days_after_issue", days),
            Some(Validity::Absolute { from, to }) => format!(
                "{} – {}",
                from.date(),
                (to - chrono::TimeDelta::days(1)).date()
            ),
            None => String::new(),
        }
    }
    fn supply(&self) -> String {
        match self.c.total_supply {
            Some(n) => format!("{} / {n}", self.c.issued_count),
            None => self.c.issued_count.to_string(),
        }
    }
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
pub struct ShowQuery {
    /// A bulk issue to confirm: `segment:<id>` or `tag:<id>`.
    bulk: String,
}

/// A bulk target: a segment's or a tag's followers.
fn bulk_target(target: &str) -> Option<(Option<i64>, Option<i64>)> {
    match target.split_once(':') {
        Some(("segment", n)) => n.parse().ok().map(|n| (Some(n), None)),
        Some(("tag", n)) => n.parse().ok().map(|n| (None, Some(n))),
        _ => None,
    }
}

pub async fn show(
    ctx: Ctx,
    path: web::Path<(String, i64)>,
    q: web::Query<ShowQuery>,
) -> Result<HttpResponse, UiError> {
    let (slug, id) = path.into_inner();
    let (scope, tenant) = ctx.tenant(&slug, Permission::Market).await?;
    let s2 = scope.clone();
    let asked = q.into_inner().bulk;
    let (c, stats, stores, extra) = ctx
        .state
        .db(move |c| {
            // The audience of a bulk issue to confirm: who it is and how many.
            let confirm = match bulk_target(&asked) {
                Some((Some(seg), _)) => patron_store::segments::get(c, &s2, seg)
                    .ok()
                    .map(|s| (s.name.clone(), s.filter())),
                Some((None, Some(tag))) => patron_store::tags::list(c, &s2)?
                    .into_iter()
                    .find(|(t, _)| t.id == tag)
                    .map(|(t, _)| {
                        (
                            t.name,
                            patron_store::followers::Filter {
                                tag: Some(tag),
                                ..Default::default()
                            },
                        )
                    }),
                _ => None,
            };
            let confirm = match confirm {
                Some((name, filter)) => Some(BulkConfirm {
                    target: asked.clone(),
                    name,
                    audience: patron_store::followers::count_matching(c, &s2, &filter)?,
                }),
                None => None,
            };
            let bulk = patron_store::jobs::list_for_tenant(c, &s2, 50)?
                .into_iter()
                .find(|j| {
                    j.kind == patron_store::jobs::kinds::COUPON_BULK
                        && serde_json::from_str::<serde_json::Value>(&j.payload)
                            .is_ok_and(|p| p["campaign_id"] == id)
                });
            Ok((
                coupons::get(c, &s2, id)?,
                coupons::stats(c, &s2, id)?,
                patron_store::stores::list(c, &s2)?,
                (
                    coupons::changes(c, &s2, id, 20)?,
                    patron_store::segments::list(c, &s2)?,
                    patron_store::tags::list(c, &s2)?
                        .into_iter()
                        .map(|(t, _)| t)
                        .collect(),
                    bulk,
                    confirm,
                ),
            ))
        })
        .await?;
    let statuses = patron_domain::coupons::next_campaign_statuses(&c.status);
    let (changes, segments, tags, bulk, confirm) = extra;
    let page = ctx
        .page("campaigns", "campaign.title", Some((&scope, &tenant)))
        .await?;
    Ok(html(
        &ShowPage {
            page,
            slug: tenant.slug.clone(),
            c,
            stats,
            stores,
            statuses,
            segments,
            tags,
            bulk,
            confirm,
            changes,
            tz: tenant.time_zone.clone(),
        },
        StatusCode::OK,
    ))
}

/// A bulk issue waiting for its confirmation: the target, its name, its audience now.
struct BulkConfirm {
    target: String,
    name: String,
    audience: i64,
}

/// What a finished bulk issue did (the job's result, written by `patron_jobs::coupon_bulk`).
#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct BulkOutcome {
    followers: i64,
    issued: i64,
    skipped: i64,
    not_served: i64,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
pub struct StatusForm {
    csrf: String,
    status: String,
}

pub async fn set_status(
    ctx: Ctx,
    path: web::Path<(String, i64)>,
    f: web::Form<StatusForm>,
) -> Result<HttpResponse, UiError> {
    let (slug, id) = path.into_inner();
    let (scope, tenant) = ctx.tenant(&slug, Permission::Market).await?;
    ctx.check_csrf(&f.csrf)?;
    let status = f.status.clone();
    let back = paths::tenant(&tenant.slug).campaign(id);
    let secure = ctx.state.cfg.secure_cookies;
    match ctx
        .state
        .db(move |c| coupons::set_status(c, &scope, id, &status))
        .await
    {
        Ok(_) => Ok(redirect_flash(&back, "ok", "flash.saved", secure)),
        Err(StoreError::Conflict(why)) => {
            tracing::info!(tenant = %tenant.slug, campaign = id, why, "campaign status change refused");
            Ok(redirect_flash(
                &back,
                "err",
                "flash.status_not_allowed",
                secure,
            ))
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
pub struct IssueForm {
    csrf: String,
    campaign_id: i64,
    back: String,
}

/// Issues one coupon of a campaign to a follower, by hand (from the follower's page).
pub async fn issue_to_follower(
    ctx: Ctx,
    path: web::Path<(String, i64)>,
    f: web::Form<IssueForm>,
) -> Result<HttpResponse, UiError> {
    let (slug, follower) = path.into_inner();
    let (scope, tenant) = ctx.tenant(&slug, Permission::Market).await?;
    ctx.check_csrf(&f.csrf)?;
    let who = ctx.require_user()?.user.name.clone();
    let campaign = f.campaign_id;
    let back = paths::tenant(&tenant.slug).follower(follower);
    let secure = ctx.state.cfg.secure_cookies;
    let r = ctx
        .state
        .db(move |c| coupons::issue(c, &scope, campaign, Some(follower), "manual", &who))
        .await?;
    Ok(match r {
        Ok(c) => {
            tracing::info!(tenant = %tenant.slug, coupon = c.id, follower, "coupon issued by hand");
            redirect_flash(&back, "ok", "flash.coupon_issued", secure)
        }
        Err(NotIssued::NotActive) => {
            redirect_flash(&back, "err", "flash.campaign_not_active", secure)
        }
        Err(NotIssued::SupplyExhausted) => {
            redirect_flash(&back, "err", "flash.supply_exhausted", secure)
        }
        Err(NotIssued::FollowerLimit) => {
            redirect_flash(&back, "err", "flash.follower_limit", secure)
        }
    })
}

/// A coupon's QR image for staff (`/t/{tenant}/coupons/{code}.svg|png`): the signed payload.
pub async fn qr(ctx: Ctx, path: web::Path<(String, String)>) -> Result<HttpResponse, UiError> {
    let (slug, file) = path.into_inner();
    let (scope, _t) = ctx.tenant(&slug, Permission::Market).await?;
    let (code, ext) = file.rsplit_once('.').ok_or(UiError::NotFound)?;
    let (s2, c2) = (scope.clone(), code.to_string());
    let coupon = ctx.state.db(move |c| coupons::by_code(c, &s2, &c2)).await?;
    let payload = rules::qr_payload(
        &app_coupons::qr_key(ctx.state.secrets.mac_key(), &scope),
        &coupon.code,
    );
    super::coupon_image(&payload, ext)
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
pub struct BulkForm {
    csrf: String,
    /// `segment:<id>` or `tag:<id>`.
    target: String,
    /// Set by the confirmation (after the audience size was shown).
    confirm: String,
}

/// Queues issuing the campaign's coupon to every follower of a segment or tag.
pub async fn bulk(
    ctx: Ctx,
    path: web::Path<(String, i64)>,
    f: web::Form<BulkForm>,
) -> Result<HttpResponse, UiError> {
    let (slug, id) = path.into_inner();
    let (scope, tenant) = ctx.tenant(&slug, Permission::Market).await?;
    ctx.check_csrf(&f.csrf)?;
    let back = paths::tenant(&tenant.slug).campaign(id);
    let secure = ctx.state.cfg.secure_cookies;
    let (segment_id, tag_id) = match f.target.split_once(':') {
        Some(("segment", n)) => (n.parse::<i64>().ok(), None),
        Some(("tag", n)) => (None, n.parse::<i64>().ok()),
        _ => (None, None),
    };
    // Another tenant's (or no) campaign is 404 before anything else is said about it.
    let s2 = scope.clone();
    ctx.state.db(move |c| coupons::get(c, &s2, id)).await?;
    if segment_id.is_none() && tag_id.is_none() {
        return Ok(redirect_flash(&back, "err", "flash.bulk_pick", secure));
    }
    if f.confirm != "1" {
        // First the audience and its size, then the go.
        return Ok(crate::render::redirect(&format!(
            "{back}?bulk={}#bulk",
            urlencoding::encode(&f.target)
        )));
    }
    let by = ctx.require_user()?.user.name.clone();
    let job = ctx
        .state
        .run(move |c| app_coupons::enqueue_bulk(c, &scope, id, segment_id, tag_id, &by))
        .await?;
    Ok(match job {
        Ok(j) => {
            tracing::info!(tenant = %tenant.slug, campaign = id, job = j.0, "bulk issue queued");
            redirect_flash(&back, "ok", "flash.bulk_queued", secure)
        }
        Err(app_coupons::NotQueued::CampaignNotActive) => {
            redirect_flash(&back, "err", "flash.campaign_not_active", secure)
        }
    })
}
