//! Broadcasts: the list with the quota's calendar (used, reserved and free slots of the
//! coming weeks or months), composing and editing, approval, a preview to a test
//! follower, scheduling (a full period offers the next free slot), sends made outside
//! Patron, and the quota setting the agency keeps.

use crate::ctx::Ctx;
use crate::error::UiError;
use crate::paths;
use crate::render::{html, redirect_flash, redirect_flash_with, Page};
use crate::ui::{messages as form_messages, FieldErrors};
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;
use chrono::{NaiveDate, NaiveDateTime, NaiveTime};
use patron_app::broadcasts::{self as ops, Draft, Scheduled, When};
use patron_app::AppError;
use patron_domain::broadcasts::{self as rules, status, Audience, Message, Period, QuotaPolicy};
use patron_domain::validate::{invalid, Invalid};
use patron_domain::{Permission, TenantScope};
use patron_store::broadcasts::{self as store, Broadcast, Chunk, Settings, Slot};
use patron_store::segments::Segment;
use patron_store::tags::Tag;
use patron_store::tenants::Tenant;
use serde::Deserialize;

/// Days shown on a daily quota's calendar, months on a monthly one.
const CALENDAR_DAYS: i64 = 28;
const CALENDAR_MONTHS: usize = 4;

/// What the compose form sends.
#[derive(Deserialize, Default, Clone)]
#[serde(default)]
pub struct BroadcastForm {
    csrf: String,
    title: String,
    /// text, image, news, offer
    kind: String,
    text: String,
    media_id: String,
    /// A coupon offer's campaign, reply keyword and reply.
    campaign_id: String,
    keyword: String,
    reply: String,
    /// all, tag, segment, openids, recent
    audience: String,
    tag_id: String,
    segment_id: String,
    openids: String,
    /// The "also by email" checkbox: `on` when ticked.
    email: String,
}

impl BroadcastForm {
    fn of(b: &Broadcast) -> BroadcastForm {
        let mut f = BroadcastForm {
            title: b.title.clone(),
            email: if b.email { "on".into() } else { String::new() },
            ..Default::default()
        };
        match b.message() {
            Some(Message::Text { text }) => (f.kind, f.text) = ("text".into(), text),
            Some(Message::Image { media_id }) => (f.kind, f.media_id) = ("image".into(), media_id),
            Some(Message::News { media_id }) => (f.kind, f.media_id) = ("news".into(), media_id),
            Some(Message::Offer {
                campaign_id,
                text,
                keyword,
                reply,
            }) => {
                (f.kind, f.text, f.keyword, f.reply) = ("offer".into(), text, keyword, reply);
                f.campaign_id = campaign_id.to_string();
            }
            None => f.kind = "text".into(),
        }
        if let Some(a) = b.audience() {
            f.audience = a.kind().into();
            match a {
                Audience::Tag { tag_id } => f.tag_id = tag_id.to_string(),
                Audience::Segment { segment_id } => f.segment_id = segment_id.to_string(),
                Audience::OpenIds { openids } => f.openids = openids.join("\n"),
                Audience::All | Audience::Recent => {}
            }
        }
        f
    }

    /// The draft, or every field it could not read.
    fn draft(&self) -> Result<Draft, Vec<Invalid>> {
        let mut errs = Vec::new();
        let id = |field: &'static str, v: &str, errs: &mut Vec<Invalid>| {
            v.trim()
                .parse::<i64>()
                .map_err(|_| errs.push(invalid(field, "required")))
                .ok()
        };
        let message = match self.kind.as_str() {
            "offer" => {
                id("campaign_id", &self.campaign_id, &mut errs).map(|campaign_id| Message::Offer {
                    campaign_id,
                    text: self.text.trim().into(),
                    keyword: self.keyword.trim().into(),
                    reply: self.reply.trim().into(),
                })
            }
            "image" => Some(Message::Image {
                media_id: self.media_id.trim().into(),
            }),
            "news" => Some(Message::News {
                media_id: self.media_id.trim().into(),
            }),
            "text" | "" => Some(Message::Text {
                text: self.text.trim().into(),
            }),
            _ => {
                errs.push(invalid("kind", "invalid_choice"));
                None
            }
        };
        let audience = match self.audience.as_str() {
            "all" | "" => Some(Audience::All),
            "recent" => Some(Audience::Recent),
            "tag" => id("tag_id", &self.tag_id, &mut errs).map(|tag_id| Audience::Tag { tag_id }),
            "segment" => id("segment_id", &self.segment_id, &mut errs)
                .map(|segment_id| Audience::Segment { segment_id }),
            "openids" => match Audience::parse_openids(&self.openids) {
                Ok(openids) => Some(Audience::OpenIds { openids }),
                Err(e) => {
                    errs.push(e);
                    None
                }
            },
            _ => {
                errs.push(invalid("audience", "invalid_choice"));
                None
            }
        };
        match (message, audience) {
            (Some(message), Some(audience)) if errs.is_empty() => Ok(Draft {
                title: self.title.clone(),
                message,
                audience,
                email: self.email == "on",
            }),
            _ => Err(errs),
        }
    }
}

