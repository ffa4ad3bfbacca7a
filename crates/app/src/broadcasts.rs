//! Broadcasts as the pages, the API and the scheduler share them: composing (every problem
//! at once), approval, scheduling against the tenant's quota, the scheduler's tick that
//! starts due broadcasts, planning (the audience resolved into chunks) and WeChat's
//! reports.

use crate::jobs::{self, Job};
use crate::AppError;
use chrono::{NaiveDateTime, TimeDelta};
use chrono_tz::Tz;
use patron_domain::broadcasts::{self as rules, status, Audience, Message};
use patron_domain::validate::{invalid, Invalid};
use patron_domain::wechat_settings::AccountKind;
use patron_domain::{Permission, TenantScope};
use patron_store::broadcasts::{self as store, Broadcast, QuotaFull, Settings, Target};
use patron_store::followers::{self, Filter};
use patron_store::tenants::Tenant;
use patron_store::{coupons, reply_rules, segments, tags, write_tx, DbConn, StoreError};

/// OpenIDs per `mass/send` call (WeChat's maximum).
pub const CHUNK: usize = patron_wechat::api::mass::OPENIDS_MAX;

/// How long after their last message a follower can still be sent customer-service
/// messages.
pub const CS_WINDOW: TimeDelta = TimeDelta::hours(48);

/// A broadcast as composed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Draft {
    pub title: String,
    pub message: Message,
    pub audience: Audience,
    /// Also email the audience's followers who agreed to email (text and offers).
    pub email: bool,
}

/// The mass-send form of a broadcast's message (an offer sends its text: the follower's
/// own link comes in the reply to its keyword).
pub fn mass_message(m: &Message) -> patron_wechat::api::MassMessage {
    use patron_wechat::api::MassMessage;
    match m {
        Message::Text { text } | Message::Offer { text, .. } => MassMessage::text(text.clone()),
        Message::Image { media_id } => MassMessage::Image {
            media_id: media_id.clone(),
        },
        Message::News { media_id } => MassMessage::MpNews {
            media_id: media_id.clone(),
            send_ignore_reprint: false,
        },
    }
}

/// The tenant's account kind, read leniently (an unknown value is the default preset).
pub fn account_kind(t: &Tenant) -> AccountKind {
    AccountKind::parse(&t.wx_account_kind).unwrap_or_default()
}

/// The tenant's time zone (Shanghai when unreadable, as everywhere).
pub fn tz(t: &Tenant) -> Tz {
    patron_domain::validate::stored_time_zone(&t.time_zone)
}

/// The tenant's broadcast settings.
pub fn settings(c: &mut DbConn, scope: &TenantScope, t: &Tenant) -> Result<Settings, AppError> {
    Ok(store::settings(c, scope, account_kind(t))?)
}

