//! Followers as CSV, streamed: rows are read in keyset batches on the blocking pool and
//! written to the response as they come, so a million followers never sit in memory.

use crate::ctx::Ctx;
use crate::error::UiError;
use actix_web::{web, HttpResponse};
use patron_domain::{Permission, TenantScope};
use patron_store::followers::{self, Filter, Follower};
use patron_store::DbPool;

const BATCH: i64 = 2000;

pub const HEADER: [&str; 15] = [
    "openid",
    "unionid",
    "subscribed",
    "subscribed_at",
    "unsubscribed_at",
    "subscribe_count",
    "subscribe_scene",
    "qr_scene",
    "last_interaction_at",
    "name",
    "phone",
    "email",
    "birthday",
    "remark",
    "created_at",
];

/// Spreadsheet programs run cells starting with these as formulas; prefix them with `'`.
fn cell(s: &str) -> String {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_string()
    }
}

fn time(t: &Option<chrono::NaiveDateTime>) -> String {
    t.map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

fn record(f: &Follower) -> [String; 15] {
    let o = |v: &Option<String>| cell(v.as_deref().unwrap_or(""));
    [
        cell(&f.openid),
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
    ]
}

fn write_rows(rows: &[Follower], header: bool) -> Result<Vec<u8>, csv::Error> {
    let mut w = csv::Writer::from_writer(Vec::with_capacity(rows.len() * 120));
    if header {
        w.write_record(HEADER)?;
    }
    for f in rows {
        w.write_record(record(f))?;
    }
    w.into_inner().map_err(|e| e.into_error().into())
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
    loop {
        let batch = pool
            .get()
            .and_then(|mut c| followers::list_page(&mut c, &scope, &filter, BATCH));
        let (rows, more) = match batch {
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
        match write_rows(&rows, first) {
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
        match (more, rows.last()) {
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

#[cfg(test)]
mod tests {
    #[test]
    fn formula_like_cells_are_defused() {
        assert_eq!(super::cell("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(super::cell("+86 138"), "'+86 138");
        assert_eq!(super::cell("Li Lei"), "Li Lei");
    }
}
