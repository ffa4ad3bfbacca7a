//! `follower_import`: applies a checked followers CSV in one transaction.
//!
//! Payload: `{"tenant_id": 42, "import_id": 7}`. The file is checked again first (an
//! attribute may have been deleted since the preview); if any row no longer passes, the
//! import fails with the new errors and nothing changes.

use crate::worker::{Handler, JobCtx};
use patron_domain::follower_csv;
use patron_domain::{TenantId, TenantScope};
use patron_store::{attributes, imports, tenants};

pub const KIND: &str = patron_store::jobs::kinds::FOLLOWER_IMPORT;

/// The job's payload: the contract with whoever queues it (`patron_app::jobs`).
pub type Payload = patron_app::jobs::FollowerImport;

pub fn handler() -> Handler {
    Box::new(run)
}

fn run(ctx: &mut JobCtx) -> Result<(), crate::JobError> {
    let p: Payload = patron_app::jobs::payload(&ctx.job.payload)?;
    if ctx.job.tenant_id != Some(p.tenant_id) {
        return Err("payload tenant differs from the job's tenant".into());
    }
    let mut c = ctx.pool.get()?;
    let tref = tenants::find_ref_by_id(&mut c, TenantId(p.tenant_id))?
        .ok_or_else(|| format!("tenant {} not found", p.tenant_id))?;
    let scope = TenantScope::system(tref);
    let imp = imports::get(&mut c, &scope, p.import_id)?;
    if imp.status == imports::DONE || imp.status == imports::FAILED {
        return Ok(()); // a reclaimed job whose first run finished
    }
    imports::set_status(&mut c, &scope, imp.id, imports::RUNNING, None, None)?;
    let body = imports::body(&mut c, &scope, imp.id)?;
    let defs: Vec<_> = attributes::list(&mut c, &scope)?
        .iter()
        .map(|a| a.def())
        .collect();
    drop(c);
    ctx.progress(0, Some(imp.total_rows))?;
    let fail = |ctx: &mut JobCtx, msg: &str, errors: Option<&[follower_csv::RowError]>| {
        tracing::warn!(import = imp.id, reason = msg, "followers import failed");
        let mut c = ctx.pool.get()?;
        imports::set_status(&mut c, &scope, imp.id, imports::FAILED, Some(msg), errors)?;
        Ok::<(), crate::JobError>(())
    };
    let checked = match follower_csv::check(body.as_bytes(), &defs, follower_csv::MAX_ROWS) {
        Ok(ch) if ch.errors.is_empty() => ch,
        Ok(ch) => return fail(ctx, "rows_no_longer_valid", Some(&ch.errors)),
        Err(e) => return fail(ctx, e.code(), None),
    };
    let mut c = ctx.pool.get()?;
    let applied = match imports::apply(&mut c, &scope, &checked.rows) {
        Ok(a) => a,
        Err(e) => {
            tracing::error!(import = imp.id, error = %e, "followers import rolled back");
            drop(c);
            return fail(ctx, "apply_failed", None);
        }
    };
    let msg = format!(
        "created={} updated={} unchanged={}",
        applied.created, applied.updated, applied.unchanged
    );
    // Progress first: whoever sees the import done sees all its rows counted.
    ctx.progress(imp.total_rows, Some(imp.total_rows))?;
    imports::set_status(&mut c, &scope, imp.id, imports::DONE, Some(&msg), None)?;
    drop(c);
    tracing::info!(
        import = imp.id,
        created = applied.created,
        updated = applied.updated,
        unchanged = applied.unchanged,
        "followers imported"
    );
    Ok(())
}