/// Every problem of a draft, by field: the title, the message, the audience (its tag or
/// segment must be the tenant's; WeChat lets only service accounts send to an OpenID list,
/// so other accounts reach a segment or a list only through a tag synced with WeChat;
/// followers who wrote recently get text or images, not article drafts).
pub fn judge(
    c: &mut DbConn,
    scope: &TenantScope,
    t: &Tenant,
    d: &Draft,
) -> Result<Vec<Invalid>, AppError> {
    let mut out = Vec::new();
    let title = d.title.trim();
    if title.is_empty() {
        out.push(invalid("title", "required"));
    } else if title.chars().count() > 100 {
        out.push(invalid("title", "too_long"));
    }
    out.extend(d.message.check());
    let service = account_kind(t) == AccountKind::Service;
    match &d.audience {
        Audience::All => {}
        Audience::Tag { tag_id } => match tags::get(c, scope, *tag_id) {
            Ok(tag) if tag.wx_tag_id.is_none() && !service => {
                out.push(invalid("tag_id", "tag_not_synced"))
            }
            Ok(_) => {}
            Err(StoreError::NotFound) => out.push(invalid("tag_id", "unknown_tag")),
            Err(e) => return Err(e.into()),
        },
        Audience::Segment { segment_id } => match segments::get(c, scope, *segment_id) {
            Ok(_) if !service => out.push(invalid("segment_id", "needs_service_account")),
            Ok(_) => {}
            Err(StoreError::NotFound) => out.push(invalid("segment_id", "unknown_segment")),
            Err(e) => return Err(e.into()),
        },
        Audience::OpenIds { .. } if !service => {
            out.push(invalid("openids", "needs_service_account"))
        }
        Audience::OpenIds { .. } => {}
        Audience::Recent => {
            if matches!(d.message, Message::News { .. }) {
                out.push(invalid("kind", "news_not_for_recent"));
            }
        }
    }
    if d.email && d.message.direct_text().is_none() {
        out.push(invalid("email", "email_needs_text"));
    }
    if let Message::Offer {
        campaign_id,
        keyword,
        ..
    } = &d.message
    {
        match coupons::get(c, scope, *campaign_id) {
            Ok(camp) if camp.status != "active" => {
                out.push(invalid("campaign_id", "campaign_not_active"))
            }
            Ok(_) => {}
            Err(StoreError::NotFound) => out.push(invalid("campaign_id", "unknown_campaign")),
            Err(e) => return Err(e.into()),
        }
        if let Some(rule) = keyword_rule(c, scope, keyword)? {
            // A rule that already answers the keyword with the follower's link serves
            // the offer as well; any other answer would hide it.
            if !rule.reply_body.contains("{link}") {
                out.push(invalid("keyword", "keyword_taken"));
            }
        }
    }
    Ok(out)
}

/// The rule answering exactly `keyword`, if there is one.
fn keyword_rule(
    c: &mut DbConn,
    scope: &TenantScope,
    keyword: &str,
) -> Result<Option<reply_rules::ReplyRule>, StoreError> {
    let keyword = keyword.trim();
    Ok(reply_rules::list(c, scope)?.into_iter().find(|r| {
        r.trigger_kind == "keyword_exact" && r.trigger_value.trim().eq_ignore_ascii_case(keyword)
    }))
}

/// The reply rule a coupon offer's keyword needs: made when the offer is planned unless a
/// rule already answers the keyword (with a link, as [`judge`] demands).
fn ensure_offer_rule(
    c: &mut DbConn,
    scope: &TenantScope,
    keyword: &str,
    reply: &str,
) -> Result<(), StoreError> {
    use patron_domain::replies::{Content, Trigger};
    if keyword_rule(c, scope, keyword)?.is_some() {
        return Ok(());
    }
    write_tx(c, |c| {
        reply_rules::create_full(
            c,
            scope,
            &Trigger::KeywordExact(keyword.trim().to_string()),
            &[Content::Text {
                text: reply.to_string(),
            }],
            // Before broader rules (a keyword-contains rule on the same word).
            100,
            None,
        )?;
        patron_store::cache_epoch::bump(c)
    })
}

/// Creates a draft, or answers every problem.
pub fn create(
    c: &mut DbConn,
    scope: &TenantScope,
    t: &Tenant,
    d: &Draft,
    by: &str,
) -> Result<Broadcast, AppError> {
    let problems = judge(c, scope, t, d)?;
    if !problems.is_empty() {
        return Err(AppError::Invalid(problems));
    }
    Ok(store::create(
        c,
        scope,
        d.title.trim(),
        &d.message,
        &d.audience,
        d.email,
        by,
    )?)
}

/// Rewrites a broadcast that is not scheduled yet (it goes back to draft).
pub fn update(
    c: &mut DbConn,
    scope: &TenantScope,
    t: &Tenant,
    id: i64,
    d: &Draft,
) -> Result<(), AppError> {
    let problems = judge(c, scope, t, d)?;
    if !problems.is_empty() {
        return Err(AppError::Invalid(problems));
    }
    Ok(store::update(
        c,
        scope,
        id,
        d.title.trim(),
        &d.message,
        &d.audience,
        d.email,
    )?)
}

/// Asks for approval (when the tenant wants one).
pub fn submit(c: &mut DbConn, scope: &TenantScope, id: i64) -> Result<(), AppError> {
    Ok(store::transition(
        c,
        scope,
        id,
        &[status::DRAFT],
        status::AWAITING_APPROVAL,
    )?)
}

