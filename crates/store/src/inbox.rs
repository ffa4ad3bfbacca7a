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
    /// First delivery: stored.
    New { message_id: i64, follower_id: i64 },
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
        let attempt = write_tx(conn, |c| {
            let follower_id = touch_follower(c, scope, msg.openid, &msg.change, msg.sent_at)?;
            let message_id: i64 = diesel::insert_into(messages::table)
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
                .get_result(c)?;
            Ok(Recorded::New {
                message_id,
                follower_id,
            })
        });
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

/// Archived messages of every tenant (operations and benchmarks).
pub fn count_messages(conn: &mut DbConn) -> Result<i64> {
    Ok(messages::table.count().get_result(conn)?)
}