/// A period of the calendar with its slots.
struct CalendarRow {
    label: String,
    used: usize,
    free: usize,
    slots: Vec<Slot>,
}

#[derive(Template)]
#[template(path = "broadcasts.html")]
struct ListPage {
    page: Page,
    slug: String,
    tz: String,
    broadcasts: Vec<Broadcast>,
    settings: Settings,
    calendar: Vec<CalendarRow>,
    can_set_quota: bool,
    errors: Vec<String>,
}

impl ListPage {
    fn when(&self, t: &NaiveDateTime) -> String {
        crate::format::local(t, &self.tz)
    }
    fn state(&self, s: &str) -> String {
        self.page.t(&format!("broadcast.status_{s}")).to_string()
    }
    fn policy(&self) -> String {
        policy_text(&self.page, &self.settings.policy)
    }
    fn custom(&self) -> bool {
        !self.settings.preset
    }
    fn period_is(&self, p: &str) -> bool {
        self.settings.policy.period.as_str() == p
    }
    fn cap(&self) -> String {
        self.settings
            .policy
            .follower_monthly_cap
            .map(|c| c.to_string())
            .unwrap_or_default()
    }
    fn title_of(&self, id: &i64) -> String {
        self.broadcasts
            .iter()
            .find(|b| b.id == *id)
            .map(|b| b.title.clone())
            .unwrap_or_else(|| format!("#{id}"))
    }
}

fn policy_text(page: &Page, p: &QuotaPolicy) -> String {
    let per = page.tn(
        &format!("broadcasts.quota_per_{}", p.period.as_str()),
        p.count,
        "",
    );
    match p.follower_monthly_cap {
        Some(cap) => format!("{per} {}", page.t1("broadcasts.quota_cap", cap)),
        None => per,
    }
}

/// The coming periods of the tenant's calendar with the slots used in each.
fn calendar(page: &Page, settings: &Settings, t: &Tenant, slots: Vec<Slot>) -> Vec<CalendarRow> {
    let tz = ops::tz(t);
    let now = patron_store::now();
    let mut key = settings.policy.key_at(now, tz);
    let n = match settings.policy.period {
        Period::Day => CALENDAR_DAYS as usize,
        Period::Month => CALENDAR_MONTHS,
    };
    let mut out = Vec::new();
    for _ in 0..n {
        let label = key.to_string();
        let mine: Vec<Slot> = slots
            .iter()
            .filter(|s| s.period == label)
            .cloned()
            .collect();
        let used = mine.len();
        out.push(CalendarRow {
            label: match key {
                rules::PeriodKey::Day(d) => {
                    use chrono::Datelike;
                    let wd = d.weekday().number_from_monday();
                    format!(
                        "{} {}",
                        d.format("%Y-%m-%d"),
                        page.t(&format!("weekday.{wd}"))
                    )
                }
                rules::PeriodKey::Month { .. } => label.clone(),
            },
            used,
            free: (settings.policy.count as usize).saturating_sub(used),
            slots: mine,
        });
        key = key.next();
    }
    out
}

