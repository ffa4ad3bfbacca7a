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
    /// A push from WeChat itself (a mass send's or a template message's report): its
    /// sender is WeChat's system account, not a follower, so no follower is touched and
    /// its archive row names none.
    System,
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
        /// `None` for WeChat's own pushes ([`FollowerChange::System`]).
        follower_id: Option<i64>,
        reply: Option<String>,
    },
    /// A retry of a delivery already stored: answer with the reply given then.
    Duplicate { reply: Option<String> },
    /// A first delivery of a plain push, durable in the ingest journal and stored in the
    /// database shortly after (PostgreSQL with a journal; see `Batcher::start`).
    Accepted { reply: Option<String> },
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
            let (follower_id, reply) = if msg.change == FollowerChange::System {
                (None, None)
            } else {
                let id = touch_follower(c, &p.scope, msg.openid, &msg.change, msg.sent_at)?;
                (Some(id), finish(c, p, id)?)
            };
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
    let follower_id = match msg.change {
        FollowerChange::System => None,
        _ => Some(touch_follower(
            c,
            scope,
            msg.openid,
            &msg.change,
            msg.sent_at,
        )?),
    };
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
    follower_id: Option<i64>,
    reply: Option<&str>,
) -> Result<i64> {
    Ok(diesel::insert_into(messages::table)
        .values((
            messages::tenant_id.eq(scope.tenant_id().0),
            messages::follower_id.eq(follower_id),
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
        // Callers never touch a follower for WeChat's own pushes.
        FollowerChange::System => {}
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
    pub links: Option<std::sync::Arc<dyn FollowerLinks>>,
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

/// Makes the link to a follower's own page that a reply's `{link}` names. The store only
/// asks for it inside the push's transaction; where the page lives (a web URL) is the
/// caller's to know (`patron_app::links::FollowerPage`).
pub trait FollowerLinks: Send + Sync {
    fn link(&self, tenant: i64, follower: i64) -> String;
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

/// The reply an outcome answers with.
fn out_reply(r: &Option<Recorded>) -> Option<String> {
    match r {
        Some(
            Recorded::New { reply, .. }
            | Recorded::Duplicate { reply }
            | Recorded::Accepted { reply },
        ) => reply.clone(),
        None => None,
    }
}

impl Pending {
    /// A push whose only effects are its archive row and its follower's last activity:
    /// storing it a second time is what the unique delivery key refuses.
    fn is_plain(&self) -> bool {
        self.change == FollowerChange::Interaction
            && self.follow_ups.is_empty()
            && self.qr_hit.is_none()
            && self.acts.is_empty()
            && !self
                .reply
                .as_deref()
                .is_some_and(patron_domain::loyalty::has_placeholders)
    }

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

mod batch;
mod journal;
mod statements;

pub use batch::{Batcher, IngestReading};
pub use journal::{JournalSync, SYNC_INTERVAL};
