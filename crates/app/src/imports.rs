//! The followers import as the page and the API take it: the file is checked at once
//! against the tenant's attributes (every bad row listed) and recorded; nothing changes
//! until it is confirmed, when a job applies it in one transaction.

use crate::jobs::{self, FollowerImport, Job};
use crate::AppError;
use patron_domain::follower_csv::{self, FileError};
use patron_domain::{JobId, TenantScope};
use patron_store::imports::{self, Import};
use patron_store::{attributes, write_tx, DbConn, StoreError};

/// Checks a followers CSV and records it as an import to confirm. A file refused as a
/// whole (no openid column, unknown columns, not UTF-8, too many rows) is `Ok(Err(why))`
/// and records nothing.
pub fn check_file(
    c: &mut DbConn,
    scope: &TenantScope,
    author: &str,
    file_name: &str,
    body: &[u8],
) -> Result<Result<Import, FileError>, AppError> {
    let defs: Vec<_> = attributes::list(c, scope)?
        .iter()
        .map(|a| a.def())
        .collect();
    let checked = match follower_csv::check(body, &defs, follower_csv::MAX_ROWS) {
        Ok(checked) => checked,
        Err(why) => return Ok(Err(why)),
    };
    let text = String::from_utf8_lossy(body);
    Ok(Ok(imports::create(
        c, scope, author, file_name, &text, &checked,
    )?))
}

/// Queues a checked import to be applied by a job, in one transaction. Another tenant's
/// import is `NotFound`; one that is not waiting (rejected, queued before) is
/// `Conflict("import_not_checked")` and queues nothing.
pub fn confirm(c: &mut DbConn, scope: &TenantScope, id: i64) -> Result<JobId, AppError> {
    Ok(write_tx(c, |c| {
        let imp = imports::get(c, scope, id)?;
        if imp.status != imports::CHECKED {
            return Err(StoreError::Conflict("import_not_checked"));
        }
        let job = jobs::enqueue(
            c,
            scope,
            &Job::FollowerImport(FollowerImport {
                tenant_id: scope.tenant_id().0,
                import_id: id,
            }),
        )?;
        imports::mark_queued(c, scope, id, job)?;
        Ok(job)
    })?)
}