async fn render_list(ctx: &Ctx, slug: &str, errors: Vec<String>) -> Result<HttpResponse, UiError> {
    let (scope, tenant) = ctx.tenant(slug, Permission::Market).await?;
    let (s2, t2) = (scope.clone(), tenant.clone());
    let (broadcasts, settings, slots) = ctx
        .state
        .run(move |c| {
            let settings = ops::settings(c, &s2, &t2)?;
            let tz = ops::tz(&t2);
            let now = patron_store::now();
            let from = settings.policy.key_at(now, tz);
            let mut to = from;
            for _ in 0..CALENDAR_DAYS.max(CALENDAR_MONTHS as i64) {
                to = to.next();
            }
            let slots = store::slots_between(c, &s2, &from.to_string(), &to.to_string())?;
            Ok((store::list(c, &s2, 200)?, settings, slots))
        })
        .await?;
    let page = ctx
        .page("broadcasts", "broadcasts.title", Some((&scope, &tenant)))
        .await?;
    let calendar = calendar(&page, &settings, &tenant, slots);
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    Ok(html(
        &ListPage {
            page,
            slug: tenant.slug.clone(),
            tz: tenant.time_zone.clone(),
            calendar,
            broadcasts,
            settings,
            can_set_quota: scope.may_change_api_base(),
            errors,
        },
        status,
    ))
}

pub async fn list(ctx: Ctx, slug: web::Path<String>) -> Result<HttpResponse, UiError> {
    render_list(&ctx, &slug, vec![]).await
}

#[derive(Template)]
#[template(path = "broadcast_form.html")]
struct FormPage {
    page: Page,
    slug: String,
    /// `None` for a new broadcast.
    id: Option<i64>,
    form: BroadcastForm,
    tags: Vec<Tag>,
    segments: Vec<Segment>,
    /// Campaigns an offer may hand out (active ones, and the one it names).
    campaigns: Vec<patron_store::coupons::Campaign>,
    service: bool,
    errors: Vec<String>,
    field_errors: FieldErrors,
}

impl FormPage {
    fn field_err(&self, field: &str) -> Option<&str> {
        self.field_errors.get(field)
    }
    fn kind_is(&self, k: &str) -> bool {
        self.form.kind == k || (k == "text" && self.form.kind.is_empty())
    }
    fn audience_is(&self, a: &str) -> bool {
        self.form.audience == a || (a == "all" && self.form.audience.is_empty())
    }
    fn tag_is(&self, id: &i64) -> bool {
        self.form.tag_id == id.to_string()
    }
    fn segment_is(&self, id: &i64) -> bool {
        self.form.segment_id == id.to_string()
    }
    fn campaign_is(&self, id: &i64) -> bool {
        self.form.campaign_id == id.to_string()
    }
    /// The offer's reply as typed, or the suggested one.
    fn reply(&self) -> &str {
        if self.form.reply.is_empty() {
            self.page.t("broadcast.reply_default")
        } else {
            &self.form.reply
        }
    }
    fn synced(&self, t: &Tag) -> bool {
        t.wx_tag_id.is_some()
    }
}

async fn render_form(
    ctx: &Ctx,
    slug: &str,
    id: Option<i64>,
    form: BroadcastForm,
    errs: &[Invalid],
) -> Result<HttpResponse, UiError> {
    let (scope, tenant) = ctx.tenant(slug, Permission::Market).await?;
    let s2 = scope.clone();
    let named: Option<i64> = form.campaign_id.trim().parse().ok();
    let (tags, segments, campaigns) = ctx
        .state
        .db(move |c| {
            let tags = patron_store::tags::list(c, &s2)?
                .into_iter()
                .map(|(t, _)| t)
                .collect();
            let campaigns = patron_store::coupons::list(c, &s2)?
                .into_iter()
                .filter(|k| k.status == "active" || Some(k.id) == named)
                .collect();
            Ok((tags, patron_store::segments::list(c, &s2)?, campaigns))
        })
        .await?;
    let title = if id.is_some() {
        "broadcasts.edit"
    } else {
        "broadcasts.new"
    };
    let page = ctx
        .page("broadcasts", title, Some((&scope, &tenant)))
        .await?;
    let status = if errs.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    Ok(html(
        &FormPage {
            page,
            slug: tenant.slug.clone(),
            id,
            service: ops::account_kind(&tenant)
                == patron_domain::wechat_settings::AccountKind::Service,
            form,
            tags,
            segments,
            campaigns,
            errors: form_messages(ctx.lang, errs),
            field_errors: FieldErrors::of(ctx.lang, errs),
        },
        status,
    ))
}

