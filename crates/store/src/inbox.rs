//! What the webhook stores: the follower touched by a push and the push itself in the
//! permanent archive, exactly once per WeChat delivery key.

use crate::schema::{followers, messages};
use crate::{now, write_tx, DbConn, Result, StoreError};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use patron_domain::TenantScope;

/// How a push changes its follower.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FollowerChange {
    /// A message, click, scan…: the follower is active now.
    Interaction,
    /// Followed (again). `qr_scene` is the parametric-QR scene when it came from a code.
    Subscribe {
        qr_scene: Option<String>,
    },
    Unsubscribe,
}

/// One inbound push, parsed and authenticated by the caller.
#[derive(Debug, Clone)]
pub struct Inbound<'a> {
    pub openid: &'a str,
    pub msg_type: &'a str,
    pub event: Option<&'a str>,
    /// `msg:<MsgId>` or `evt:<FromUserName>:<CreateTime>:<Event>`.
    pub dedupe_key: &'a str,
    /// Searchable text (message content, event key…).
    pub content: Option<&'a str>,
    /// The plaintext XML as received.
    pub body: &'a str,
    /// WeChat's CreateTime.
    pub sent_at: NaiveDateTime,
    pub change: FollowerChange,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    /// First delivery: stored, with the passive reply as sent (placeholders filled in).
    New {
        message_id: i64,
        follower_id: i64,
        reply: Option<String>,
    },
    /// A retry of a delivery already stored: answer with the reply given then.
    Duplicate { reply: Option<String> },
}

/// The reply stored with an earlier delivery of `dedupe_key`, if there was one.
pub fn earlier_reply(
    conn: &mut DbConn,
    scope: &TenantScope,
    dedupe_key: &str,
) -> Result<Option<Option<String>>> {
    Ok(messages::table
        .filter(messages::tenant_id.eq(scope.tenant_id().0))
        .filter(messages::dedupe_key.eq(dedupe_key))
        .select(messages::reply)
        .first::<Option<String>>(conn)
        .optional()?)
}

/// Stores the push and its passive reply, or recognises a retry. Safe under concurrent
/// deliveries: the unique (tenant, dedupe_key) decides, and the loser reads the winner's
/// reply.
pub fn record(
    conn: &mut DbConn,
    scope: &TenantScope,
    msg: &Inbound<'_>,
    reply: Option<&str>,
) -> Result<Recorded> {
    if let Some(reply) = earlier_reply(conn, scope, msg.dedupe_key)? {
        return Ok(Recorded::Duplicate { reply });
    }
    // Two tries: a lost race on the follower row (two first messages at once) is retried.
    for _ in 0..2 {
        let attempt = write_tx(conn, |c| insert_new(c, scope, msg, reply));
        match attempt {
            Err(StoreError::Conflict(_)) => {
                if let Some(reply) = earlier_reply(conn, scope, msg.dedupe_key)? {
                    return Ok(Recorded::Duplicate { reply });
                }
            }
            other => return other,
        }
    }
    Err(StoreError::Conflict("follower"))
}

/// [`record`] for a push from the webhook, with its follow-ups in the same transaction.
fn record_pending(conn: &mut DbConn, p: &Pending) -> Result<Recorded> {
    let msg = p.inbound();
    if let Some(reply) = earlier_reply(conn, &p.scope, msg.dedupe_key)? {
        return Ok(Recorded::Duplicate { reply });
    }
    for _ in 0..2 {
        let attempt = write_tx(conn, |c| {
            let follower_id = touch_follower(c, &p.scope, msg.openid, &msg.change, msg.sent_at)?;
            let reply = finish(c, p, follower_id)?;
            let message_id = insert_message(c, &p.scope, &msg, follower_id, reply.as_deref())?;
            after_new(c, p)?;
            Ok(Recorded::New {
                message_id,
                follower_id,
                reply,
            })
        });
        match attempt {
            Err(StoreError::Conflict(_)) => {
                if let Some(reply) = earlier_reply(conn, &p.scope, msg.dedupe_key)? {
                    return Ok(Recorded::Duplicate { reply });
                }
            }
            other => return other,
        }
    }
    Err(StoreError::Conflict("follower"))
}

