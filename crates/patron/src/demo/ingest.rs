//! The history's pushes, stored as the webhook stores WeChat's: each made as WeChat
//! sends it (the plaintext XML, parsed by `patron_wechat`), answered by the tenant's
//! reply rules and points program as the webhook answers (`patron_domain::replies::
//! choose`, the check-in word, points for a first follow, the rule's or the QR code's
//! coupon) and handed to the ingest writers (`patron_store::inbox::Batcher`, group
//! commit), which create and update the followers, archive the messages, count QR scans,
//! tag, post points and issue coupons.
//!
//! The writers stamp what they create with the time they run; the history happened over
//! the past weeks, so afterwards each row is moved back to when it happened (`backdate`).
//! Messages keep WeChat's CreateTime as sent.

use super::history::{Act, Fan};
use super::{fail, Shop, R};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use patron_domain::replies::{self, Incoming, Rule};
use patron_store::inbox::{self, Act as Work, FollowerChange, Pending, QrHit, Recorded};
use patron_store::reply_rules::Action;
use patron_store::schema::points_ledger as pl;
use patron_store::schema::{coupons as cp, follower_tags as ft, followers as f, messages as msg};
use patron_store::{write_tx, DbPool, SecretBox};
use patron_wechat::reply::{self, cdata};
// A rule's message as a passive reply: the webhook's own.
use patron_web::webhook::as_reply;
use patron_wechat::xml::{Event, Inbound as WxInbound, Message};
use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::sync::Arc;

/// When each follower first got a coupon through a channel (`rule:<id>`, `qr:<scene>`):
/// the moment its coupon was issued. Keyed by (fan, channel).
pub type FirstHits = HashMap<(usize, String), NaiveDateTime>;

/// What the history's pushes earned and issued, noted as they are answered.
struct Books<'a> {
    hits: &'a mut FirstHits,
    /// (fan, ledger key) → when it was earned.
    earned: &'a mut HashMap<(usize, String), NaiveDateTime>,
    /// Points earned by each fan, with when.
    earnings: &'a mut Vec<Vec<(NaiveDateTime, i64)>>,
}

/// What a tenant's webhook knows when a push comes (its cached endpoint).
struct Endpoint {
    shop: usize,
    rules: Vec<Rule<Action>>,
    program: Option<patron_domain::loyalty::Program>,
    links: Arc<patron_app::links::FollowerPage>,
    /// Scene → ticket of the tenant's QR codes.
    tickets: HashMap<String, String>,
    /// Scenes whose code issues a coupon.
    qr_campaigns: Vec<String>,
}

