//! Redemptions, the till's and the API's, on one path: what was scanned or typed goes
//! through the code-guessing throttle, becomes a code and is redeemed once, and the
//! answer comes back only after it has committed.
//!
//! With writers (the default on both backends), a request hands its redemption to a
//! writer thread and waits without holding a thread or a connection; the writer takes
//! every redemption waiting (up to [`MAX_BATCH`]) and runs them in **one** transaction
//! with a handful of set-based statements (`patron_store::coupons::redeem_many`), then
//! answers them all. Why: a redemption is a handful of rows, and alone it costs a
//! transaction and a dozen round trips. On SQLite 64 concurrent write transactions meet
//! in its busy handler, which sleeps instead of queueing; on PostgreSQL each pays its own
//! commit and round trips (docs/benchmarks.md, "Redemptions").
//!
//! Exactly-once is kept: each coupon's update in a batch is conditional on its status,
//! so of racing processes one wins; a repeated idempotency key in one batch is answered
//! from the first; nobody is answered before the batch's commit. A batch that fails as
//! a whole (a database error, two processes inserting one idempotency key, a coupon
//! another process redeemed between the batch's read and its update) is rolled back and
//! its redemptions are redone one by one, each in its own transaction.
//!
//! The throttle is exact within a batch: the failures of each throttle key are read once
//! and counted on as the batch's own failures are recorded, so a batch answers as the
//! same redemptions would one after another.
//!
//! The writers hold connections of their own (a pool apart from the requests').

use crate::till::{self, Gated};
use crate::AppError;
use patron_domain::coupons::{Lookup, ScanRefusal};
use patron_domain::TenantScope;
use patron_store::coupons::{self, Redeemed, Till};
use patron_store::{write_tx, DbConn, DbPool, StoreError};
use std::collections::HashMap;
use tokio::sync::{mpsc, oneshot};

/// The most redemptions one transaction takes.
pub const MAX_BATCH: usize = 256;

/// A redemption as the till or the API asks for it: what was scanned or typed, where,
/// by whom.
#[derive(Debug, Clone)]
pub struct Ask {
    pub scope: TenantScope,
    /// The client's address: the throttle counts failures per address too.
    pub ip: String,
    /// A signed QR payload, or a code as typed (any spacing).
    pub scanned: String,
    pub user_id: Option<i64>,
    pub user_name: String,
    pub store_id: i64,
    pub device: String,
    /// Makes the redemption once only: a retry with the same key answers as the first.
    pub idempotency_key: Option<String>,
    /// The till's order reference: with an amount, the order's payment is expected
    /// (`patron_store::payments::expect`) for the amount less the discount.
    pub order_ref: Option<String>,
    /// The order before the coupon, in fen.
    pub amount_fen: Option<i64>,
}

impl Ask {
    fn store_ask<'a>(&'a self, code: &'a str) -> coupons::Ask<'a> {
        coupons::Ask {
            scope: &self.scope,
            code,
            till: Till {
                user_id: self.user_id,
                user_name: &self.user_name,
                store_id: self.store_id,
                device: &self.device,
            },
            idempotency_key: self.idempotency_key.as_deref(),
            order_ref: self.order_ref.as_deref(),
            amount_fen: self.amount_fen,
        }
    }
}

/// What a redemption comes to: throttled, a scan that names no code, or redeemed /
/// already redeemed / refused; `NotFound` for an unknown code.
pub type Answer = Result<Gated<Redeemed>, AppError>;

type Queued = (Ask, oneshot::Sender<Answer>);

/// The redemption path of a process: the writers' queue, or each redemption in its own
/// transaction on a blocking thread.
#[derive(Clone)]
pub struct Redeemer {
    queue: Option<mpsc::Sender<Queued>>,
    /// Without writers: the requests' pool.
    pool: DbPool,
    mac_key: [u8; 32],
}

impl Redeemer {
    /// Writer threads when none are configured: one on SQLite (it takes one writer at
    /// a time anyway), two on PostgreSQL (one collects the next batch while the other's
    /// commits). Measured: docs/benchmarks.md, "Redemptions".
    pub fn default_writers(backend: patron_store::Backend) -> usize {
        match backend {
            patron_store::Backend::Sqlite => 1,
            patron_store::Backend::Postgres => 2,
        }
    }

