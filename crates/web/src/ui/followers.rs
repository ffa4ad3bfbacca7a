//! The followers CRM: list with filters and keyset paging, the follower page with the
//! merchant-filled profile and the permanent timeline.

use crate::ctx::Ctx;
use crate::error::UiError;
use crate::paths;
use crate::render::{html, redirect_flash, Page};
use crate::ui::messages as form_messages;
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;
use chrono::NaiveDateTime;
use patron_domain::Permission;
use patron_store::followers::{self, ArchivedMessage, Filter, Follower, Profile};
use patron_store::StoreError;
use serde::Deserialize;

#[derive(Template)]
#[template(path = "followers.html")]
struct FollowersPage {
    page: Page,
    slug: String,
    tz: String,
    rows: Vec<Follower>,
    filter: Filter,
    total: i64,
    subscribed: i64,
    next: Option<String>,
    /// The newest follower sync from WeChat, if any.
    sync: Option<patron_store::jobs::Job>,
    tags: Vec<(patron_store::tags::Tag, i64)>,
    attrs: Vec<patron_store::attributes::Attribute>,
    segments: Vec<patron_store::segments::Segment>,
    /// The filter as a query string (for export, saving as a segment, bulk tagging).
    filter_query: String,
    /// How many followers the filter matches (counted up to [`MATCH_CAP`]), when there
    /// is a filter.
    matching: Option<(i64, bool)>,
}