pub async fn new_form(ctx: Ctx, slug: web::Path<String>) -> Result<HttpResponse, UiError> {
    render_form(&ctx, &slug, None, BroadcastForm::default(), &[]).await
}

pub async fn create(
    ctx: Ctx,
    slug: web::Path<String>,
    f: web::Form<BroadcastForm>,
) -> Result<HttpResponse, UiError> {
    let (scope, tenant) = ctx.tenant(&slug, Permission::Market).await?;
    ctx.check_csrf(&f.csrf)?;
    let form = f.into_inner();
    let draft = match form.draft() {
        Ok(d) => d,
        Err(errs) => return render_form(&ctx, &slug, None, form, &errs).await,
    };
    let by = ctx.require_user()?.user.name.clone();
    let t2 = tenant.clone();
    match ctx
        .state
        .run(move |c| ops::create(c, &scope, &t2, &draft, &by))
        .await
    {
        Ok(b) => {
            tracing::info!(tenant = %tenant.slug, broadcast = b.id, "broadcast drafted");
            Ok(redirect_flash(
                &paths::tenant(&tenant.slug).broadcast(b.id),
                "ok",
                "flash.saved",
                ctx.state.cfg.secure_cookies,
            ))
        }
        Err(AppError::Invalid(errs)) => render_form(&ctx, &slug, None, form, &errs).await,
        Err(e) => Err(e.into()),
    }
}

pub async fn edit_form(ctx: Ctx, path: web::Path<(String, i64)>) -> Result<HttpResponse, UiError> {
    let (slug, id) = path.into_inner();
    let (scope, _) = ctx.tenant(&slug, Permission::Market).await?;
    let b = ctx.state.db(move |c| store::get(c, &scope, id)).await?;
    render_form(&ctx, &slug, Some(id), BroadcastForm::of(&b), &[]).await
}

pub async fn update(
    ctx: Ctx,
    path: web::Path<(String, i64)>,
    f: web::Form<BroadcastForm>,
) -> Result<HttpResponse, UiError> {
    let (slug, id) = path.into_inner();
    let (scope, tenant) = ctx.tenant(&slug, Permission::Market).await?;
    ctx.check_csrf(&f.csrf)?;
    let s2 = scope.clone();
    ctx.state.db(move |c| store::get(c, &s2, id)).await?;
    let form = f.into_inner();
    let draft = match form.draft() {
        Ok(d) => d,
        Err(errs) => return render_form(&ctx, &slug, Some(id), form, &errs).await,
    };
    let t2 = tenant.clone();
    match ctx
        .state
        .run(move |c| ops::update(c, &scope, &t2, id, &draft))
        .await
    {
        Ok(()) => Ok(redirect_flash(
            &paths::tenant(&tenant.slug).broadcast(id),
            "ok",
            "flash.saved",
            ctx.state.cfg.secure_cookies,
        )),
        Err(AppError::Invalid(errs)) => render_form(&ctx, &slug, Some(id), form, &errs).await,
        Err(e) => Err(e.into()),
    }
}

#[derive(Template)]
#[template(path = "broadcast.html")]
struct ShowPage {
    page: Page,
    slug: String,
    tz: String,
    b: Broadcast,
    chunks: Vec<Chunk>,
    /// A recurring template's occurrences.
    occurrences: Vec<Broadcast>,
    settings: Settings,
    /// The email channel's progress (when the broadcast also goes by email).
    emails: patron_store::broadcast_emails::Counts,
    can_approve: bool,
    /// The schedule form's date and time (local), filled with a proposal or what was typed.
    date: String,
    time: String,
    /// The period was full: the first free slot, local.
    offer: Option<(String, String)>,
    errors: Vec<String>,
}

