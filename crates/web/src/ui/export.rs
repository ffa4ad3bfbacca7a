//! Followers as CSV, streamed: rows are read in keyset batches on the blocking pool and
//! written to the response as they come, so a million followers never sit in memory.

use crate::ctx::Ctx;
use crate::error::UiError;
use actix_web::{web, HttpResponse};
use patron_domain::attributes::Value;
use patron_domain::follower_csv::{self, defuse, AttrDef};
use patron_domain::{Permission, TenantScope};
use patron_store::followers::{self, Filter, Follower};
use patron_store::{attributes, tags, DbPool};
use std::collections::HashMap;

const BATCH: i64 = 2000;

fn time(t: &Option<chrono::NaiveDateTime>) -> String {
    t.map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

/// One batch with what the CSV needs beside the follower rows.
struct Batch {
    rows: Vec<Follower>,
    tags: HashMap<i64, Vec<String>>,
    attrs: HashMap<i64, Vec<(i64, Value)>>,
}

fn record(f: &Follower, b: &Batch, defs: &[AttrDef]) -> Vec<String> {
    let o = |v: &Option<String>| defuse(v.as_deref().unwrap_or(""));
    let mut r = vec![
        defuse(&f.openid),
        o(&f.unionid),
        f.subscribed.to_string(),
        time(&f.subscribed_at),
        time(&f.unsubscribed_at),
        f.subscribe_count.to_string(),
        o(&f.subscribe_scene),
        o(&f.qr_scene),
        time(&f.last_interaction_at),
        o(&f.name),
        o(&f.phone),
        o(&f.email),
        f.birthday.map(|d| d.to_string()).unwrap_or_default(),
        o(&f.remark),
        time(&Some(f.created_at)),
        defuse(&b.tags.get(&f.id).map(|t| t.join(";")).unwrap_or_default()),
    ];
    let mine = b.attrs.get(&f.id);
    for d in defs {
        let v = mine
            .and_then(|vs| vs.iter().find(|(id, _)| *id == d.id))
            .map(|(_, v)| defuse(&v.display()))
            .unwrap_or_default();
        r.push(v);
    }
    r
}

fn write_rows(b: &Batch, defs: &[AttrDef], header: bool) -> Result<Vec<u8>, csv::Error> {
    let mut w = csv::Writer::from_writer(Vec::with_capacity(b.rows.len() * 140));
    if header {
        w.write_record(follower_csv::export_header(defs))?;
    }
    for f in &b.rows {
        w.write_record(record(f, b, defs))?;
    }
    w.into_inner().map_err(|e| e.into_error().into())
}

fn load(
    pool: &DbPool,
    scope: &TenantScope,
    filter: &Filter,
) -> Result<(Batch, bool), patron_store::StoreError> {
    let mut c = pool.get()?;
    let (rows, more) = followers::list_page(&mut c, scope, filter, BATCH)?;
    let ids: Vec<i64> = rows.iter().map(|f| f.id).collect();
    let tags = tags::names_of(&mut c, scope, &ids)?;
    let attrs = attributes::values_of(&mut c, scope, &ids)?;
    Ok((Batch { rows, tags, attrs }, more))
}

/// Produces the CSV batch by batch into `tx`; stops early if the client went away.
fn produce(
    pool: DbPool,
    scope: TenantScope,
    mut filter: Filter,
    tx: tokio::sync::mpsc::Sender<Result<web::Bytes, std::io::Error>>,
) {
    // A UTF-8 BOM so spreadsheet programs read Chinese names correctly.
    let mut first = true;
    let defs = match pool
        .get()
        .and_then(|mut c| attributes::list(&mut c, &scope))
    {
        Ok(d) => d.iter().map(|a| a.def()).collect::<Vec<_>>(),
        Err(e) => {
            tracing::error!(error = %e, "CSV export failed");
            let _ = tx.blocking_send(Err(std::io::Error::other("export failed")));
            return;
        }
    };
    loop {
        let (batch, more) = match load(&pool, &scope, &filter) {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(error = %e, "CSV export failed");
                let _ = tx.blocking_send(Err(std::io::Error::other("export failed")));
                return;
            }
        };
        let mut chunk = if first {
            "\u{feff}".as_bytes().to_vec()
        } else {
            Vec::new()
        };
        match write_rows(&batch, &defs, first) {
            Ok(bytes) => chunk.extend(bytes),
            Err(e) => {
                let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
                return;
            }
        }
        first = false;
        if tx.blocking_send(Ok(web::Bytes::from(chunk))).is_err() {
            return; // the client disconnected
        }
        match (more, batch.rows.last()) {
            (true, Some(last)) => filter.before = Some(last.id),
            _ => return,
        }
    }
}

pub async fn followers_csv(
    ctx: Ctx,
    slug: web::Path<String>,
    q: web::Query<Filter>,
) -> Result<HttpResponse, UiError> {
    let (scope, tenant) = ctx.tenant(&slug, Permission::Market).await?;
    let mut filter = q.into_inner();
    filter.before = None;
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let pool = ctx.state.pool.clone();
    tokio::task::spawn_blocking(move || produce(pool, scope, filter, tx));
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    let name = format!(
        "followers-{}-{}.csv",
        tenant.slug,
        chrono::Utc::now().format("%Y%m%d-%H%M")
    );
    tracing::info!(tenant = %tenant.slug, "followers export started");
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            "Content-Disposition",
            format!("attachment; filename=\"{name}\""),
        ))
        .insert_header(("Cache-Control", "no-store"))
        .streaming(stream))
}