    /// No writers: every redemption in its own transaction, on `pool`.
    pub fn direct(pool: DbPool, mac_key: [u8; 32]) -> Redeemer {
        Redeemer {
            queue: None,
            pool,
            mac_key,
        }
    }

    /// Starts `writers` threads over `writer_pool`, which must be theirs alone (one
    /// connection each).
    pub fn start(writer_pool: DbPool, writers: usize, mac_key: [u8; 32]) -> Redeemer {
        let (tx, rx) = mpsc::channel::<Queued>(4 * MAX_BATCH);
        let rx = std::sync::Arc::new(std::sync::Mutex::new(rx));
        for i in 0..writers.max(1) {
            let (rx, pool) = (rx.clone(), writer_pool.clone());
            std::thread::Builder::new()
                .name(format!("redeem-writer-{i}"))
                .spawn(move || writer(&pool, &rx, &mac_key))
                .expect("spawn a redemption writer");
        }
        Redeemer {
            queue: Some(tx),
            pool: writer_pool,
            mac_key,
        }
    }

    /// Redeems, answering once the redemption has committed.
    pub async fn redeem(&self, ask: Ask) -> Answer {
        let stopped =
            || AppError::Internal(StoreError::Config("the redemption writers stopped".into()));
        match &self.queue {
            Some(queue) => {
                let (answer, wait) = oneshot::channel();
                queue.send((ask, answer)).await.map_err(|_| stopped())?;
                wait.await.map_err(|_| stopped())?
            }
            None => {
                let (pool, key) = (self.pool.clone(), self.mac_key);
                tokio::task::spawn_blocking(move || one(&mut *pool.get()?, &key, &ask))
                    .await
                    .map_err(|e| AppError::Internal(StoreError::Task(e.to_string())))?
            }
        }
    }
}

fn writer(pool: &DbPool, rx: &std::sync::Mutex<mpsc::Receiver<Queued>>, mac_key: &[u8; 32]) {
    let mut held = None;
    loop {
        let mut batch = Vec::new();
        {
            // One writer collects a batch at a time; the others wait their turn.
            let mut rx = rx.lock().unwrap_or_else(|p| p.into_inner());
            match rx.blocking_recv() {
                Some(first) => batch.push(first),
                None => return,
            }
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(next) => batch.push(next),
                    Err(_) => break,
                }
            }
        }
        let mut c = match held.take().map(Ok).unwrap_or_else(|| fresh(pool)) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "redemption writer has no connection");
                for (_, answer) in batch {
                    let _ = answer.send(Err(AppError::Internal(StoreError::Config(
                        "no database connection".into(),
                    ))));
                }
                continue;
            }
        };
        let (asks, answers): (Vec<Ask>, Vec<_>) = batch.into_iter().unzip();
        match write_tx(&mut c, |c| process(c, mac_key, &asks)) {
            Ok(outcomes) => {
                for ((ask, answer), out) in asks.iter().zip(answers).zip(outcomes) {
                    let _ = answer.send(settle(&mut c, ask, out));
                }
                held = Some(c);
            }
            Err(e) => {
                tracing::warn!(error = %e, n = asks.len(), "redemption batch rolled back; redeeming one by one");
                for (ask, answer) in asks.iter().zip(answers) {
                    let _ = answer.send(one(&mut c, mac_key, ask));
                }
                // A connection that failed a batch goes back to the pool.
                drop(c);
            }
        }
    }
}

/// A writer's connection. On PostgreSQL its statements are planned for the values of each
/// batch (`plan_cache_mode = force_custom_plan`): a generic plan cached while the events
/// table was small (a new install's first minute) scans it whole until autovacuum
/// analyzes it, and a plan costs little beside a batch's work.
fn fresh(pool: &DbPool) -> Result<patron_store::PooledConn, StoreError> {
    let mut c = pool.get()?;
    if c.backend() == patron_store::Backend::Postgres {
        patron_store::exec_sql(&mut c, "SET plan_cache_mode = force_custom_plan")?;
    }
    Ok(c)
}

