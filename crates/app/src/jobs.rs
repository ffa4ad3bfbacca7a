//! The job queue's contract: one typed payload per kind of job, produced through
//! [`Job`] by pages, the API and the webhook, and read back with [`payload`] by the
//! handlers in `patron-jobs`. The queue itself (claiming, leases, retries) is
//! `patron_store::jobs`.

use patron_domain::replies::Content;
use patron_domain::{JobId, TenantScope};
use patron_store::jobs::kinds;
use patron_store::{DbConn, StoreError};
use serde::{Deserialize, Serialize};

/// A job about one tenant and nothing more (follower sync, tag sync).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantJob {
    pub tenant_id: i64,
}

/// Apply a checked followers CSV.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FollowerImport {
    pub tenant_id: i64,
    pub import_id: i64,
}

/// Customer-service messages to one follower.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CsSend {
    pub tenant_id: i64,
    pub openid: String,
    pub messages: Vec<Content>,
}

/// Fetch one follower's info after a follow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FollowerInfo {
    pub tenant_id: i64,
    pub openid: String,
}

/// Issue a campaign's coupon to every follower of a segment or a tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CouponBulk {
    pub tenant_id: i64,
    pub campaign_id: i64,
    #[serde(default)]
    pub segment_id: Option<i64>,
    #[serde(default)]
    pub tag_id: Option<i64>,
    /// Who asked, for the coupons' `issued_by`.
    #[serde(default)]
    pub by: String,
}

/// Plan a due broadcast and send it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BroadcastSend {
    pub tenant_id: i64,
    pub broadcast_id: i64,
}

/// WeChat's report of a mass send (`MASSSENDJOBFINISH`), applied to its broadcast.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MassReport {
    pub tenant_id: i64,
    pub msg_id: i64,
    pub status: String,
    pub total: i64,
    pub filtered: i64,
    pub sent: i64,
    pub errors: i64,
}

/// Reconcile a stored trade bill (`patron_store::bill_files`), downloading it first
/// when it is the daily fetch's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReconcileBill {
    pub tenant_id: i64,
    pub file_id: i64,
}

/// Every kind of job, with its payload.
#[derive(Debug, Clone, PartialEq)]
pub enum Job {
    FollowerSync(TenantJob),
    FollowerImport(FollowerImport),
    CsSend(CsSend),
    FollowerInfo(FollowerInfo),
    TagSync(TenantJob),
    CouponBulk(CouponBulk),
    BroadcastSend(BroadcastSend),
    MassReport(MassReport),
    ReconcileBill(ReconcileBill),
}