impl ShowPage {
    fn when(&self, t: &NaiveDateTime) -> String {
        crate::format::local(t, &self.tz)
    }
    fn when_opt(&self, t: &Option<NaiveDateTime>) -> String {
        crate::format::local_opt(t, &self.tz)
    }
    fn state(&self) -> String {
        self.page
            .t(&format!("broadcast.status_{}", self.b.status))
            .to_string()
    }
    fn is(&self, s: &str) -> bool {
        self.b.status == s
    }
    fn editable(&self) -> bool {
        status::editable(&self.b.status)
    }
    fn schedulable(&self) -> bool {
        self.b.status == status::APPROVED
            || (self.b.status == status::DRAFT && !self.settings.needs_approval)
    }
    fn message_text(&self) -> String {
        match self.b.message() {
            Some(Message::Text { text }) => text,
            Some(Message::Image { media_id }) => {
                format!("{}: {media_id}", self.page.t("broadcast.kind_image"))
            }
            Some(Message::News { media_id }) => {
                format!("{}: {media_id}", self.page.t("broadcast.kind_news"))
            }
            Some(Message::Offer { text, keyword, .. }) => format!(
                "{}: {text} ({})",
                self.page.t("broadcast.kind_offer_short"),
                self.page.t1("broadcast.offer_summary", keyword)
            ),
            None => String::new(),
        }
    }
    fn audience_text(&self) -> String {
        match self.b.audience() {
            Some(Audience::OpenIds { openids }) => {
                self.page.t1("broadcast.audience_openids_n", openids.len())
            }
            Some(a) => self
                .page
                .t(&format!("broadcast.audience_{}", a.kind()))
                .to_string(),
            None => String::new(),
        }
    }
    fn uses_quota(&self) -> bool {
        self.b.audience().is_none_or(|a| a.uses_quota())
    }
    fn why(&self) -> Option<String> {
        let f = self.b.failure.as_deref()?;
        Some(match patron_app::jobs::JobFailure::read(f) {
            Some(patron_app::jobs::JobFailure::Wechat { failure, .. }) => {
                crate::format::failure_words(self.page.lang, &failure)
            }
            Some(patron_app::jobs::JobFailure::NotConfigured) => {
                self.page.t("job.not_configured").to_string()
            }
            None => self.page.t("job.internal").to_string(),
        })
    }
    fn status_of(&self, s: &str) -> String {
        self.page.t(&format!("broadcast.status_{s}")).to_string()
    }
    fn chunk_state(&self, c: &Chunk) -> String {
        self.page
            .t(&format!("broadcast.chunk_{}", c.state))
            .to_string()
    }
}

async fn render_show(
    ctx: &Ctx,
    slug: &str,
    id: i64,
    typed: Option<(String, String)>,
    offer: Option<(String, String)>,
    errors: Vec<String>,
) -> Result<HttpResponse, UiError> {
    let (scope, tenant) = ctx.tenant(slug, Permission::Market).await?;
    let (s2, t2) = (scope.clone(), tenant.clone());
    let (b, chunks, occurrences, settings, emails) = ctx
        .state
        .run(move |c| {
            let b = store::get(c, &s2, id)?;
            let chunks = store::chunks(c, &s2, id)?;
            let occurrences = store::occurrences(c, &s2, id)?;
            let emails = patron_store::broadcast_emails::counts(c, &s2, id)?;
            Ok((b, chunks, occurrences, ops::settings(c, &s2, &t2)?, emails))
        })
        .await?;
    let page = ctx
        .page("broadcasts", "broadcasts.title", Some((&scope, &tenant)))
        .await?;
    // The proposal: what was typed, else the scheduled time, else tomorrow 20:00 local.
    let tz = ops::tz(&tenant);
    let (date, time) = typed.unwrap_or_else(|| {
        let at = b
            .scheduled_at
            .map(|t| rules::utc_to_local(t, tz))
            .unwrap_or_else(|| {
                let today = rules::utc_to_local(patron_store::now(), tz).date();
                (today + chrono::TimeDelta::days(1))
                    .and_time(NaiveTime::from_hms_opt(20, 0, 0).unwrap_or_default())
            });
        (
            at.format("%Y-%m-%d").to_string(),
            at.format("%H:%M").to_string(),
        )
    });
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    Ok(html(
        &ShowPage {
            page,
            slug: tenant.slug.clone(),
            tz: tenant.time_zone.clone(),
            can_approve: scope.may(Permission::ManageSettings),
            b,
            chunks,
            occurrences,
            settings,
            emails,
            date,
            time,
            offer,
            errors,
        },
        status,
    ))
}

