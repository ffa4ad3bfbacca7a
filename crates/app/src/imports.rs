//! The followers import as the page and the API take it: the file is checked at once
//! against the tenant's attributes (every bad row listed) and recorded; nothing changes
//! until it is confirmed, when a job applies it in one transaction.

use crate::AppError;
use patron_domain::follower_csv::{self, FileError};
use patron_domain::TenantScope;
use patron_store::imports::{self, Import};
use patron_store::{attributes, DbConn};

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
