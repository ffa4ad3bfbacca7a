//! Operations on one follower that a page, the API and a job share, and the limits the
//! follower pages and the API share.

use crate::jobs::{self, CsSend, Job};
use crate::AppError;
use patron_domain::replies::{self, Content};
use patron_domain::{JobId, TenantScope};
use patron_store::{followers, DbConn};

/// Filtered counts stop at this many matches (the list says "10,000+").
pub const MATCH_CAP: i64 = 10_000;
/// The largest follower CSV accepted, by the page and the API.
pub const MAX_UPLOAD: usize = 64 * 1024 * 1024;

/// Queues customer-service messages to a follower of the scope's tenant; they reach the
/// follower's timeline once WeChat took them. A stranger's follower is `NotFound` before
/// the messages are judged.
pub fn send_messages(
    c: &mut DbConn,
    scope: &TenantScope,
    follower_id: i64,
    messages: Vec<Content>,
) -> Result<JobId, AppError> {
    let follower = followers::get(c, scope, follower_id)?;
    replies::encode(&messages).map_err(|i| AppError::Invalid(vec![i]))?;
    let job = Job::CsSend(CsSend {
        tenant_id: scope.tenant_id().0,
        openid: follower.openid,
        messages,
    });
    Ok(jobs::enqueue(c, scope, &job)?)
}