/// Stores every shop's pushes; fills in each shop's follower ids, coupons and earnings.
/// Answers how many pushes were stored.
pub fn store(
    pool: &DbPool,
    secrets: &SecretBox,
    base_url: &str,
    rt: &tokio::runtime::Runtime,
    shops: &mut [Shop],
) -> R<usize> {
    let mut c = pool.get()?;
    let mut endpoints = Vec::new();
    for (i, s) in shops.iter().enumerate() {
        let codes = patron_store::qr_codes::list(&mut c, &s.scope)?;
        endpoints.push(Endpoint {
            shop: i,
            rules: patron_store::reply_rules::active(&mut c, &s.scope)?,
            program: patron_store::loyalty::program(&mut c, &s.scope)?,
            links: Arc::new(patron_app::links::FollowerPage::new(
                secrets.mac_key(),
                base_url,
                &s.tenant.slug,
            )),
            tickets: codes
                .iter()
                .map(|q| (q.scene.clone(), q.ticket.clone()))
                .collect(),
            qr_campaigns: codes
                .iter()
                .filter(|q| q.campaign_id.is_some())
                .map(|q| q.scene.clone())
                .collect(),
        });
    }
    drop(c);
    let mut hits: Vec<FirstHits> = shops.iter().map(|_| FirstHits::new()).collect();
    // (fan, ledger key) → when it was earned.
    let mut earned: Vec<HashMap<(usize, String), NaiveDateTime>> =
        shops.iter().map(|_| HashMap::new()).collect();
    let mut all: Vec<(NaiveDateTime, Pending)> = Vec::new();
    let mut earnings = Vec::new();
    for e in &endpoints {
        let shop = &shops[e.shop];
        let mut mine = vec![Vec::new(); shop.history.fans.len()];
        for (n, p) in shop.history.pushes.iter().enumerate() {
            let fan = &shop.history.fans[p.fan];
            let msg_id = 24_000_000_000_000_000u64 + (e.shop as u64) * 1_000_000_000 + n as u64;
            let xml = push_xml(shop.m.original_id, fan, p.at, &p.act, msg_id, e);
            let wx = patron_wechat::xml::parse_message(xml.as_bytes())
                .map_err(|err| fail("push", err))?;
            let mut books = Books {
                hits: &mut hits[e.shop],
                earned: &mut earned[e.shop],
                earnings: &mut mine,
            };
            let pending = answer(shop, e, p.fan, p.at, &wx, xml, &mut books);
            all.push((p.at, pending));
        }
        earnings.push(mine);
    }
    for (s, mine) in shops.iter_mut().zip(earnings) {
        s.earnings = mine;
    }
    all.sort_by_key(|(at, _)| *at);
    let total = all.len();

    // The ingest writers, as the webhook hands them pushes: group commit, in order.
    let batcher = inbox::Batcher::start(pool.clone(), 1, None)?;
    let mut stored = 0;
    let mut it = all.into_iter().map(|(_, p)| p).peekable();
    while it.peek().is_some() {
        let chunk: Vec<Pending> = it.by_ref().take(2_000).collect();
        let b = batcher.clone();
        let answers = rt.block_on(async move {
            let handles: Vec<_> = chunk
                .into_iter()
                .map(|p| {
                    let b = b.clone();
                    tokio::spawn(async move { b.record_async(p).await })
                })
                .collect();
            let mut out = Vec::with_capacity(handles.len());
            for h in handles {
                out.push(h.await);
            }
            out
        });
        for a in answers {
            match a.map_err(|e| fail("ingest", e))?? {
                Recorded::New { .. } | Recorded::Accepted { .. } => stored += 1,
                Recorded::Duplicate { .. } => {}
            }
        }
    }
    drop(batcher);
    tracing::debug!(total, stored, "demo pushes stored");
    for (i, shop) in shops.iter_mut().enumerate() {
        backdate(pool, shop, &hits[i], &earned[i])?;
    }
    Ok(stored)
}

/// The push as WeChat sends it (plaintext XML).
fn push_xml(
    to: &str,
    fan: &Fan,
    at: NaiveDateTime,
    act: &Act,
    msg_id: u64,
    e: &Endpoint,
) -> String {
    let head = format!(
        "<xml><ToUserName>{}</ToUserName><FromUserName>{}</FromUserName><CreateTime>{}</CreateTime>",
        cdata(to),
        cdata(&fan.openid),
        at.and_utc().timestamp()
    );
    let event = |name: &str, rest: String| {
        format!(
            "{head}<MsgType><![CDATA[event]]></MsgType><Event>{}</Event>{rest}</xml>",
            cdata(name)
        )
    };
    let ticket = |scene: &str| {
        e.tickets
            .get(scene)
            .map(|t| format!("<Ticket>{}</Ticket>", cdata(t)))
            .unwrap_or_default()
    };
    match act {
        Act::Text(t) => format!(
            "{head}<MsgType><![CDATA[text]]></MsgType><Content>{}</Content><MsgId>{msg_id}</MsgId></xml>",
            cdata(t)
        ),
        Act::Follow { scene: None } => event("subscribe", String::new()),
        Act::Follow { scene: Some(s) } => event(
            "subscribe",
            format!("<EventKey>{}</EventKey>{}", cdata(&format!("qrscene_{s}")), ticket(s)),
        ),
        Act::Scan(s) => event("SCAN", format!("<EventKey>{}</EventKey>{}", cdata(s), ticket(s))),
        Act::Click(k) => event("CLICK", format!("<EventKey>{}</EventKey>", cdata(k))),
        Act::Unfollow => event("unsubscribe", String::new()),
    }
}