/// One redemption in a transaction of its own.
fn one(c: &mut DbConn, mac_key: &[u8; 32], ask: &Ask) -> Answer {
    let attempt = write_tx(c, |c| process(c, mac_key, std::slice::from_ref(ask)));
    match attempt {
        Ok(mut outs) => settle(c, ask, outs.pop().unwrap_or(Err(AppError::NotFound))),
        // Two processes inserted one idempotency key: the other's answer is the answer.
        Err(StoreError::Conflict(what)) => match replay(c, ask)? {
            Some(first) => Ok(Gated::Done(first)),
            None => Err(AppError::Conflict(what)),
        },
        Err(e) => Err(e.into()),
    }
}

/// After the commit: a retry of a tap that another process redeemed meanwhile lost the
/// race to its own first try; it is answered as that was.
fn settle(c: &mut DbConn, ask: &Ask, out: Answer) -> Answer {
    match out {
        Ok(Gated::Done(already @ Redeemed::AlreadyRedeemed { .. })) => {
            Ok(Gated::Done(replay(c, ask)?.unwrap_or(already)))
        }
        other => other,
    }
}

fn replay(c: &mut DbConn, ask: &Ask) -> Result<Option<Redeemed>, StoreError> {
    match &ask.idempotency_key {
        Some(k) => coupons::replay(c, &ask.scope, k),
        None => Ok(None),
    }
}

/// The redemptions of `asks`, in the caller's write transaction, each answered as it
/// would be alone and in turn. A database error fails them all.
///
/// All at once, with the throttle's counts as they were before the batch; if the batch's
/// own failures (scans that name no code, unknown codes) would have locked a key before
/// one of its later asks, that is undone (a savepoint) and the asks are taken in turn.
/// A batch without failures, the usual one, never pays for the check.
fn process(c: &mut DbConn, mac_key: &[u8; 32], asks: &[Ask]) -> Result<Vec<Answer>, StoreError> {
    let since = patron_store::now() - till::WINDOW;
    let keys: Vec<[String; 2]> = asks.iter().map(|a| till::keys(&a.scope, &a.ip)).collect();
    // Every key's failures in one query (a key without any is 0).
    let mut distinct: Vec<&str> = keys.iter().flatten().map(String::as_str).collect();
    distinct.sort_unstable();
    distinct.dedup();
    let found = patron_store::throttle::counts_since(c, &distinct, since)?;
    let mut before: HashMap<String, i64> = distinct
        .iter()
        .map(|k| (k.to_string(), found.get(*k).copied().unwrap_or(0)))
        .collect();
    if asks.len() == 1 {
        return run(c, mac_key, asks, &keys, &mut before);
    }
    const IN_TURN: &str = "redeem_in_turn";
    let together = patron_store::savepoint(c, |c| {
        let out = run(c, mac_key, asks, &keys, &mut before.clone())?;
        if answered_in_turn(&before, &keys, &out) {
            Ok(out)
        } else {
            Err(StoreError::Conflict(IN_TURN))
        }
    });
    match together {
        Err(StoreError::Conflict(IN_TURN)) => {
            let mut failures = before;
            let mut out = Vec::with_capacity(asks.len());
            for (a, k) in asks.iter().zip(&keys) {
                out.extend(run(
                    c,
                    mac_key,
                    std::slice::from_ref(a),
                    std::slice::from_ref(k),
                    &mut failures,
                )?);
            }
            Ok(out)
        }
        other => other,
    }
}

/// Whether answers given with the counts of before the batch are those the asks would
/// get in turn: no ask answered (rather than locked out) after its keys reached the limit
/// through the failures of asks before it.
fn answered_in_turn(before: &HashMap<String, i64>, keys: &[[String; 2]], out: &[Answer]) -> bool {
    let mut n = before.clone();
    for (k, a) in keys.iter().zip(out) {
        if matches!(a, Ok(Gated::Locked)) {
            continue;
        }
        if k.iter()
            .any(|k| n.get(k).copied().unwrap_or(0) >= till::MAX_FAILURES)
        {
            return false;
        }
        if matches!(a, Ok(Gated::Refused(_)) | Err(AppError::NotFound)) {
            for k in k {
                *n.entry(k.clone()).or_insert(0) += 1;
            }
        }
    }
    true
}