/// Touches the follower and inserts the archive row (no dedupe check).
fn insert_new(
    c: &mut DbConn,
    scope: &TenantScope,
    msg: &Inbound<'_>,
    reply: Option<&str>,
) -> Result<Recorded> {
    let follower_id = touch_follower(c, scope, msg.openid, &msg.change, msg.sent_at)?;
    let message_id = insert_message(c, scope, msg, follower_id, reply)?;
    Ok(Recorded::New {
        message_id,
        follower_id,
        reply: reply.map(str::to_string),
    })
}

/// Inserts the archive row of a push (no dedupe check: the unique key decides).
fn insert_message(
    c: &mut DbConn,
    scope: &TenantScope,
    msg: &Inbound<'_>,
    follower_id: i64,
    reply: Option<&str>,
) -> Result<i64> {
    Ok(diesel::insert_into(messages::table)
        .values((
            messages::tenant_id.eq(scope.tenant_id().0),
            messages::follower_id.eq(Some(follower_id)),
            messages::direction.eq("in"),
            messages::msg_type.eq(msg.msg_type),
            messages::event.eq(msg.event),
            messages::dedupe_key.eq(Some(msg.dedupe_key)),
            messages::content.eq(msg.content),
            messages::body.eq(msg.body),
            messages::reply.eq(reply),
            messages::sent_at.eq(msg.sent_at),
            messages::received_at.eq(now()),
        ))
        .returning(messages::id)
        .get_result(c)?)
}

/// Creates or updates the follower a push came from; returns its id.
fn touch_follower(
    c: &mut DbConn,
    scope: &TenantScope,
    openid: &str,
    change: &FollowerChange,
    at: NaiveDateTime,
) -> Result<i64> {
    let t = now();
    let existing: Option<i64> = followers::table
        .filter(followers::tenant_id.eq(scope.tenant_id().0))
        .filter(followers::openid.eq(openid))
        .select(followers::id)
        .first(c)
        .optional()?;
    let id = match existing {
        Some(id) => id,
        None => diesel::insert_into(followers::table)
            .values((
                followers::tenant_id.eq(scope.tenant_id().0),
                followers::openid.eq(openid),
                // Only followers can message an OA; an unsubscribe creates a lapsed record.
                followers::subscribed.eq(*change != FollowerChange::Unsubscribe),
                followers::subscribe_count.eq(0i64),
                followers::created_at.eq(t),
                followers::updated_at.eq(t),
            ))
            .returning(followers::id)
            .get_result(c)?,
    };
    let row = followers::table.find(id);
    match change {
        FollowerChange::Interaction => {
            diesel::update(row)
                .set((
                    followers::last_interaction_at.eq(Some(at)),
                    followers::updated_at.eq(t),
                ))
                .execute(c)?;
        }
        FollowerChange::Subscribe { qr_scene } => {
            let (scene, qr): (Option<String>, Option<String>) = followers::table
                .find(id)
                .select((followers::subscribe_scene, followers::qr_scene))
                .first(c)?;
            // First touch wins: attribution keeps the scene of the first follow.
            let first_follow = scene.is_none();
            diesel::update(row)
                .set((
                    followers::subscribed.eq(true),
                    followers::subscribed_at.eq(Some(at)),
                    followers::subscribe_count.eq(followers::subscribe_count + 1),
                    followers::last_interaction_at.eq(Some(at)),
                    followers::subscribe_scene.eq(if first_follow {
                        Some(
                            if qr_scene.is_some() {
                                "ADD_SCENE_QR_CODE"
                            } else {
                                "ADD_SCENE_OTHERS"
                            }
                            .to_string(),
                        )
                    } else {
                        scene
                    }),
                    followers::qr_scene.eq(if first_follow { qr_scene.clone() } else { qr }),
                    followers::updated_at.eq(t),
                ))
                .execute(c)?;
        }
        FollowerChange::Unsubscribe => {
            diesel::update(row)
                .set((
                    followers::subscribed.eq(false),
                    followers::unsubscribed_at.eq(Some(at)),
                    followers::updated_at.eq(t),
                ))
                .execute(c)?;
        }
    }
    Ok(id)
}