/// What the webhook would store for this push, had it come then: its follower change,
/// passive reply, QR hit and loyalty work (the webhook's `classify` and `answer`, with
/// the push's own time as "now"). Follow-up jobs (customer-service messages, the
/// follower's info) belong to the time it came and are not queued for history.
fn answer(
    shop: &Shop,
    e: &Endpoint,
    fan: usize,
    at: NaiveDateTime,
    m: &WxInbound,
    body: String,
    books: &mut Books<'_>,
) -> Pending {
    let (change, incoming) = match &m.message {
        Message::Text(t) => (FollowerChange::Interaction, Incoming::Text(&t.content)),
        Message::Event(ev @ Event::Subscribe { .. }) => {
            let scene = ev.qr_scene();
            (
                FollowerChange::Subscribe {
                    qr_scene: scene.map(str::to_string),
                },
                Incoming::Subscribe { qr_scene: scene },
            )
        }
        Message::Event(Event::Unsubscribe) => (FollowerChange::Unsubscribe, Incoming::Silent),
        Message::Event(Event::Scan { event_key, .. }) => {
            (FollowerChange::Interaction, Incoming::Scan(event_key))
        }
        Message::Event(Event::Click { event_key }) => {
            (FollowerChange::Interaction, Incoming::Click(event_key))
        }
        _ => (FollowerChange::Interaction, Incoming::Silent),
    };
    let ts = m.header.create_time;
    let local = super::history::local(shop.tz, at);
    let text = |t: &str| {
        (!t.trim().is_empty()).then(|| reply::Reply::Text { content: t.into() }.answer(m, ts))
    };
    let (mut reply, mut again, mut acts) = (None, None, Vec::new());
    let mut answered = false;
    if let (Some(p), Incoming::Text(t)) = (&e.program, &incoming) {
        if p.is_checkin(t) {
            reply = text(&p.checkin_reply);
            again = text(&p.checkin_again_reply);
            let key = patron_domain::loyalty::checkin_key(local.date());
            if let Entry::Vacant(e) = books.earned.entry((fan, key.clone())) {
                e.insert(at);
                books.earnings[fan].push((at, p.checkin_points));
            }
            acts.push(Work::Award {
                points: p.checkin_points,
                source: "checkin",
                key,
                expires_at: p.expiry(at),
                checkin: true,
            });
            answered = true;
        }
    }
    if !answered {
        if let (Some(p), Incoming::Subscribe { .. }) = (&e.program, &incoming) {
            if p.subscribe_points > 0 {
                let key = patron_domain::loyalty::SUBSCRIBE_KEY.to_string();
                if let Entry::Vacant(e) = books.earned.entry((fan, key.clone())) {
                    e.insert(at);
                    books.earnings[fan].push((at, p.subscribe_points));
                }
                acts.push(Work::Award {
                    points: p.subscribe_points,
                    source: "subscribe",
                    key,
                    expires_at: p.expiry(at),
                    checkin: false,
                });
            }
        }
        if let Some(rule) = replies::choose(&e.rules, &incoming, local) {
            if let Some(first) = rule.reply.messages.first() {
                reply = Some(as_reply(first).answer(m, ts));
            }
            if let Some(campaign_id) = rule.reply.campaign_id {
                let channel = format!("rule:{}", rule.id);
                books.hits.entry((fan, channel.clone())).or_insert(at);
                acts.push(Work::Issue {
                    campaign_id,
                    channel,
                });
            }
        }
    }
    let qr_hit = match &incoming {
        Incoming::Subscribe { qr_scene: Some(s) } => Some(QrHit {
            scene: s.to_string(),
            follow: true,
        }),
        Incoming::Scan(s) => Some(QrHit {
            scene: s.to_string(),
            follow: false,
        }),
        _ => None,
    };
    if let Some(hit) = &qr_hit {
        if e.qr_campaigns.contains(&hit.scene) {
            books
                .hits
                .entry((fan, format!("qr:{}", hit.scene)))
                .or_insert(at);
        }
    }
    let event = match &m.message {
        Message::Event(_) => m.fields.get("Event").cloned(),
        _ => None,
    };
    let content = match &m.message {
        Message::Text(t) => Some(t.content.clone()),
        Message::Event(Event::Click { event_key })
        | Message::Event(Event::Scan { event_key, .. }) => Some(event_key.clone()),
        Message::Event(Event::Subscribe {
            event_key: Some(k), ..
        }) => Some(k.clone()),
        _ => None,
    };
    Pending {
        scope: shop.scope.clone(),
        openid: m.header.from_user.clone(),
        msg_type: m.header.msg_type.clone(),
        event,
        dedupe_key: m.dedupe_key(),
        content,
        body,
        sent_at: at,
        change,
        reply,
        follow_ups: Vec::new(),
        qr_hit,
        acts,
        again_reply: again,
        links: Some(e.links.clone() as Arc<dyn inbox::FollowerLinks>),
    }
}