/// [`process`]'s asks all at once: the throttle (with the counts in `failures`, counted
/// on as failures are recorded), the scans, then the codes in one `redeem_many`.
fn run(
    c: &mut DbConn,
    mac_key: &[u8; 32],
    asks: &[Ask],
    keys: &[[String; 2]],
    failures: &mut HashMap<String, i64>,
) -> Result<Vec<Answer>, StoreError> {
    let mut out: Vec<Option<Answer>> = (0..asks.len()).map(|_| None).collect();

    // The throttle and the scans. Failures here are scans that name no code; unknown
    // codes come below.
    let mut lookups: Vec<(usize, Lookup)> = Vec::with_capacity(asks.len());
    for (i, a) in asks.iter().enumerate() {
        if locked(failures, &keys[i]) {
            tracing::warn!(ip = %a.ip, tenant_id = a.scope.tenant_id().0, "code lookups throttled");
            out[i] = Some(Ok(Gated::Locked));
            continue;
        }
        match crate::coupons::scan_lookup(mac_key, &a.scope, &a.scanned) {
            Ok(l) => lookups.push((i, l)),
            Err(r) => {
                fail(c, failures, &keys[i])?;
                out[i] = Some(Ok(Gated::Refused(r)));
            }
        }
    }

    // The codes, then, for codes of ours not found, as typed (an imported code that only
    // looks like one of ours).
    let firsts: Vec<coupons::Ask<'_>> = lookups
        .iter()
        .map(|(i, l)| asks[*i].store_ask(&l.code))
        .collect();
    let mut found = coupons::redeem_many(c, &firsts)?;
    let retry: Vec<usize> = (0..lookups.len())
        .filter(|&j| {
            matches!(found[j], Err(StoreError::NotFound)) && lookups[j].1.as_typed.is_some()
        })
        .collect();
    if !retry.is_empty() {
        let typed: Vec<coupons::Ask<'_>> = retry
            .iter()
            .map(|&j| {
                let (i, l) = &lookups[j];
                asks[*i].store_ask(l.as_typed.as_deref().unwrap_or_default())
            })
            .collect();
        for (&j, again) in retry.iter().zip(coupons::redeem_many(c, &typed)?) {
            found[j] = again;
        }
    }

    for ((i, l), r) in lookups.iter().zip(found) {
        let a = &asks[*i];
        out[*i] = Some(match r {
            Err(StoreError::NotFound) => {
                fail(c, failures, &keys[*i])?;
                if l.typo {
                    Ok(Gated::Refused(ScanRefusal::BadCheckCharacter))
                } else {
                    Err(AppError::NotFound)
                }
            }
            Err(e @ StoreError::Invalid(_)) => Err(e.into()),
            Err(e) => return Err(e),
            Ok(r) => {
                expect_order(c, a, &r)?;
                Ok(Gated::Done(r))
            }
        });
    }
    Ok(out
        .into_iter()
        .map(|o| o.unwrap_or(Err(AppError::NotFound)))
        .collect())
}

/// Whether either throttle key is past the limit, counting this batch's failures
/// (`failures` holds every key of the batch: [`process`] read them all).
fn locked(failures: &HashMap<String, i64>, keys: &[String; 2]) -> bool {
    keys.iter()
        .any(|k| failures.get(k).copied().unwrap_or(0) >= till::MAX_FAILURES)
}

/// Records a failed lookup against both keys (and counts it for the rest of the batch).
fn fail(
    c: &mut DbConn,
    failures: &mut HashMap<String, i64>,
    keys: &[String; 2],
) -> Result<(), StoreError> {
    till::failed(c, keys)?;
    for k in keys {
        *failures.entry(k.clone()).or_insert(0) += 1;
    }
    Ok(())
}

/// A redemption with an order reference and an amount expects its payment: the till's
/// amount is the order before the coupon (the minimum spend and a percentage are taken
/// of it); the customer pays it less the discount, and that is what the till charges
/// through WeChat Pay, so the notification must report `amount − discount`.
fn expect_order(c: &mut DbConn, ask: &Ask, out: &Redeemed) -> Result<(), StoreError> {
    if let (
        Redeemed::Ok {
            coupon_id,
            code,
            discount_fen,
            ..
        },
        Some(order),
        Some(fen),
    ) = (out, ask.order_ref.as_deref(), ask.amount_fen)
    {
        let follower = coupons::by_code(c, &ask.scope, code)?.follower_id;
        let pays = (fen - discount_fen).max(0);
        patron_store::payments::expect(c, &ask.scope, order, pays, Some(*coupon_id), follower)?;
    }
    Ok(())
}