/// Records a message we sent (customer-service, broadcast) on the follower's timeline;
/// `dedupe_key` makes it once only. Returns false if it was recorded before.
pub fn record_outbound(
    conn: &mut DbConn,
    scope: &TenantScope,
    openid: &str,
    msg_type: &str,
    summary: &str,
    body: &str,
    dedupe_key: &str,
) -> Result<bool> {
    write_tx(conn, |c| {
        if earlier_reply(c, scope, dedupe_key)?.is_some() {
            return Ok(false);
        }
        let follower_id: Option<i64> = followers::table
            .filter(followers::tenant_id.eq(scope.tenant_id().0))
            .filter(followers::openid.eq(openid))
            .select(followers::id)
            .first(c)
            .optional()?;
        let t = now();
        diesel::insert_into(messages::table)
            .values((
                messages::tenant_id.eq(scope.tenant_id().0),
                messages::follower_id.eq(follower_id),
                messages::direction.eq("out"),
                messages::msg_type.eq(msg_type),
                messages::dedupe_key.eq(Some(dedupe_key)),
                messages::content.eq(Some(summary)),
                messages::body.eq(body),
                messages::reply.eq(None::<String>),
                messages::sent_at.eq(t),
                messages::received_at.eq(t),
            ))
            .execute(c)?;
        Ok(true)
    })
}

/// Archived messages of every tenant (operations and benchmarks).
pub fn count_messages(conn: &mut DbConn) -> Result<i64> {
    Ok(messages::table.count().get_result(conn)?)
}

/// How fresh a follower's last activity is kept by the ingest writer.
pub const LAST_ACTIVE_STEP: chrono::TimeDelta = chrono::TimeDelta::seconds(60);

/// A push waiting for the ingest writer.
pub struct Pending {
    pub scope: TenantScope,
    pub openid: String,
    pub msg_type: String,
    pub event: Option<String>,
    pub dedupe_key: String,
    pub content: Option<String>,
    pub body: String,
    pub sent_at: NaiveDateTime,
    pub change: FollowerChange,
    pub reply: Option<String>,
    /// Jobs to queue if (and only if) this push is new, in the same transaction that
    /// stores it: a retry queues nothing, a crash loses nothing.
    pub follow_ups: Vec<FollowUp>,
    /// A scan of one of the tenant's parametric QR codes (a follow through it, or `SCAN`).
    pub qr_hit: Option<QrHit>,
    /// Points and coupons the push earns, given in its transaction if it is new.
    pub acts: Vec<Act>,
    /// The reply instead of `reply` when the push's check-in was already made today.
    pub again_reply: Option<String>,
    /// Signs `{link}` (the follower's page) when the reply names it.
    pub links: Option<std::sync::Arc<LinkMaker>>,
}

/// Loyalty work a push leads to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Act {
    /// Points, once per follower and key (the first follow, the day's check-in). A
    /// check-in also stamps the cards that stamp on check-in.
    Award {
        points: i64,
        source: &'static str,
        key: String,
        expires_at: Option<NaiveDateTime>,
        checkin: bool,
    },
    /// A coupon of the campaign (a reply rule's).
    Issue { campaign_id: i64, channel: String },
}

/// Makes links to a follower's page: `{base}{token}`.
pub struct LinkMaker {
    pub key: Vec<u8>,
    /// Everything before the token, e.g. `https://crm.example.com/m/shop/`.
    pub base: String,
    pub days: i64,
}

impl LinkMaker {
    /// Links to `slug`'s follower pages under `base_url`, valid for
    /// [`patron_domain::links::LINK_DAYS`].
    pub fn new(key: &[u8], base_url: &str, slug: &str) -> LinkMaker {
        LinkMaker {
            key: key.to_vec(),
            base: format!("{base_url}/m/{slug}/"),
            days: patron_domain::links::LINK_DAYS,
        }
    }

    pub fn link(&self, tenant: i64, follower: i64) -> String {
        let expires = chrono::Utc::now().timestamp() + self.days * 86_400;
        let token = patron_domain::links::sign(&self.key, tenant, follower, expires);
        format!("{}{token}", self.base)
    }
}