/// Approves a broadcast: merchant admins (and the agency) only, recorded with who and when.
pub fn approve(c: &mut DbConn, scope: &TenantScope, id: i64, by: &str) -> Result<(), AppError> {
    if !scope.may(Permission::ManageSettings) {
        return Err(AppError::Forbidden);
    }
    Ok(store::approve(c, scope, id, by)?)
}

/// Discards a broadcast that has not started (a scheduled one gives its slot back).
pub fn cancel(c: &mut DbConn, scope: &TenantScope, id: i64) -> Result<(), AppError> {
    Ok(store::cancel(c, scope, id)?)
}

/// When to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum When {
    /// As soon as the scheduler's next tick.
    Now,
    /// A local date and time in the tenant's zone.
    At(NaiveDateTime),
    /// Again and again: a cron expression (minute hour day month weekday) read in the
    /// tenant's zone, evaluated by croner (tokio-cron-scheduler's parser).
    Repeat(String),
}

/// The answer to scheduling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scheduled {
    /// On the calendar at this UTC time.
    At(NaiveDateTime),
    /// The period is full; the first free slot after it, if any within a year.
    Full(QuotaFull),
    /// Recurring; its first occurrence (UTC).
    Repeats(NaiveDateTime),
}

/// How far ahead the scheduler makes a recurring broadcast's occurrences (and takes
/// their slots, so the calendar shows them).
pub const RECURRING_AHEAD: TimeDelta = TimeDelta::days(7);

/// Reads a cron expression of five fields (no seconds: broadcasts are planned to the
/// minute).
pub fn parse_cron(expr: &str) -> Result<croner::Cron, Invalid> {
    let expr = expr.trim();
    if expr.split_whitespace().count() != 5 || expr.len() > 100 {
        return Err(invalid("recurrence", "invalid_cron"));
    }
    expr.parse::<croner::Cron>()
        .map_err(|_| invalid("recurrence", "invalid_cron"))
}

/// The first occurrence of `cron` after `after` (UTC), in the tenant's zone.
pub fn next_occurrence(
    cron: &croner::Cron,
    after: NaiveDateTime,
    zone: Tz,
) -> Option<NaiveDateTime> {
    use chrono::TimeZone;
    let local = zone.from_utc_datetime(&after);
    cron.find_next_occurrence(&local, false)
        .ok()
        .map(|t| t.naive_utc())
}

/// Schedules a broadcast: the time read in the tenant's zone (a time the clocks skip is
/// refused, a past one too), a slot of its period taken unless it goes out as
/// customer-service messages.
pub fn schedule(
    c: &mut DbConn,
    scope: &TenantScope,
    t: &Tenant,
    id: i64,
    when: When,
    now: NaiveDateTime,
    by: &str,
) -> Result<Scheduled, AppError> {
    let zone = tz(t);
    if let When::Repeat(expr) = &when {
        let cron = parse_cron(expr).map_err(|e| AppError::Invalid(vec![e]))?;
        let first = next_occurrence(&cron, now, zone)
            .ok_or_else(|| AppError::Invalid(vec![invalid("recurrence", "invalid_cron")]))?;
        let settings = settings(c, scope, t)?;
        store::set_recurring(c, scope, id, expr.trim(), first, settings.needs_approval)?;
        return Ok(Scheduled::Repeats(first));
    }
    let at = match when {
        When::Repeat(_) => unreachable!("answered above"),
        When::Now => now,
        When::At(local) => {
            let at = rules::local_to_utc(local, zone)
                .ok_or_else(|| AppError::Invalid(vec![invalid("at", "time_skipped")]))?;
            if at < now - TimeDelta::minutes(1) {
                return Err(AppError::Invalid(vec![invalid("at", "in_the_past")]));
            }
            at
        }
    };
    let b = store::get(c, scope, id)?;
    let uses_quota = b.audience().is_none_or(|a| a.uses_quota());
    let settings = settings(c, scope, t)?;
    Ok(
        match store::schedule(c, scope, id, at, &settings, zone, uses_quota, by)? {
            Ok(()) => Scheduled::At(at),
            Err(full) => Scheduled::Full(full),
        },
    )
}