impl FollowersPage {
    fn matching_text(&self) -> String {
        match self.matching {
            Some((n, false)) => n.to_string(),
            Some((n, true)) => format!("{n}+"),
            None => String::new(),
        }
    }
    fn attr_is(&self, id: &i64) -> bool {
        self.filter.attr == Some(*id)
    }
    fn segment_is(&self, id: &i64) -> bool {
        self.filter.segment == Some(*id)
    }
    fn op_options(&self) -> [(&'static str, String); 5] {
        ["eq", "gt", "lt", "set", "unset"]
            .map(|o| (o, self.page.t(&format!("attrs.op_{o}")).to_string()))
    }
    fn kind_label(&self, k: &str) -> String {
        self.page.t(&format!("attrs.kind_{k}")).to_string()
    }
    fn kind_options(&self) -> [(&'static str, String); 4] {
        ["text", "number", "date", "bool"]
            .map(|k| (k, self.page.t(&format!("attrs.kind_{k}")).to_string()))
    }
    fn when(&self, t: &Option<NaiveDateTime>) -> String {
        crate::format::local_opt(t, &self.tz)
    }
    /// Whether a filter besides the search is set (the filters then start open).
    fn filter_active(&self) -> bool {
        let f = &self.filter;
        !f.subscribed.is_empty()
            || !f.qr_scene.is_empty()
            || f.active_days.is_some()
            || f.tag.is_some()
            || f.attr.is_some()
            || !f.created_from.is_empty()
            || !f.created_to.is_empty()
            || !f.followed_from.is_empty()
    }
    fn tag_is(&self, id: &i64) -> bool {
        self.filter.tag == Some(*id)
    }
    fn sync_running(&self) -> bool {
        self.sync.as_ref().is_some_and(|j| {
            j.state == patron_store::jobs::QUEUED || j.state == patron_store::jobs::RUNNING
        })
    }
    fn sync_state(&self) -> String {
        self.sync
            .as_ref()
            .map(|j| self.page.t(&format!("job.{}", j.state)).to_string())
            .unwrap_or_default()
    }
    /// Why the last sync attempt failed, in words.
    fn sync_why(&self) -> Option<String> {
        self.sync
            .as_ref()
            .and_then(|j| crate::format::job_failure(self.page.lang, j))
    }
    fn day_options(&self) -> [i64; 4] {
        [1, 7, 30, 90]
    }
    fn active_is(&self, d: &i64) -> bool {
        self.filter.active_days == Some(*d)
    }
}

/// A filtered list counts its matches up to this many ("10000+" beyond): an exact count
/// of a broad filter over a million followers would cost more than the page.
pub use patron_app::followers::MATCH_CAP;

fn query_string(f: &Filter, before: i64) -> String {
    let q = f.query();
    if q.is_empty() {
        format!("before={before}")
    } else {
        format!("{q}&before={before}")
    }
}

pub async fn list(
    ctx: Ctx,
    slug: web::Path<String>,
    q: web::Query<Filter>,
) -> Result<HttpResponse, UiError> {
    let (scope, tenant) = ctx.tenant(&slug, Permission::Market).await?;
    let filter = q.into_inner();
    let (s2, f2) = (scope.clone(), filter.clone());
    let filtered = {
        let mut f = filter.clone();
        f.segment = None;
        !f.query().is_empty()
    };
    let ((rows, more), (total, subscribed), sync, tags, extra) = ctx
        .state
        .db(move |c| {
            let matching = if filtered {
                Some(followers::count_matching_capped(c, &s2, &f2, MATCH_CAP)?)
            } else {
                None
            };
            Ok((
                followers::list(c, &s2, &f2)?,
                followers::count(c, &s2)?,
                patron_store::jobs::latest(c, &s2, patron_store::jobs::kinds::FOLLOWER_SYNC)?,
                patron_store::tags::list(c, &s2)?,
                (
                    patron_store::attributes::list(c, &s2)?,
                    patron_store::segments::list(c, &s2)?,
                    matching,
                ),
            ))
        })
        .await?;
    let (attrs, segments, matching) = extra;
    let next = more
        .then(|| {
            rows.last()
                .map(|r| paths::tenant(&tenant.slug).followers_where(&query_string(&filter, r.id)))
        })
        .flatten();
    let page = ctx
        .page("followers", "followers.title", Some((&scope, &tenant)))
        .await?;
    Ok(html(
        &FollowersPage {
            page,
            slug: tenant.slug.clone(),
            tz: tenant.time_zone.clone(),
            rows,
            total,
            subscribed,
            next,
            sync,
            tags,
            attrs,
            segments,
            filter_query: filter.query(),
            matching,
            filter,
        },
        StatusCode::OK,
    ))
}

#[derive(Template)]
#[template(path = "follower.html")]
struct FollowerPage {
    page: Page,
    slug: String,
    tz: String,
    f: Follower,
    next: Option<String>,
    profile: Profile,
    errors: Vec<String>,
    /// The follower's tags, and the tenant's others (to add).
    mine: Vec<patron_store::tags::Tag>,
    others: Vec<patron_store::tags::Tag>,
    notes: Vec<followers::Note>,
    /// Each custom attribute with the follower's value: (key, label, kind, value).
    attrs: Vec<(String, String, String, String)>,
    coupons: Vec<patron_store::coupons::Coupon>,
    /// Active campaigns, to issue from.
    campaigns: Vec<patron_store::coupons::Campaign>,
    /// The timeline page: messages with the points, coupons and stamps of the same span.
    items: Vec<Item>,
    /// The points balance and the latest ledger entries.
    points: i64,
    ledger: Vec<patron_store::loyalty::Entry>,
    /// Stamp cards with the follower's stamps on them.
    cards: Vec<(patron_store::stamps::Card, i64)>,
    /// Their WeChat Pay payments, newest first.
    payments: Vec<patron_store::payments::Payment>,
}

/// One line of the timeline.
pub enum Item {
    Message(Box<ArchivedMessage>),
    /// Points, a coupon or a stamp, in the follower's language of events.
    Loyalty {
        at: NaiveDateTime,
        text: String,
    },
}

impl Item {
    fn at(&self) -> NaiveDateTime {
        match self {
            Item::Message(m) => m.sent_at,
            Item::Loyalty { at, .. } => *at,
        }
    }
}

/// What happened in loyalty terms between `after` and `until` (open ends allowed).
#[allow(clippy::too_many_arguments)]
fn loyalty_items(
    lang: crate::i18n::Lang,
    after: Option<NaiveDateTime>,
    until: Option<NaiveDateTime>,
    entries: &[patron_store::loyalty::Entry],
    coupons: &[patron_store::coupons::Coupon],
    campaigns: &[patron_store::coupons::Campaign],
    stamps: &[patron_store::stamps::Event],
    cards: &[(patron_store::stamps::Card, i64)],
    money: (
        &[patron_store::payments::Payment],
        &[(patron_store::payments::Refund, String)],
    ),
) -> Vec<Item> {
    let within = |t: &NaiveDateTime| after.is_none_or(|a| *t > a) && until.is_none_or(|u| *t <= u);
    let campaign = |id: i64| {
        campaigns
            .iter()
            .find(|c| c.id == id)
            .map(|c| c.name.clone())
            .unwrap_or_else(|| format!("#{id}"))
    };
    let mut out = Vec::new();
    for e in entries.iter().filter(|e| within(&e.at)) {
        let sign = if e.points > 0 { "+" } else { "" };
        let mut text = format!(
            "{} {sign}{} {} {}",
            lang.t(&format!("points.kind_{}", e.kind)),
            e.points,
            lang.t("points.unit"),
            lang.t(&format!("points.source_{}", e.source))
        );
        if !e.reason.is_empty() {
            text.push_str(&format!(" · {}", e.reason));
        }
        out.push(Item::Loyalty { at: e.at, text });
    }
    for c in coupons {
        if within(&c.issued_at) {
            out.push(Item::Loyalty {
                at: c.issued_at,
                text: lang.t1(
                    "timeline.coupon_issued",
                    format!(
                        "{} ({})",
                        campaign(c.campaign_id),
                        crate::format::channel_text(lang, &c.channel)
                    ),
                ),
            });
        }
        if let Some(r) = c.redeemed_at.filter(|r| within(r)) {
            out.push(Item::Loyalty {
                at: r,
                text: lang.t1("timeline.coupon_redeemed", campaign(c.campaign_id)),
            });
        }
    }
    for s in stamps.iter().filter(|s| within(&s.at)) {
        let card = cards
            .iter()
            .find(|(c, _)| c.id == s.card_id)
            .map(|(c, _)| c.name.clone())
            .unwrap_or_else(|| format!("#{}", s.card_id));
        let key = if s.coupon_id.is_some() {
            "timeline.stamp_reward"
        } else {
            "timeline.stamp"
        };
        out.push(Item::Loyalty {
            at: s.at,
            text: lang.t1(key, card),
        });
    }
    let (payments, refunds) = money;
    for p in payments {
        if let Some(at) = p.paid_at.filter(|t| within(t)) {
            out.push(Item::Loyalty {
                at,
                text: lang.t1(
                    "timeline.paid",
                    format!(
                        "¥{} ({})",
                        patron_domain::coupons::yuan(p.total_fen),
                        p.out_trade_no
                    ),
                ),
            });
        }
    }
    for (r, order) in refunds {
        let at = r.succeeded_at.unwrap_or(r.created_at);
        if within(&at) {
            out.push(Item::Loyalty {
                at,
                text: lang.t1(
                    "timeline.refunded",
                    format!("¥{} ({order})", patron_domain::coupons::yuan(r.amount_fen)),
                ),
            });
        }
    }
    out
}

impl FollowerPage {
    fn campaign_name(&self, id: &i64) -> String {
        self.campaigns
            .iter()
            .find(|c| c.id == *id)
            .map(|c| c.name.clone())
            .unwrap_or_else(|| format!("#{id}"))
    }
    fn code(&self, c: &str) -> String {
        patron_domain::coupons::display(c)
    }
    fn when(&self, t: &NaiveDateTime) -> String {
        crate::format::local(t, &self.tz)
    }
    fn yuan(&self, fen: &i64) -> String {
        patron_domain::coupons::yuan(*fen)
    }
    fn when_opt(&self, t: &Option<NaiveDateTime>) -> String {
        crate::format::local_opt(t, &self.tz)
    }
    /// What a message says, for the timeline.
    fn summary(&self, m: &ArchivedMessage) -> String {
        let lang = self.page.lang;
        match (&m.event, &m.content) {
            (Some(e), c) => crate::format::event_text(lang, e, c.as_deref()),
            (None, Some(c)) => c.clone(),
            (None, None) => format!("[{}]", crate::format::message_type_text(lang, &m.msg_type)),
        }
    }
    fn message_type(&self, m: &ArchivedMessage) -> String {
        crate::format::message_type_text(self.page.lang, &m.msg_type)
    }
    /// The text of the passive reply we gave, if it was text.
    fn reply_text(&self, m: &ArchivedMessage) -> Option<String> {
        let xml = m.reply.as_ref()?;
        let doc = patron_wechat::xml::parse_document(xml.as_bytes()).ok()?;
        Some(match doc.child_text("Content") {
            Some(c) => c.to_string(),
            None => format!("[{}]", doc.child_text("MsgType").unwrap_or("reply")),
        })
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct Before {
    before: Option<i64>,
}

fn profile_of(f: &Follower) -> Profile {
    Profile {
        name: f.name.clone().unwrap_or_default(),
        phone: f.phone.clone().unwrap_or_default(),
        email: f.email.clone().unwrap_or_default(),
        birthday: f.birthday.map(|d| d.to_string()).unwrap_or_default(),
        remark: f.remark.clone().unwrap_or_default(),
        email_consent: Some(f.email_consent_at.is_some()),
    }
}

async fn render_one(
    ctx: &Ctx,
    slug: &str,
    id: i64,
    before: Option<i64>,
    form: Option<(Profile, Vec<String>)>,
) -> Result<HttpResponse, UiError> {
    let (scope, tenant) = ctx.tenant(slug, Permission::Market).await?;
    let s2 = scope.clone();
    let (f, (timeline, more), mine, all, notes, attrs, loyalty) = ctx
        .state
        .db(move |c| {
            let defs = patron_store::attributes::list(c, &s2)?;
            let mut values = patron_store::attributes::values_of(c, &s2, &[id])?;
            let values = values.remove(&id).unwrap_or_default();
            let attrs = defs
                .into_iter()
                .map(|d| {
                    let v = values
                        .iter()
                        .find(|(a, _)| *a == d.id)
                        .map(|(_, v)| v.display())
                        .unwrap_or_default();
                    (d.key, d.label, d.kind, v)
                })
                .collect::<Vec<_>>();
            let follower = followers::get(c, &s2, id)?;
            let (tl, more) = followers::timeline(c, &s2, id, before)?;
            // This page's span of time: newer pages end at its first message, older
            // ones begin at its last.
            let span = (
                if more {
                    tl.last().map(|m| m.sent_at)
                } else {
                    None
                },
                before.and(tl.first().map(|m| m.sent_at)),
            );
            Ok((
                follower,
                (tl, more),
                patron_store::tags::of_follower(c, &s2, id)?,
                patron_store::tags::list(c, &s2)?,
                followers::notes(c, &s2, id)?,
                attrs,
                (
                    patron_store::coupons::of_follower(c, &s2, id)?,
                    patron_store::loyalty::balance(c, &s2, id)?,
                    patron_store::loyalty::entries(c, &s2, id, 20)?,
                    patron_store::stamps::progress(c, &s2, id)?,
                    patron_store::loyalty::entries_between(c, &s2, id, span.0, span.1, 200)?,
                    patron_store::stamps::events_of(c, &s2, id, 200)?,
                    patron_store::coupons::list(c, &s2)?,
                    span,
                    patron_store::payments::of_follower(c, &s2, id)?,
                    patron_store::payments::refunds_of_follower(c, &s2, id)?,
                ),
            ))
        })
        .await?;
    let (
        coupons,
        points,
        ledger,
        cards,
        span_entries,
        stamp_events,
        all_campaigns,
        (after, until),
        payments,
        refunds,
    ) = loyalty;
    // Active campaigns, to issue from; all of them name the follower's coupons.
    let campaigns = all_campaigns
        .iter()
        .filter(|c| c.status == "active")
        .cloned()
        .collect();
    // The loyalty events of this page's span of time go between its messages.
    let mut items: Vec<Item> = timeline
        .iter()
        .cloned()
        .map(|m| Item::Message(Box::new(m)))
        .chain(loyalty_items(
            ctx.lang,
            after,
            until,
            &span_entries,
            &coupons,
            &all_campaigns,
            &stamp_events,
            &cards,
            (&payments, &refunds),
        ))
        .collect();
    items.sort_by_key(|i| std::cmp::Reverse(i.at()));
    let others = all
        .into_iter()
        .map(|(t, _)| t)
        .filter(|t| !mine.iter().any(|m| m.id == t.id))
        .collect();
    let next = more
        .then(|| {
            timeline.last().map(|m| {
                format!(
                    "{}?before={}",
                    paths::tenant(&tenant.slug).follower(id),
                    m.id
                )
            })
        })
        .flatten();
    let page = ctx
        .page("followers", "followers.one", Some((&scope, &tenant)))
        .await?;
    let (profile, errors) = form.unwrap_or_else(|| (profile_of(&f), vec![]));
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    Ok(html(
        &FollowerPage {
            page,
            slug: tenant.slug.clone(),
            tz: tenant.time_zone.clone(),
            f,
            next,
            profile,
            errors,
            mine,
            others,
            points,
            ledger,
            cards,
            payments,
            items,
            notes,
            attrs,
            coupons,
            campaigns,
        },
        status,
    ))
}

pub async fn show(
    ctx: Ctx,
    path: web::Path<(String, i64)>,
    q: web::Query<Before>,
) -> Result<HttpResponse, UiError> {
    let (slug, id) = path.into_inner();
    render_one(&ctx, &slug, id, q.before, None).await
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ProfileForm {
    csrf: String,
    /// The consent checkbox: `on` when ticked (absent when not).
    email_consent: String,
    #[serde(flatten)]
    profile: Profile,
}

pub async fn update(
    ctx: Ctx,
    path: web::Path<(String, i64)>,
    f: web::Form<ProfileForm>,
) -> Result<HttpResponse, UiError> {
    let (slug, id) = path.into_inner();
    let (scope, tenant) = ctx.tenant(&slug, Permission::Market).await?;
    ctx.check_csrf(&f.csrf)?;
    let mut f = f.into_inner();
    f.profile.email_consent = Some(f.email_consent == "on");
    let p = f.profile.clone();
    match ctx
        .state
        .db(move |c| followers::update_profile(c, &scope, id, &p))
        .await
    {
        Ok(_) => Ok(redirect_flash(
            &paths::tenant(&tenant.slug).follower(id),
            "ok",
            "flash.saved",
            ctx.state.cfg.secure_cookies,
        )),
        Err(StoreError::Invalid(i)) => {
            let errors = form_messages(ctx.lang, &[i]);
            render_one(&ctx, &slug, id, None, Some((f.profile, errors))).await
        }
        Err(e) => Err(e.into()),
    }
}

/// Queues a sync of the followers from WeChat (one at a time per tenant).
pub async fn sync(
    ctx: Ctx,
    slug: web::Path<String>,
    f: web::Form<crate::forms::CsrfOnly>,
) -> Result<HttpResponse, UiError> {
    let (scope, tenant) = ctx.tenant(&slug, Permission::Market).await?;
    ctx.check_csrf(&f.csrf)?;
    if tenant.wx_appid.is_none() || !tenant.has_secret().app_secret {
        return Ok(redirect_flash(
            &paths::tenant(&tenant.slug).followers(),
            "err",
            "flash.sync_needs_settings",
            ctx.state.cfg.secure_cookies,
        ));
    }
    let id = ctx
        .state
        .db(move |c| patron_app::jobs::sync_followers(c, &scope))
        .await?;
    tracing::info!(job_id = id.0, tenant = %tenant.slug, "follower sync queued");
    Ok(redirect_flash(
        &paths::tenant(&tenant.slug).followers(),
        "ok",
        "flash.sync_queued",
        ctx.state.cfg.secure_cookies,
    ))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct NoteForm {
    csrf: String,
    body: String,
}

pub async fn add_note(
    ctx: Ctx,
    path: web::Path<(String, i64)>,
    f: web::Form<NoteForm>,
) -> Result<HttpResponse, UiError> {
    let (slug, id) = path.into_inner();
    let (scope, tenant) = ctx.tenant(&slug, Permission::Market).await?;
    ctx.check_csrf(&f.csrf)?;
    let user = &ctx.require_user()?.user;
    let (uid, name, body) = (user.id, user.name.clone(), f.body.clone());
    let back = paths::tenant(&tenant.slug).follower(id);
    let secure = ctx.state.cfg.secure_cookies;
    Ok(
        match ctx
            .state
            .db(move |c| followers::add_note(c, &scope, id, (Some(uid), &name), &body))
            .await
        {
            Ok(_) => redirect_flash(&back, "ok", "flash.note_added", secure),
            Err(StoreError::Invalid(_)) => {
                redirect_flash(&back, "err", "flash.note_invalid", secure)
            }
            Err(e) => return Err(e.into()),
        },
    )
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct MessageForm {
    csrf: String,
    text: String,
}

/// Sends the follower a customer-service text message (through a job; it shows on the
/// timeline once WeChat took it).
pub async fn send_message(
    ctx: Ctx,
    path: web::Path<(String, i64)>,
    f: web::Form<MessageForm>,
) -> Result<HttpResponse, UiError> {
    let (slug, id) = path.into_inner();
    let (scope, tenant) = ctx.tenant(&slug, Permission::Market).await?;
    ctx.check_csrf(&f.csrf)?;
    let back = paths::tenant(&tenant.slug).follower(id);
    let secure = ctx.state.cfg.secure_cookies;
    // Another tenant's (or no) follower is 404 before anything else is said about it.
    let s2 = scope.clone();
    ctx.state.db(move |c| followers::get(c, &s2, id)).await?;
    if tenant.wx_appid.is_none() || !tenant.has_secret().app_secret {
        return Ok(redirect_flash(
            &back,
            "err",
            "flash.sync_needs_settings",
            secure,
        ));
    }
    let msg = patron_domain::replies::Content::Text {
        text: f.text.trim().to_string(),
    };
    if msg.validate().is_err() {
        return Ok(redirect_flash(
            &back,
            "err",
            "flash.message_invalid",
            secure,
        ));
    }
    let job = ctx
        .state
        .run(move |c| patron_app::followers::send_messages(c, &scope, id, vec![msg]))
        .await?;
    tracing::info!(job_id = job.0, tenant = %tenant.slug, "customer-service message queued");
    Ok(redirect_flash(&back, "ok", "flash.message_queued", secure))
}