/// A job a push leads to (customer-service messages, a user-info fetch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FollowUp {
    pub kind: &'static str,
    pub payload: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QrHit {
    pub scene: String,
    /// A follow through the code (counts as a scan and a follow).
    pub follow: bool,
}

/// Queues the follow-ups of a push just stored.
fn after_new(c: &mut DbConn, p: &Pending) -> Result<()> {
    for f in &p.follow_ups {
        crate::jobs::enqueue(c, Some(&p.scope), f.kind, &f.payload, 5)?;
    }
    Ok(())
}

/// Issues a coupon from the ingest transaction. A campaign that cannot issue (paused, sold
/// out, the follower's limit, gone) leaves the push alone: it is stored and answered.
fn issue_quietly(
    c: &mut DbConn,
    p: &Pending,
    campaign: i64,
    follower: i64,
    channel: &str,
) -> Result<()> {
    match crate::coupons::issue_in(c, &p.scope, campaign, Some(follower), channel, "WeChat") {
        Ok(_) | Err(StoreError::NotFound) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Does a new push's loyalty work (QR hit, points, stamps, coupons) and returns its
/// passive reply with the placeholders filled in.
fn finish(c: &mut DbConn, p: &Pending, follower: i64) -> Result<Option<String>> {
    use patron_domain::loyalty::{fill, has_placeholders, Values};
    let scope = &p.scope;
    if let Some(hit) = &p.qr_hit {
        if let Some(campaign) =
            crate::qr_codes::count_hit(c, scope, &hit.scene, hit.follow, follower)?
        {
            issue_quietly(c, p, campaign, follower, &format!("qr:{}", hit.scene))?;
        }
    }
    let mut values = Values::default();
    let mut balance_known = false;
    let mut again = false;
    for act in &p.acts {
        match act {
            Act::Award {
                points,
                source,
                key,
                expires_at,
                checkin,
            } => {
                let post = crate::loyalty::Post {
                    kind: crate::loyalty::Kind::Earn,
                    points: *points,
                    source,
                    source_key: Some(key),
                    reason: "",
                    user: None,
                    expires_at: *expires_at,
                };
                match crate::loyalty::post_in(c, scope, follower, &post)? {
                    crate::loyalty::Posted::Done { balance, .. } => {
                        values.points += points;
                        values.balance = balance;
                        if *checkin {
                            for card in crate::stamps::checkin_cards(c, scope)? {
                                crate::stamps::stamp_in(
                                    c,
                                    scope,
                                    card,
                                    follower,
                                    "checkin",
                                    Some(key),
                                    crate::stamps::By::default(),
                                )?;
                            }
                        }
                    }
                    other => {
                        values.balance = other.balance();
                        again |= *checkin;
                    }
                }
                balance_known = true;
            }
            Act::Issue {
                campaign_id,
                channel,
            } => issue_quietly(c, p, *campaign_id, follower, channel)?,
        }
    }
    // A second check-in gets the "again" reply (none if the merchant left it blank).
    let reply = if again {
        p.again_reply.clone()
    } else {
        p.reply.clone()
    };
    match reply {
        Some(r) if has_placeholders(&r) => {
            if !balance_known {
                values.balance = crate::loyalty::balance_at(c, scope, follower, now())?;
            }
            values.link = p
                .links
                .as_ref()
                .map(|l| l.link(scope.tenant_id().0, follower));
            Ok(Some(fill(&r, &values)))
        }
        other => Ok(other),
    }
}

impl Pending {
    fn inbound(&self) -> Inbound<'_> {
        Inbound {
            openid: &self.openid,
            msg_type: &self.msg_type,
            event: self.event.as_deref(),
            dedupe_key: &self.dedupe_key,
            content: self.content.as_deref(),
            body: &self.body,
            sent_at: self.sent_at,
            change: self.change.clone(),
        }
    }
}

/// The writer answers each push through a oneshot channel: a blocking caller waits on it,
/// the webhook awaits it without holding a thread.
type Reply = tokio::sync::oneshot::Sender<Result<Recorded>>;

/// Group commit for the webhook: pushes are handed to a few writer threads, each of which
/// stores everything waiting (up to [`Batcher::MAX_BATCH`]) in one transaction and then
/// answers every caller. Nothing is acknowledged before its transaction committed. If a
/// batch fails as a whole (a unique violation from another process on PostgreSQL aborts
/// the transaction), its pushes are stored one by one with [`record`].
#[derive(Clone)]
pub struct Batcher {
    tx: std::sync::mpsc::SyncSender<(Pending, Reply)>,
}

impl Batcher {
    pub const MAX_BATCH: usize = 256;

    /// Starts `writers` writer threads over `pool` (one is right for SQLite).
    pub fn start(pool: crate::DbPool, writers: usize) -> Batcher {
        let (tx, rx) = std::sync::mpsc::sync_channel::<(Pending, Reply)>(4096);
        let rx = std::sync::Arc::new(std::sync::Mutex::new(rx));
        for i in 0..writers.max(1) {
            let (rx, pool) = (rx.clone(), pool.clone());
            std::thread::Builder::new()
                .name(format!("ingest-writer-{i}"))
                .spawn(move || writer(pool, rx))
                .expect("spawn an ingest writer thread");
        }
        Batcher { tx }
    }

    /// Stores one push (blocking until its batch committed). Not for async code: use
    /// [`Batcher::record_async`] there.
    pub fn record(&self, p: Pending) -> Result<Recorded> {
        let (done, wait) = tokio::sync::oneshot::channel();
        self.tx
            .send((p, done))
            .map_err(|_| StoreError::Config("the ingest writer stopped".into()))?;
        wait.blocking_recv()
            .map_err(|_| StoreError::Config("the ingest writer stopped".into()))?
    }

    /// Stores one push, awaiting its batch's commit without occupying a thread. Handing
    /// the push over blocks only when 4,096 pushes are already waiting (overload).
    pub async fn record_async(&self, p: Pending) -> Result<Recorded> {
        let (done, wait) = tokio::sync::oneshot::channel();
        self.tx
            .send((p, done))
            .map_err(|_| StoreError::Config("the ingest writer stopped".into()))?;
        wait.await
            .map_err(|_| StoreError::Config("the ingest writer stopped".into()))?
    }
}

fn writer(
    pool: crate::DbPool,
    rx: std::sync::Arc<std::sync::Mutex<std::sync::mpsc::Receiver<(Pending, Reply)>>>,
) {
    let mut held = None;
    loop {
        let mut batch = Vec::new();
        {
            // One writer at a time collects a batch; the others wait their turn.
            let rx = rx.lock().unwrap_or_else(|p| p.into_inner());
            match rx.recv() {
                Ok(first) => batch.push(first),
                Err(_) => return,
            }
            while batch.len() < Batcher::MAX_BATCH {
                match rx.try_recv() {
                    Ok(next) => batch.push(next),
                    Err(_) => break,
                }
            }
        }
        // The writer keeps its connection between batches: a SQLite connection whose
        // snapshot another one has moved must drop its page cache, and its own writes
        // never make it do so. A batch that failed gives the connection back.
        let c = match held.take() {
            Some(c) => Ok(c),
            None => pool.get(),
        };
        let results = match c {
            Ok(mut c) => {
                let (results, healthy) = store_batch(&mut c, &batch);
                if healthy {
                    held = Some(c);
                }
                results
            }
            Err(e) => {
                let msg = e.to_string();
                batch
                    .iter()
                    .map(|_| Err(StoreError::Config(msg.clone())))
                    .collect()
            }
        };
        for ((_, done), r) in batch.into_iter().zip(results) {
            let _ = done.send(r);
        }
    }
}

/// Stores a batch; the flag says whether it went through as a whole.
fn store_batch(
    conn: &mut r2d2::PooledConnection<crate::conn::Manager>,
    batch: &[(Pending, Reply)],
) -> (Vec<Result<Recorded>>, bool) {
    let pending: Vec<&Pending> = batch.iter().map(|(p, _)| p).collect();
    let together = write_tx(conn, |c| store_set(c, &pending));
    match together {
        Ok(all) => (all.into_iter().map(Ok).collect(), true),
        Err(e) => {
            tracing::info!(error = %e, pushes = batch.len(), "ingest batch failed as a whole; storing its pushes one by one");
            let one_by_one = batch.iter().map(|(p, _)| record_pending(conn, p)).collect();
            (one_by_one, false)
        }
    }
}

#[derive(Insertable)]
#[diesel(table_name = followers, treat_none_as_default_value = false)]
struct NewFollower<'a> {
    tenant_id: i64,
    openid: &'a str,
    subscribed: bool,
    subscribe_count: i64,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

#[derive(Insertable)]
#[diesel(table_name = messages, treat_none_as_default_value = false)]
struct NewMessage<'a> {
    tenant_id: i64,
    follower_id: Option<i64>,
    direction: &'a str,
    msg_type: &'a str,
    event: Option<&'a str>,
    dedupe_key: Option<&'a str>,
    content: Option<&'a str>,
    body: &'a str,
    reply: Option<&'a str>,
    sent_at: NaiveDateTime,
    received_at: NaiveDateTime,
}