/// Takes a scheduled broadcast off the calendar, freeing its slot.
pub fn unschedule(c: &mut DbConn, scope: &TenantScope, id: i64) -> Result<(), AppError> {
    Ok(store::unschedule(c, scope, id)?)
}

/// Records a broadcast sent from the official console at a local time, so planning
/// counts it.
pub fn record_external(
    c: &mut DbConn,
    scope: &TenantScope,
    t: &Tenant,
    local: NaiveDateTime,
    note: &str,
    by: &str,
) -> Result<Result<i64, QuotaFull>, AppError> {
    let zone = tz(t);
    let at = rules::local_to_utc(local, zone)
        .ok_or_else(|| AppError::Invalid(vec![invalid("at", "time_skipped")]))?;
    let note = note.trim();
    if note.chars().count() > 200 {
        return Err(AppError::Invalid(vec![invalid("note", "too_long")]));
    }
    let settings = settings(c, scope, t)?;
    Ok(store::record_external(
        c, scope, at, note, &settings, zone, by,
    )?)
}

/// The scheduler's tick: every due broadcast is marked sending and its job queued, in one
/// transaction each, so two processes ticking at once start it once. Returns how many
/// it started.
pub fn start_due(c: &mut DbConn, now: NaiveDateTime) -> Result<usize, StoreError> {
    let mut started = 0;
    for (id, tenant) in store::due(c, now, 100)? {
        let Some(tref) = patron_store::tenants::find_ref_by_id(c, patron_domain::TenantId(tenant))?
        else {
            continue;
        };
        let scope = TenantScope::system(tref);
        let queued = write_tx(c, |c| {
            if !store::start(c, &scope, id)? {
                return Ok::<_, StoreError>(false);
            }
            jobs::enqueue(
                c,
                &scope,
                &Job::BroadcastSend(jobs::BroadcastSend {
                    tenant_id: tenant,
                    broadcast_id: id,
                }),
            )?;
            Ok(true)
        })?;
        if queued {
            tracing::info!(tenant, broadcast = id, "broadcast due: sending");
            started += 1;
        }
    }
    Ok(started)
}

/// The scheduler's other duty: recurring broadcasts' occurrences within
/// [`RECURRING_AHEAD`] become broadcasts of their own, each with a slot (or skipped when
/// its period is full), once however many processes tick. Returns how many it made.
pub fn make_occurrences(c: &mut DbConn, now: NaiveDateTime) -> Result<usize, StoreError> {
    let mut made = 0;
    for (id, tenant) in store::recurring_due(c, now + RECURRING_AHEAD)? {
        let Some(tref) = patron_store::tenants::find_ref_by_id(c, patron_domain::TenantId(tenant))?
        else {
            continue;
        };
        let scope = TenantScope::system(tref);
        let t = patron_store::tenants::get(c, &scope)?;
        let zone = tz(&t);
        let settings = store::settings(c, &scope, account_kind(&t))?;
        // Each occurrence within the horizon, a few per tick at most.
        for _ in 0..10 {
            let template = store::get(c, &scope, id)?;
            let (Some(at), Some(expr)) = (template.next_at, template.recurrence.as_deref()) else {
                break;
            };
            if at > now + RECURRING_AHEAD || template.status != status::RECURRING {
                break;
            }
            let Ok(cron) = parse_cron(expr) else { break };
            let next = next_occurrence(&cron, at, zone);
            let uses_quota = template.audience().is_none_or(|a| a.uses_quota());
            match store::materialize(c, &scope, &template, at, next, &settings, zone, uses_quota)? {
                Some((child, slot)) => {
                    tracing::info!(tenant, template = id, child, %at, slot, "recurring broadcast occurrence");
                    made += 1;
                }
                None => break,
            }
        }
    }
    Ok(made)
}