pub async fn show(ctx: Ctx, path: web::Path<(String, i64)>) -> Result<HttpResponse, UiError> {
    let (slug, id) = path.into_inner();
    render_show(&ctx, &slug, id, None, None, vec![]).await
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ScheduleForm {
    csrf: String,
    /// now, at or repeat
    when: String,
    date: String,
    time: String,
    /// With `repeat`: a cron expression.
    recurrence: String,
}

fn read_local(date: &str, time: &str) -> Option<NaiveDateTime> {
    let d = NaiveDate::parse_from_str(date.trim(), "%Y-%m-%d").ok()?;
    let t = NaiveTime::parse_from_str(time.trim(), "%H:%M").ok()?;
    Some(d.and_time(t))
}

pub async fn schedule(
    ctx: Ctx,
    path: web::Path<(String, i64)>,
    f: web::Form<ScheduleForm>,
) -> Result<HttpResponse, UiError> {
    let (slug, id) = path.into_inner();
    let (scope, tenant) = ctx.tenant(&slug, Permission::Market).await?;
    ctx.check_csrf(&f.csrf)?;
    let s2 = scope.clone();
    ctx.state.db(move |c| store::get(c, &s2, id)).await?;
    let typed = Some((f.date.clone(), f.time.clone()));
    let when = if f.when == "now" {
        When::Now
    } else if f.when == "repeat" {
        When::Repeat(f.recurrence.clone())
    } else {
        match read_local(&f.date, &f.time) {
            Some(l) => When::At(l),
            None => {
                let errs = [invalid("at", "invalid_datetime")];
                return render_show(&ctx, &slug, id, typed, None, form_messages(ctx.lang, &errs))
                    .await;
            }
        }
    };
    let by = ctx.require_user()?.user.name.clone();
    let t2 = tenant.clone();
    let outcome = ctx
        .state
        .run(move |c| ops::schedule(c, &scope, &t2, id, when, patron_store::now(), &by))
        .await;
    let secure = ctx.state.cfg.secure_cookies;
    match outcome {
        Ok(Scheduled::At(at)) => {
            tracing::info!(tenant = %tenant.slug, broadcast = id, %at, "broadcast scheduled");
            Ok(redirect_flash_with(
                &paths::tenant(&tenant.slug).broadcast(id),
                "ok",
                "flash.broadcast_scheduled",
                &crate::format::local(&at, &tenant.time_zone),
                secure,
            ))
        }
        Ok(Scheduled::Repeats(first)) => {
            tracing::info!(tenant = %tenant.slug, broadcast = id, %first, "broadcast repeats");
            Ok(redirect_flash_with(
                &paths::tenant(&tenant.slug).broadcast(id),
                "ok",
                "flash.broadcast_repeats",
                &crate::format::local(&first, &tenant.time_zone),
                secure,
            ))
        }
        Ok(Scheduled::Full(full)) => {
            tracing::info!(tenant = %tenant.slug, broadcast = id, period = %full.period, "quota full");
            let tz = ops::tz(&tenant);
            let offer = full.next.map(|(_, at)| {
                let l = rules::utc_to_local(at, tz);
                (
                    l.format("%Y-%m-%d").to_string(),
                    l.format("%H:%M").to_string(),
                )
            });
            let full_text = ctx.lang.t1("broadcasts.full", full.period);
            let then = match &offer {
                Some((d, t)) => ctx.lang.tn("broadcasts.next_free", &[d, t]),
                None => ctx.lang.t("broadcasts.no_free").to_string(),
            };
            // Sentences run on without a space in Chinese.
            let msg = match ctx.lang {
                crate::i18n::Lang::ZhCn => format!("{full_text}{then}"),
                _ => format!("{full_text} {then}"),
            };
            render_show(&ctx, &slug, id, typed, offer, vec![msg]).await
        }
        Err(AppError::Invalid(errs)) => {
            render_show(&ctx, &slug, id, typed, None, form_messages(ctx.lang, &errs)).await
        }
        Err(AppError::Conflict(_)) => Ok(redirect_flash(
            &paths::tenant(&tenant.slug).broadcast(id),
            "err",
            "flash.broadcast_not_ready",
            secure,
        )),
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct CsrfForm {
    csrf: String,
}

/// The small state changes: submit for approval, approve, take off the calendar,
/// discard.
async fn act(
    ctx: Ctx,
    path: web::Path<(String, i64)>,
    csrf: &str,
    flash: &'static str,
    op: impl FnOnce(&mut patron_store::DbConn, &TenantScope, i64, &str) -> Result<(), AppError>
        + Send
        + 'static,
) -> Result<HttpResponse, UiError> {
    let (slug, id) = path.into_inner();
    let (scope, tenant) = ctx.tenant(&slug, Permission::Market).await?;
    ctx.check_csrf(csrf)?;
    let by = ctx.require_user()?.user.name.clone();
    let back = paths::tenant(&tenant.slug).broadcast(id);
    let secure = ctx.state.cfg.secure_cookies;
    match ctx.state.run(move |c| op(c, &scope, id, &by)).await {
        Ok(()) => {
            tracing::info!(tenant = %tenant.slug, broadcast = id, flash, "broadcast changed");
            Ok(redirect_flash(&back, "ok", flash, secure))
        }
        Err(AppError::Conflict(_)) => Ok(redirect_flash(
            &back,
            "err",
            "flash.broadcast_not_ready",
            secure,
        )),
        Err(e) => Err(e.into()),
    }
}

pub async fn submit(
    ctx: Ctx,
    path: web::Path<(String, i64)>,
    f: web::Form<CsrfForm>,
) -> Result<HttpResponse, UiError> {
    act(
        ctx,
        path,
        &f.csrf,
        "flash.broadcast_submitted",
        |c, s, id, _| ops::submit(c, s, id),
    )
    .await
}

pub async fn approve(
    ctx: Ctx,
    path: web::Path<(String, i64)>,
    f: web::Form<CsrfForm>,
) -> Result<HttpResponse, UiError> {
    act(ctx, path, &f.csrf, "flash.broadcast_approved", ops::approve).await
}

pub async fn unschedule(
    ctx: Ctx,
    path: web::Path<(String, i64)>,
    f: web::Form<CsrfForm>,
) -> Result<HttpResponse, UiError> {
    act(
        ctx,
        path,
        &f.csrf,
        "flash.broadcast_unscheduled",
        |c, s, id, _| {
            if store::get(c, s, id)?.status == status::RECURRING {
                Ok(store::stop_recurring(c, s, id)?)
            } else {
                ops::unschedule(c, s, id)
            }
        },
    )
    .await
}

pub async fn cancel(
    ctx: Ctx,
    path: web::Path<(String, i64)>,
    f: web::Form<CsrfForm>,
) -> Result<HttpResponse, UiError> {
    act(
        ctx,
        path,
        &f.csrf,
        "flash.broadcast_cancelled",
        |c, s, id, _| ops::cancel(c, s, id),
    )
    .await
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct PreviewForm {
    csrf: String,
    openid: String,
}

/// Sends the broadcast's message to one follower through WeChat's preview.
pub async fn preview(
    ctx: Ctx,
    path: web::Path<(String, i64)>,
    f: web::Form<PreviewForm>,
) -> Result<HttpResponse, UiError> {
    let (slug, id) = path.into_inner();
    let (scope, tenant) = ctx.tenant(&slug, Permission::Market).await?;
    ctx.check_csrf(&f.csrf)?;
    let b = ctx.state.db(move |c| store::get(c, &scope, id)).await?;
    let back = paths::tenant(&tenant.slug).broadcast(id);
    let secure = ctx.state.cfg.secure_cookies;
    let openid = f.openid.trim().to_string();
    if openid.is_empty() || openid.len() > 64 {
        let errs = [invalid("openid", "required")];
        return render_show(&ctx, &slug, id, None, None, form_messages(ctx.lang, &errs)).await;
    }
    let client =
        match patron_app::wechat::tenant_client(&ctx.state.pool, &ctx.state.secrets, &tenant) {
            Ok(c) => c,
            Err(_) => {
                return Ok(redirect_flash(
                    &back,
                    "err",
                    "flash.sync_needs_settings",
                    secure,
                ))
            }
        };
    let msg = match b.message() {
        Some(m) => ops::mass_message(&m),
        None => return Err(UiError::NotFound),
    };
    match client.mass_preview(&openid, &msg).await {
        Ok(_) => {
            tracing::info!(tenant = %tenant.slug, broadcast = id, "broadcast previewed");
            Ok(redirect_flash_with(
                &back,
                "ok",
                "flash.broadcast_previewed",
                &openid,
                secure,
            ))
        }
        Err(e) => {
            tracing::info!(tenant = %tenant.slug, broadcast = id, error = %e, "preview refused");
            let why = crate::format::wechat_failure(ctx.lang, &e);
            render_show(&ctx, &slug, id, None, None, vec![why]).await
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ConsoleForm {
    csrf: String,
    date: String,
    time: String,
    note: String,
}

/// Records a broadcast sent from the official console, so the quota counts it.
pub async fn record_console(
    ctx: Ctx,
    slug: web::Path<String>,
    f: web::Form<ConsoleForm>,
) -> Result<HttpResponse, UiError> {
    let (scope, tenant) = ctx.tenant(&slug, Permission::Market).await?;
    ctx.check_csrf(&f.csrf)?;
    let Some(at) = read_local(&f.date, &f.time) else {
        let errs = [invalid("at", "invalid_datetime")];
        return render_list(&ctx, &slug, form_messages(ctx.lang, &errs)).await;
    };
    let by = ctx.require_user()?.user.name.clone();
    let note = f.note.clone();
    let t2 = tenant.clone();
    match ctx
        .state
        .run(move |c| ops::record_external(c, &scope, &t2, at, &note, &by))
        .await
    {
        Ok(Ok(_)) => Ok(redirect_flash(
            &paths::tenant(&tenant.slug).broadcasts(),
            "ok",
            "flash.console_send_recorded",
            ctx.state.cfg.secure_cookies,
        )),
        Ok(Err(full)) => {
            let msg = ctx.lang.t1("broadcasts.full", full.period);
            render_list(&ctx, &slug, vec![msg]).await
        }
        Err(AppError::Invalid(errs)) => {
            render_list(&ctx, &slug, form_messages(ctx.lang, &errs)).await
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn delete_console(
    ctx: Ctx,
    path: web::Path<(String, i64)>,
    f: web::Form<CsrfForm>,
) -> Result<HttpResponse, UiError> {
    let (slug, slot) = path.into_inner();
    let (scope, tenant) = ctx.tenant(&slug, Permission::Market).await?;
    ctx.check_csrf(&f.csrf)?;
    ctx.state
        .db(move |c| store::delete_external(c, &scope, slot))
        .await?;
    Ok(redirect_flash(
        &paths::tenant(&tenant.slug).broadcasts(),
        "ok",
        "flash.deleted",
        ctx.state.cfg.secure_cookies,
    ))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct QuotaForm {
    csrf: String,
    /// preset or custom
    mode: String,
    period: String,
    count: String,
    cap: String,
    /// "on" when checked
    approval: String,
}

/// The agency sets a tenant's quota (custom or the account kind's preset) and whether
/// broadcasts need a merchant admin's approval.
pub async fn set_quota(
    ctx: Ctx,
    slug: web::Path<String>,
    f: web::Form<QuotaForm>,
) -> Result<HttpResponse, UiError> {
    let (scope, tenant) = ctx.tenant(&slug, Permission::ManageSettings).await?;
    ctx.check_csrf(&f.csrf)?;
    if !scope.may_change_api_base() {
        return Err(UiError::Forbidden);
    }
    let custom = if f.mode == "custom" {
        let mut errs = Vec::new();
        let period = Period::parse(&f.period).map_err(|e| errs.push(e)).ok();
        let count = f.count.trim().parse::<i64>().unwrap_or(0);
        let cap = match f.cap.trim() {
            "" => None,
            c => Some(c.parse::<i64>().unwrap_or(0)),
        };
        match period.map(|p| QuotaPolicy::custom(p, count, cap)) {
            Some(Ok(p)) if errs.is_empty() => Some(p),
            Some(Err(e)) => {
                errs.push(e);
                return render_list(&ctx, &slug, form_messages(ctx.lang, &errs)).await;
            }
            _ => return render_list(&ctx, &slug, form_messages(ctx.lang, &errs)).await,
        }
    } else {
        None
    };
    let approval = f.approval == "on";
    ctx.state
        .db(move |c| store::put_settings(c, &scope, custom, approval))
        .await?;
    tracing::info!(tenant = %tenant.slug, custom = custom.is_some(), approval, "broadcast quota set");
    Ok(redirect_flash(
        &paths::tenant(&tenant.slug).broadcasts(),
        "ok",
        "flash.saved",
        ctx.state.cfg.secure_cookies,
    ))
}
