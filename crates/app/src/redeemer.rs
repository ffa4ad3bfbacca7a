//! Redemptions with group commit: the till and the API hand each redemption to a writer
//! thread, which redeems every one waiting in **one** write transaction and answers
//! them all once it has committed.
//!
//! Why: a redemption is a handful of rows, and alone it costs a transaction each. On
//! SQLite 64 concurrent write transactions meet in its busy handler, which sleeps
//! instead of queueing; on PostgreSQL each pays its own commit. One writer per process
//! (SQLite allows one at a time anyway; PostgreSQL gets a few) turns them into a queue
//! whose batches commit once (docs/benchmarks.md, "Redemptions").
//!
//! Exactly-once is kept: each redemption in a batch is the same conditional update as
//! alone (`patron_store::coupons::redeem_in`), so of racing processes one wins, a
//! repeated idempotency key in one batch is answered from the first, and nobody is
//! answered before the batch's commit. A batch that fails as a whole (a database error,
//! such as two processes inserting the same idempotency key at once) is rolled back and
//! its redemptions are redeemed one by one, each in its own transaction, as before.
//!
//! The writers hold connections of their own (a pool apart from the requests'): a
//! request waits for its answer holding a pooled connection, so writers that drew from
//! the same pool could wait for one another forever.

use crate::coupons::{redeem_in_tx, Redemption};
use crate::AppError;
use patron_domain::TenantScope;
use patron_store::coupons::{Redeemed, Till};
use patron_store::{write_tx, DbPool, StoreError};
use std::sync::mpsc;

/// The most redemptions one transaction takes.
pub const MAX_BATCH: usize = 256;

/// A redemption as the writer keeps it (owned: it crosses threads).
struct Item {
    scope: TenantScope,
    code: String,
    user_id: Option<i64>,
    user_name: String,
    store_id: i64,
    device: String,
    idempotency_key: Option<String>,
    order_ref: Option<String>,
    amount_fen: Option<i64>,
    answer: mpsc::SyncSender<Result<Redeemed, AppError>>,
}

impl Item {
    fn redemption(&self) -> Redemption<'_> {
        Redemption {
            code: &self.code,
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

/// The writers' queue, or none: each redemption then runs its own transaction on the
/// caller's connection.
#[derive(Clone)]
pub struct Redeemer {
    tx: Option<mpsc::SyncSender<Item>>,
}

impl Redeemer {
    /// Writer threads when none are configured: one on SQLite, where 64 concurrent
    /// write transactions otherwise nap in its busy handler; none on PostgreSQL, where a
    /// writer runs its batch's statements one after another on one connection, while
    /// separate transactions run them side by side (measured: docs/benchmarks.md,
    /// "Redemptions"; a batch needs set-based statements to win there).
    pub fn default_writers(backend: patron_store::Backend) -> usize {
        match backend {
            patron_store::Backend::Sqlite => 1,
            patron_store::Backend::Postgres => 0,
        }
    }

    /// No writers: every redemption in its own transaction.
    pub fn direct() -> Redeemer {
        Redeemer { tx: None }
    }

    /// Starts `writers` threads over `pool`, which must be theirs alone (one connection
    /// each).
    pub fn start(pool: DbPool, writers: usize) -> Redeemer {
        let (tx, rx) = mpsc::sync_channel::<Item>(4096);
        let rx = std::sync::Arc::new(std::sync::Mutex::new(rx));
        for i in 0..writers.max(1) {
            let (rx, pool) = (rx.clone(), pool.clone());
            std::thread::Builder::new()
                .name(format!("redeem-writer-{i}"))
                .spawn(move || writer(&pool, &rx))
                .expect("spawn a redemption writer");
        }
        Redeemer { tx: Some(tx) }
    }

    /// Redeems through the writers, blocking until the batch with it has committed (call
    /// it on a blocking thread, as the till's and the API's pool trips are); without
    /// writers, in a transaction of its own on `c`.
    pub fn redeem(
        &self,
        c: &mut patron_store::DbConn,
        scope: &TenantScope,
        r: &Redemption<'_>,
    ) -> Result<Redeemed, AppError> {
        let Some(tx) = &self.tx else {
            return crate::coupons::redeem(c, scope, r);
        };
        let (answer, wait) = mpsc::sync_channel(1);
        let item = Item {
            scope: scope.clone(),
            code: r.code.to_string(),
            user_id: r.till.user_id,
            user_name: r.till.user_name.to_string(),
            store_id: r.till.store_id,
            device: r.till.device.to_string(),
            idempotency_key: r.idempotency_key.map(str::to_string),
            order_ref: r.order_ref.map(str::to_string),
            amount_fen: r.amount_fen,
            answer,
        };
        let stopped =
            || AppError::Internal(StoreError::Config("the redemption writers stopped".into()));
        tx.send(item).map_err(|_| stopped())?;
        wait.recv().map_err(|_| stopped())?
    }
}

fn writer(pool: &DbPool, rx: &std::sync::Mutex<mpsc::Receiver<Item>>) {
    let mut held = None;
    loop {
        let mut batch = Vec::new();
        {
            // One writer collects a batch at a time; the others wait their turn.
            let rx = rx.lock().unwrap_or_else(|p| p.into_inner());
            match rx.recv() {
                Ok(first) => batch.push(first),
                Err(_) => return,
            }
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(next) => batch.push(next),
                    Err(_) => break,
                }
            }
        }
        let mut c = match held.take() {
            Some(c) => c,
            None => match pool.get() {
                Ok(c) => c,
                Err(e) => {
                    tracing::error!(error = %e, "redemption writer has no connection");
                    for it in batch {
                        let _ = it.answer.send(Err(AppError::Internal(StoreError::Config(
                            "no database connection".into(),
                        ))));
                    }
                    continue;
                }
            },
        };
        // The batch in one transaction: each redemption's own outcome (a refusal, a code
        // not found) is its answer; a database error fails the whole batch.
        let together = write_tx(&mut c, |c| {
            let mut out = Vec::with_capacity(batch.len());
            for it in &batch {
                match redeem_in_tx(c, &it.scope, &it.redemption()) {
                    Err(AppError::Internal(e)) => return Err(e),
                    // A unique index refused a row: on PostgreSQL the transaction is
                    // spoilt for the rest of the batch.
                    Err(AppError::Conflict(what)) => return Err(StoreError::Conflict(what)),
                    other => out.push(other),
                }
            }
            Ok::<_, StoreError>(out)
        });
        match together {
            Ok(answers) => {
                for (it, a) in batch.into_iter().zip(answers) {
                    let a = match (a, it.idempotency_key.as_deref()) {
                        // A retry of a tap another process redeemed meanwhile lost the
                        // race to its own first try: answer as that did.
                        (Ok(already @ Redeemed::AlreadyRedeemed { .. }), Some(key)) => {
                            match patron_store::coupons::replay(&mut c, &it.scope, key) {
                                Ok(Some(first)) => Ok(first),
                                Ok(None) => Ok(already),
                                Err(e) => Err(e.into()),
                            }
                        }
                        (a, _) => a,
                    };
                    let _ = it.answer.send(a);
                }
                held = Some(c);
            }
            Err(e) => {
                tracing::warn!(error = %e, n = batch.len(), "redemption batch rolled back; redeeming one by one");
                for it in batch {
                    let a = crate::coupons::redeem(&mut c, &it.scope, &it.redemption());
                    let _ = it.answer.send(a);
                }
                // A connection that failed a batch goes back to the pool.
                drop(c);
            }
        }
    }
}