/// Plans a broadcast once, as its job does before the first call to WeChat: the
/// per-follower cap of the tenant's policy (mass sends only: customer-service messages
/// count against none), the audience resolved, the plan stored. `None` when it was
/// planned before (a retried job), and nothing changes.
pub fn plan_once(
    c: &mut DbConn,
    scope: &TenantScope,
    t: &Tenant,
    b: &Broadcast,
    now: NaiveDateTime,
) -> Result<Option<Plan>, StoreError> {
    if !store::chunks(c, scope, b.id)?.is_empty() {
        return Ok(None);
    }
    let audience = b
        .audience()
        .ok_or(StoreError::Conflict("broadcast_audience_unreadable"))?;
    let policy = store::settings(c, scope, account_kind(t))?.policy;
    let cap = policy
        .follower_monthly_cap
        .filter(|_| audience.uses_quota())
        .map(|most| {
            let month = patron_domain::broadcasts::Period::Month.key_at(now, tz(t));
            (i64::from(most), month.to_string())
        });
    let plan = resolve(c, scope, &audience, now, cap)?;
    let message = b
        .message()
        .ok_or(StoreError::Conflict("broadcast_message_unreadable"))?;
    let (plan, offered) = match &message {
        Message::Offer {
            campaign_id,
            keyword,
            reply,
            ..
        } => {
            ensure_offer_rule(c, scope, keyword, reply)?;
            let (plan, offered) = issue_offer(c, scope, b, *campaign_id, &audience, plan)?;
            (plan, Some(offered))
        }
        _ => (plan, None),
    };
    // The emails first: planned again harmlessly if the plan below is lost.
    if b.email {
        plan_emails(c, scope, b, &audience, &message, &plan.targets)?;
    }
    let stored = store::plan(
        c,
        scope,
        b.id,
        &store::PlanRecord {
            targets: &plan.targets,
            recipients: plan.recipients,
            left_out: plan.left_out,
            cap: plan.cap.as_ref(),
            offered: offered.as_ref(),
        },
    )?;
    Ok(stored.then_some(plan))
}

/// The ids of the followers a plan reaches: those of its OpenID lists, or (a send to
/// everyone or to a WeChat tag) those following with the audience's tag.
fn recipient_ids(
    c: &mut DbConn,
    scope: &TenantScope,
    audience: &Audience,
    targets: &[(Target, i64)],
) -> Result<Vec<i64>, StoreError> {
    let mut out = Vec::new();
    if targets.iter().all(|(t, _)| matches!(t, Target::OpenIds(_))) {
        for (t, _) in targets {
            if let Target::OpenIds(list) = t {
                out.extend(followers::following_ids(c, scope, list)?);
            }
        }
        return Ok(out);
    }
    let filter = Filter {
        subscribed: "yes".into(),
        tag: match audience {
            Audience::Tag { tag_id } => Some(*tag_id),
            _ => None,
        },
        ..Filter::default()
    };
    let mut before = None;
    loop {
        let ids = followers::ids_page(c, scope, &filter, before, ISSUE_BATCH as i64)?;
        let Some(last) = ids.last().copied() else {
            break;
        };
        out.extend(ids);
        before = Some(last);
    }
    Ok(out)
}

/// Plans a broadcast's emails: to the followers it reaches (for an offer, those holding
/// its coupon) who have an address and agreed to email.
fn plan_emails(
    c: &mut DbConn,
    scope: &TenantScope,
    b: &Broadcast,
    audience: &Audience,
    message: &Message,
    targets: &[(Target, i64)],
) -> Result<i64, StoreError> {
    let ids = match message.campaign() {
        Some(campaign) => coupons::holder_ids(c, scope, campaign, &store::offer_channel(b.id))?,
        None => recipient_ids(c, scope, audience, targets)?,
    };
    let to = followers::emailable(c, scope, &ids)?;
    patron_store::broadcast_emails::plan(c, scope, b.id, &to)?;
    Ok(to.len() as i64)
}

/// Followers per transaction when a coupon offer issues its coupons.
const ISSUE_BATCH: usize = 20_000;