/// Moves what the ingest writers created back to when it happened: the followers'
/// creation and last change, the messages' receipt (their CreateTime), the tags QR codes
/// put on, the points for following and checking in. Fills in the shop's follower ids
/// and the coupons rules and QR codes issued (with when: `till` moves them back).
fn backdate(
    pool: &DbPool,
    shop: &mut Shop,
    hits: &FirstHits,
    earned: &HashMap<(usize, String), NaiveDateTime>,
) -> R<()> {
    let tenant = shop.scope.tenant_id().0;
    let mut c = pool.get()?;
    let ids: HashMap<String, i64> = f::table
        .filter(f::tenant_id.eq(tenant))
        .select((f::openid, f::id))
        .load::<(String, i64)>(&mut *c)?
        .into_iter()
        .collect();
    shop.followers = shop
        .history
        .fans
        .iter()
        .map(|fan| ids.get(&fan.openid).copied().unwrap_or(0))
        .collect();
    let fan_of: HashMap<i64, usize> = shop
        .followers
        .iter()
        .enumerate()
        .map(|(i, id)| (*id, i))
        .collect();
    let issued: Vec<(i64, Option<i64>, String, i64, String)> = cp::table
        .filter(cp::tenant_id.eq(tenant))
        .select((
            cp::id,
            cp::follower_id,
            cp::channel,
            cp::campaign_id,
            cp::code,
        ))
        .load(&mut *c)?;
    let mut held = Vec::new();
    write_tx(&mut c, |c| -> R<()> {
        diesel::update(msg::table.filter(msg::tenant_id.eq(tenant)))
            .set(msg::received_at.eq(msg::sent_at))
            .execute(c)?;
        for (i, fan) in shop.history.fans.iter().enumerate() {
            let id = shop.followers[i];
            diesel::update(f::table.find(id))
                .set((
                    f::created_at.eq(fan.followed_at),
                    f::updated_at.eq(fan.last_at),
                ))
                .execute(c)?;
            diesel::update(ft::table.filter(ft::follower_id.eq(id)))
                .set(ft::created_at.eq(fan.followed_at))
                .execute(c)?;
        }
        for ((fan, key), at) in earned {
            diesel::update(
                pl::table
                    .filter(pl::tenant_id.eq(tenant))
                    .filter(pl::follower_id.eq(shop.followers[*fan]))
                    .filter(pl::source_key.eq(key)),
            )
            .set(pl::at.eq(*at))
            .execute(c)?;
        }
        for (id, follower, channel, campaign, code) in &issued {
            let Some(fan) = follower.and_then(|f| fan_of.get(&f).copied()) else {
                continue;
            };
            let Some(at) = hits.get(&(fan, channel.clone())).copied() else {
                continue;
            };
            let k = shop
                .campaigns
                .iter()
                .position(|x| x == campaign)
                .unwrap_or(0);
            let until = at + chrono::TimeDelta::days(shop.m.campaigns[k].valid_days);
            // Its issue and validity move back after the tills redeemed it (a till
            // checks the validity against its own clock).
            held.push(super::Held {
                id: *id,
                code: code.clone(),
                fan,
                campaign: k,
                issued_at: at,
                valid_to: until,
                used: false,
            });
        }
        Ok(())
    })?;
    shop.coupons = held;
    Ok(())
}