impl Job {
    /// The `kind` column (`patron_store::jobs::kinds`).
    pub fn kind(&self) -> &'static str {
        match self {
            Job::FollowerSync(_) => kinds::FOLLOWER_SYNC,
            Job::FollowerImport(_) => kinds::FOLLOWER_IMPORT,
            Job::CsSend(_) => kinds::CS_SEND,
            Job::FollowerInfo(_) => kinds::FOLLOWER_INFO,
            Job::TagSync(_) => kinds::TAG_SYNC,
            Job::CouponBulk(_) => kinds::COUPON_BULK,
            Job::BroadcastSend(_) => kinds::BROADCAST_SEND,
            Job::MassReport(_) => kinds::MASS_REPORT,
            Job::ReconcileBill(_) => kinds::RECONCILE_BILL,
        }
    }

    pub fn tenant_id(&self) -> i64 {
        match self {
            Job::FollowerSync(p) | Job::TagSync(p) => p.tenant_id,
            Job::FollowerImport(p) => p.tenant_id,
            Job::CsSend(p) => p.tenant_id,
            Job::FollowerInfo(p) => p.tenant_id,
            Job::CouponBulk(p) => p.tenant_id,
            Job::BroadcastSend(p) => p.tenant_id,
            Job::MassReport(p) => p.tenant_id,
            Job::ReconcileBill(p) => p.tenant_id,
        }
    }

    /// The payload column: the kind's struct as JSON.
    pub fn payload(&self) -> String {
        let v = match self {
            Job::FollowerSync(p) | Job::TagSync(p) => serde_json::to_string(p),
            Job::FollowerImport(p) => serde_json::to_string(p),
            Job::CsSend(p) => serde_json::to_string(p),
            Job::FollowerInfo(p) => serde_json::to_string(p),
            Job::CouponBulk(p) => serde_json::to_string(p),
            Job::BroadcastSend(p) => serde_json::to_string(p),
            Job::MassReport(p) => serde_json::to_string(p),
            Job::ReconcileBill(p) => serde_json::to_string(p),
        };
        v.expect("payload structs always serialize")
    }

    /// How often the queue tries it. An import applies in one transaction and is not
    /// retried blindly; bulk issuance resumes where it stopped.
    pub fn max_attempts(&self) -> i64 {
        match self {
            Job::FollowerImport(_) => 1,
            Job::CouponBulk(_) => 3,
            // A broadcast resumes where it stopped (its chunks carry clientmsgids), and
            // WeChat's "retry in a minute" (45066) needs a few tries.
            Job::BroadcastSend(_) => 8,
            _ => 5,
        }
    }

    /// Reads a stored job back into its kind and payload.
    pub fn parse(kind: &str, json: &str) -> Result<Job, BadPayload> {
        Ok(match kind {
            kinds::FOLLOWER_SYNC => Job::FollowerSync(payload(json)?),
            kinds::FOLLOWER_IMPORT => Job::FollowerImport(payload(json)?),
            kinds::CS_SEND => Job::CsSend(payload(json)?),
            kinds::FOLLOWER_INFO => Job::FollowerInfo(payload(json)?),
            kinds::TAG_SYNC => Job::TagSync(payload(json)?),
            kinds::COUPON_BULK => Job::CouponBulk(payload(json)?),
            kinds::BROADCAST_SEND => Job::BroadcastSend(payload(json)?),
            kinds::MASS_REPORT => Job::MassReport(payload(json)?),
            kinds::RECONCILE_BILL => Job::ReconcileBill(payload(json)?),
            other => return Err(BadPayload(format!("unknown job kind {other:?}"))),
        })
    }

    /// The job as a follow-up the webhook's writer queues in the push's transaction.
    pub fn follow_up(&self) -> patron_store::inbox::FollowUp {
        patron_store::inbox::FollowUp {
            kind: self.kind(),
            payload: self.payload(),
        }
    }
}

/// Why a job's last attempt failed, in a form its pages turn into a merchant's words
/// (`jobs.failure`, JSON). Failures only an operator can read (the database, a bug) have
/// none: the page says something went wrong and the log has the rest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum JobFailure {
    /// The tenant has no AppID or AppSecret for the calls the job makes.
    NotConfigured,
    /// A call to WeChat failed.
    Wechat {
        /// The API path, as `user/info`.
        call: String,
        /// What it came to.
        failure: patron_wechat::api::Failure,
    },
}

impl JobFailure {
    /// The stored form.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("failures always serialize")
    }

    /// Reads the stored form; `None` for anything else (a column written by a later
    /// version, say), which the pages treat as a failure without words.
    pub fn read(json: &str) -> Option<JobFailure> {
        serde_json::from_str(json).ok()
    }
}

/// A stored payload that does not read as its kind's struct.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad job payload: {0}")]
pub struct BadPayload(pub String);

/// Reads a job's payload as the struct of its kind (for the handlers).
pub fn payload<T: serde::de::DeserializeOwned>(json: &str) -> Result<T, BadPayload> {
    serde_json::from_str(json).map_err(|e| BadPayload(e.to_string()))
}