/// Issues a coupon offer's coupons to the followers its plan reaches, in batches (a
/// retried plan skips those an interrupted one served: the coupons carry the broadcast's
/// channel). Where the plan sends OpenID lists, followers left without a coupon (the
/// supply ran out, or they hold as many as the campaign allows) are taken out of it;
/// a send to everyone or to a WeChat tag reaches them anyway, and they are counted.
fn issue_offer(
    c: &mut DbConn,
    scope: &TenantScope,
    b: &Broadcast,
    campaign: i64,
    audience: &Audience,
    plan: Plan,
) -> Result<(Plan, store::Offered), StoreError> {
    let channel = store::offer_channel(b.id);
    let mut offered = store::Offered::default();
    let mut exhausted = false;
    for ids in recipient_ids(c, scope, audience, &plan.targets)?.chunks(ISSUE_BATCH) {
        if exhausted {
            offered.no_coupon += ids.len() as i64;
            continue;
        }
        let batch = loop {
            match coupons::issue_batch(c, scope, campaign, ids, &channel, &b.created_by, true) {
                Err(StoreError::Conflict("supply_moved")) => continue,
                other => break other?,
            }
        };
        offered.issued += batch.issued + batch.served_before;
        offered.no_coupon += batch.skipped + batch.unserved;
        exhausted = batch.exhausted;
    }
    let lists = plan
        .targets
        .iter()
        .all(|(t, _)| matches!(t, Target::OpenIds(_)));
    if !lists {
        return Ok((plan, offered));
    }
    // Only followers holding their coupon are sent the offer.
    let holders = coupons::holders(c, scope, campaign, &channel)?;
    let kept: Vec<String> = plan
        .targets
        .into_iter()
        .flat_map(|(t, _)| match t {
            Target::OpenIds(list) => list,
            _ => Vec::new(),
        })
        .filter(|o| holders.contains(o))
        .collect();
    let recipients = kept.len() as i64;
    let targets = if kept.is_empty() {
        Vec::new()
    } else if audience.uses_quota() {
        chunked(kept)
            .into_iter()
            .map(|l| {
                let n = l.len() as i64;
                (Target::OpenIds(l), n)
            })
            .collect()
    } else {
        vec![(Target::OpenIds(kept), recipients)]
    };
    Ok((
        Plan {
            targets,
            recipients,
            ..plan
        },
        offered,
    ))
}

/// What planning a broadcast found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Mass sends (each one call to WeChat) and customer-service recipients.
    pub targets: Vec<(Target, i64)>,
    /// Followers reached.
    pub recipients: i64,
    /// Followers named (an uploaded list) but not following.
    pub left_out: i64,
    /// The per-follower monthly cap as applied (service accounts).
    pub cap: Option<store::Cap>,
}