/// Stores a batch with a handful of statements per tenant, whatever the batch size: one
/// select of known delivery keys, one of known followers, one multi-row insert of new
/// followers, follower updates grouped by kind and time, one multi-row archive insert.
/// Must run inside a write transaction; any error fails the whole batch (the caller then
/// stores the pushes one by one).
fn store_set(c: &mut DbConn, batch: &[&Pending]) -> Result<Vec<Recorded>> {
    use std::collections::{BTreeMap, HashMap};
    let mut out: Vec<Option<Recorded>> = vec![None; batch.len()];
    let mut by_tenant: BTreeMap<i64, Vec<usize>> = BTreeMap::new();
    for (i, p) in batch.iter().enumerate() {
        by_tenant.entry(p.scope.tenant_id().0).or_default().push(i);
    }
    let t = now();
    for (tenant, idx) in by_tenant {
        // 1. Retries: keys stored before, or seen earlier in this batch.
        let keys: Vec<&str> = idx.iter().map(|&i| batch[i].dedupe_key.as_str()).collect();
        let known: HashMap<String, Option<String>> = messages::table
            .filter(messages::tenant_id.eq(tenant))
            .filter(messages::dedupe_key.eq_any(&keys))
            .select((messages::dedupe_key.assume_not_null(), messages::reply))
            .load::<(String, Option<String>)>(c)?
            .into_iter()
            .collect();
        let mut first_in_batch: HashMap<&str, usize> = HashMap::new();
        let mut fresh: Vec<usize> = Vec::new();
        // A second delivery inside this batch, answered once its first has its reply.
        let mut repeats: Vec<(usize, usize)> = Vec::new();
        for &i in &idx {
            let p = batch[i];
            if let Some(reply) = known.get(&p.dedupe_key) {
                out[i] = Some(Recorded::Duplicate {
                    reply: reply.clone(),
                });
            } else if let Some(&j) = first_in_batch.get(p.dedupe_key.as_str()) {
                repeats.push((i, j));
            } else {
                first_in_batch.insert(&p.dedupe_key, i);
                fresh.push(i);
            }
        }
        if fresh.is_empty() {
            continue;
        }
        // 2. Followers: find, create the missing ones.
        let openids: Vec<&str> = fresh.iter().map(|&i| batch[i].openid.as_str()).collect();
        let find = |c: &mut DbConn| -> Result<HashMap<String, (i64, Option<String>)>> {
            Ok(followers::table
                .filter(followers::tenant_id.eq(tenant))
                .filter(followers::openid.eq_any(&openids))
                .select((followers::openid, followers::id, followers::subscribe_scene))
                .load::<(String, i64, Option<String>)>(c)?
                .into_iter()
                .map(|(o, id, scene)| (o, (id, scene)))
                .collect())
        };
        let mut ids = find(c)?;
        let mut missing: Vec<NewFollower<'_>> = Vec::new();
        for &i in &fresh {
            let p = batch[i];
            if !ids.contains_key(&p.openid) && !missing.iter().any(|m| m.openid == p.openid) {
                missing.push(NewFollower {
                    tenant_id: tenant,
                    openid: &p.openid,
                    subscribed: p.change != FollowerChange::Unsubscribe,
                    subscribe_count: 0,
                    created_at: t,
                    updated_at: t,
                });
            }
        }
        if !missing.is_empty() {
            // Another writer may be creating the same follower right now: on PostgreSQL
            // the unique key then waits for its commit and skips the row, instead of
            // failing this whole batch (which would fall back to one push at a time).
            match c {
                DbConn::Postgres(pg) => diesel::insert_into(followers::table)
                    .values(&missing)
                    .on_conflict_do_nothing()
                    .execute(pg)?,
                DbConn::Sqlite(lite) => diesel::insert_into(followers::table)
                    .values(&missing)
                    .on_conflict_do_nothing()
                    .execute(lite)?,
            };
            ids = find(c)?;
        }
        // 3. Follower changes. Interactions are grouped by time: one update per second.
        let mut touched: BTreeMap<NaiveDateTime, Vec<i64>> = BTreeMap::new();
        for &i in &fresh {
            let p = batch[i];
            let (id, _) = ids[&p.openid];
            match &p.change {
                FollowerChange::Interaction => touched.entry(p.sent_at).or_default().push(id),
                other => {
                    touch_follower(c, &p.scope, &p.openid, other, p.sent_at)?;
                }
            }
        }
        for (at, mut list) in touched {
            list.sort_unstable();
            list.dedup();
            // Never move last activity backwards (a later push may have committed first),
            // and keep it to the minute: a follower chatting away rewrites their row (and
            // on PostgreSQL every index of it) once a minute, not once a message. The
            // archive keeps every message's exact time.
            let cutoff = at - LAST_ACTIVE_STEP;
            diesel::update(
                followers::table.filter(followers::id.eq_any(&list)).filter(
                    followers::last_interaction_at
                        .is_null()
                        .or(followers::last_interaction_at.lt(cutoff)),
                ),
            )
            .set((
                followers::last_interaction_at.eq(Some(at)),
                followers::updated_at.eq(t),
            ))
            .execute(c)?;
        }
        // 4. Loyalty work and the final replies, then the archive rows in one statement.
        let mut replies: HashMap<usize, Option<String>> = HashMap::new();
        for &i in &fresh {
            let p = batch[i];
            replies.insert(i, finish(c, p, ids[&p.openid].0)?);
        }
        let rows: Vec<NewMessage<'_>> = fresh
            .iter()
            .map(|&i| {
                let p = batch[i];
                NewMessage {
                    tenant_id: tenant,
                    follower_id: Some(ids[&p.openid].0),
                    direction: "in",
                    msg_type: &p.msg_type,
                    event: p.event.as_deref(),
                    dedupe_key: Some(&p.dedupe_key),
                    content: p.content.as_deref(),
                    body: &p.body,
                    reply: replies[&i].as_deref(),
                    sent_at: p.sent_at,
                    received_at: t,
                }
            })
            .collect();
        match c {
            DbConn::Postgres(pg) => diesel::insert_into(messages::table)
                .values(&rows)
                .execute(pg)?,
            DbConn::Sqlite(lite) => diesel::insert_into(messages::table)
                .values(&rows)
                .execute(lite)?,
        };
        let fresh_keys: Vec<&str> = fresh
            .iter()
            .map(|&i| batch[i].dedupe_key.as_str())
            .collect();
        let stored: HashMap<String, i64> = messages::table
            .filter(messages::tenant_id.eq(tenant))
            .filter(messages::dedupe_key.eq_any(&fresh_keys))
            .select((messages::dedupe_key.assume_not_null(), messages::id))
            .load::<(String, i64)>(c)?
            .into_iter()
            .collect();
        for &i in &fresh {
            let p = batch[i];
            let follower_id = ids[&p.openid].0;
            after_new(c, p)?;
            out[i] = Some(Recorded::New {
                message_id: stored[&p.dedupe_key],
                follower_id,
                reply: replies[&i].clone(),
            });
        }
        for (i, j) in repeats {
            out[i] = Some(Recorded::Duplicate {
                reply: replies.get(&j).cloned().flatten(),
            });
        }
    }
    Ok(out
        .into_iter()
        .map(|r| r.expect("every push got an outcome"))
        .collect())
}