/// Queues `job` for the scope's tenant (the payload must name that tenant).
pub fn enqueue(c: &mut DbConn, scope: &TenantScope, job: &Job) -> Result<JobId, StoreError> {
    if job.tenant_id() != scope.tenant_id().0 {
        return Err(StoreError::NotFound);
    }
    patron_store::jobs::enqueue(
        c,
        Some(scope),
        job.kind(),
        &job.payload(),
        job.max_attempts(),
    )
}

/// Queues `job` unless a job of its kind is already queued or running for the tenant
/// (a sync asked for twice runs once); returns the job that will do it.
pub fn enqueue_once(c: &mut DbConn, scope: &TenantScope, job: &Job) -> Result<JobId, StoreError> {
    match patron_store::jobs::open_of_kind(c, scope, job.kind())? {
        Some(open) => Ok(open),
        None => enqueue(c, scope, job),
    }
}

/// A sync of the tenant's followers from WeChat, once.
pub fn sync_followers(c: &mut DbConn, scope: &TenantScope) -> Result<JobId, StoreError> {
    let tenant_id = scope.tenant_id().0;
    enqueue_once(c, scope, &Job::FollowerSync(TenantJob { tenant_id }))
}

/// A two-way sync of the tenant's tags with WeChat, once.
pub fn sync_tags(c: &mut DbConn, scope: &TenantScope) -> Result<JobId, StoreError> {
    let tenant_id = scope.tenant_id().0;
    enqueue_once(c, scope, &Job::TagSync(TenantJob { tenant_id }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_job_reads_back_as_itself() {
        let jobs = [
            Job::FollowerSync(TenantJob { tenant_id: 1 }),
            Job::FollowerImport(FollowerImport {
                tenant_id: 1,
                import_id: 2,
            }),
            Job::CsSend(CsSend {
                tenant_id: 1,
                openid: "o".into(),
                messages: vec![Content::Text { text: "hi".into() }],
            }),
            Job::FollowerInfo(FollowerInfo {
                tenant_id: 1,
                openid: "o".into(),
            }),
            Job::TagSync(TenantJob { tenant_id: 1 }),
            Job::CouponBulk(CouponBulk {
                tenant_id: 1,
                campaign_id: 3,
                segment_id: Some(4),
                tag_id: None,
                by: "me".into(),
            }),
            Job::BroadcastSend(BroadcastSend {
                tenant_id: 1,
                broadcast_id: 2,
            }),
            Job::MassReport(MassReport {
                tenant_id: 1,
                msg_id: 1_000_000_001,
                status: "send success".into(),
                total: 3,
                filtered: 3,
                sent: 3,
                errors: 0,
            }),
        ];
        for j in jobs {
            assert_eq!(Job::parse(j.kind(), &j.payload()).unwrap(), j);
        }
        assert!(Job::parse("nope", "{}").is_err());
        assert!(Job::parse(kinds::CS_SEND, "{\"tenant_id\":1}").is_err());
    }

    #[test]
    fn payloads_keep_the_shape_stored_jobs_have() {
        // Jobs queued before the types existed must still read.
        let old = r#"{"tenant_id":7,"campaign_id":9,"segment_id":null,"tag_id":3,"by":"API"}"#;
        let Job::CouponBulk(p) = Job::parse(kinds::COUPON_BULK, old).unwrap() else {
            panic!("coupon_bulk")
        };
        assert_eq!((p.tenant_id, p.tag_id), (7, Some(3)));
        assert!(Job::parse(kinds::FOLLOWER_SYNC, "{\"tenant_id\":7}").is_ok());
    }

    #[test]
    fn failures_read_back_as_stored() {
        let f = JobFailure::Wechat {
            call: "user/get".into(),
            failure: patron_wechat::api::Failure::Refused {
                errcode: 40164,
                errmsg: "invalid ip".into(),
            },
        };
        assert_eq!(JobFailure::read(&f.to_json()), Some(f));
        assert_eq!(
            JobFailure::read(r#"{"kind":"not_configured"}"#),
            Some(JobFailure::NotConfigured)
        );
        assert_eq!(JobFailure::read("{}"), None);
    }
}