/// Resolves a broadcast's audience into chunks: everyone or a synced tag as one send;
/// a segment, an unsynced tag or a list as OpenID lists of at most [`CHUNK`] (and at
/// least 2: WeChat's lower bound, so a remainder of one borrows from the chunk before);
/// followers who wrote recently as one list, sent message by message.
///
/// With a per-follower monthly cap (`cap`: the most, and the local month), everyone and
/// tags go as OpenID lists too, and followers who already received the most this month
/// are left out and counted.
pub fn resolve(
    c: &mut DbConn,
    scope: &TenantScope,
    audience: &Audience,
    now: NaiveDateTime,
    cap: Option<(i64, String)>,
) -> Result<Plan, StoreError> {
    let (_, following_now) = followers::count(c, scope)?;
    let walk = |c: &mut DbConn, f: Filter| -> Result<Vec<String>, StoreError> {
        let f = Filter {
            subscribed: "yes".into(),
            ..f
        };
        let mut out = Vec::new();
        let mut before = None;
        loop {
            let page = followers::openids_page(c, scope, &f, before, 20_000)?;
            let Some((last, _)) = page.last() else {
                break;
            };
            before = Some(*last);
            out.extend(page.into_iter().map(|(_, o)| o));
        }
        Ok(out)
    };
    let (openids, left_out) = match audience {
        Audience::All if cap.is_some() => (walk(c, Filter::default())?, 0),
        Audience::All => {
            return Ok(Plan {
                targets: vec![(Target::All, following_now)],
                recipients: following_now,
                left_out: 0,
                cap: None,
            })
        }
        Audience::Tag { tag_id } => {
            let tag = tags::get(c, scope, *tag_id)?;
            if let Some(wx) = tag.wx_tag_id.filter(|_| cap.is_none()) {
                let n = followers::count_matching(
                    c,
                    scope,
                    &Filter {
                        subscribed: "yes".into(),
                        tag: Some(*tag_id),
                        ..Filter::default()
                    },
                )?;
                return Ok(Plan {
                    targets: vec![(Target::Tag(wx), n)],
                    recipients: n,
                    left_out: 0,
                    cap: None,
                });
            }
            let list = walk(
                c,
                Filter {
                    tag: Some(*tag_id),
                    ..Filter::default()
                },
            )?;
            (list, 0)
        }
        Audience::Segment { segment_id } => {
            let f = segments::get(c, scope, *segment_id)?.filter();
            (walk(c, f)?, 0)
        }
        Audience::OpenIds { openids } => {
            let following = followers::following_among(c, scope, openids)?;
            let kept: Vec<String> = openids
                .iter()
                .filter(|o| following.contains(*o))
                .cloned()
                .collect();
            let left = (openids.len() - kept.len()) as i64;
            (kept, left)
        }
        Audience::Recent => {
            let list = store::recent_openids(c, scope, now - CS_WINDOW)?;
            let n = list.len() as i64;
            return Ok(Plan {
                targets: if list.is_empty() {
                    vec![]
                } else {
                    vec![(Target::OpenIds(list), n)]
                },
                recipients: n,
                left_out: 0,
                cap: None,
            });
        }
    };
    let (openids, cap) = match cap {
        Some((most, month)) => {
            let full = store::at_cap(c, scope, &month, most)?;
            let before = openids.len();
            let kept: Vec<String> = openids.into_iter().filter(|o| !full.contains(o)).collect();
            let left_out = (before - kept.len()) as i64;
            (kept, Some(store::Cap { month, left_out }))
        }
        None => (openids, None),
    };
    let recipients = openids.len() as i64;
    Ok(Plan {
        targets: chunked(openids)
            .into_iter()
            .map(|l| {
                let n = l.len() as i64;
                (Target::OpenIds(l), n)
            })
            .collect(),
        recipients,
        left_out,
        cap,
    })
}

/// Splits OpenIDs into lists of at most [`CHUNK`] and at least 2 (a lone one is kept
/// alone only when it is all there is).
pub fn chunked(openids: Vec<String>) -> Vec<Vec<String>> {
    // Moved chunk by chunk into vectors of their own size (splitting one vector would
    // leave each chunk holding the capacity of everything after it).
    let mut out: Vec<Vec<String>> = Vec::with_capacity(openids.len().div_ceil(CHUNK));
    let mut rest = openids.into_iter();
    loop {
        let chunk: Vec<String> = rest.by_ref().take(CHUNK).collect();
        if chunk.is_empty() {
            break;
        }
        out.push(chunk);
    }
    if out.len() > 1 && out.last().is_some_and(|l| l.len() == 1) {
        let before_last = out.len() - 2;
        let moved = out[before_last].pop().expect("a full chunk");
        out.last_mut().expect("two chunks").insert(0, moved);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_are_chunked_within_wechats_bounds() {
        let ids = |n: usize| (0..n).map(|i| format!("o{i}")).collect::<Vec<_>>();
        let sizes = |n: usize| chunked(ids(n)).iter().map(Vec::len).collect::<Vec<_>>();
        assert_eq!(sizes(0), Vec::<usize>::new());
        assert_eq!(sizes(1), [1]);
        assert_eq!(sizes(10_000), [10_000]);
        assert_eq!(sizes(10_001), [9_999, 2]);
        assert_eq!(sizes(25_000), [10_000, 10_000, 5_000]);
        // Nothing lost or repeated, order kept.
        let all: Vec<String> = chunked(ids(20_001)).concat();
        assert_eq!(all, ids(20_001));
    }
}
