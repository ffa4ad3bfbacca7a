//! `/api/v1/broadcasts`: broadcasts and the quota's calendar, through the same operations
//! as the pages (`patron_app::broadcasts`).

use super::{ApiAuth, ApiError, ApiResult, ErrorBody};
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use chrono::NaiveDateTime;
use patron_app::broadcasts::{self as ops, Draft, Scheduled, When};
use patron_domain::broadcasts::{Audience, Message, Period};
use patron_domain::{validate, Permission};
use patron_store::broadcasts::{self as store, Broadcast};
use patron_store::tenants;
use serde::{Deserialize, Serialize};

/// A broadcast.
#[derive(Serialize, utoipa::ToSchema)]
pub struct BroadcastJson {
    pub id: i64,
    pub title: String,
    pub message: Option<Message>,
    pub audience: Option<Audience>,
    /// draft, awaiting_approval, approved, scheduled, recurring, sending, sent, failed,
    /// cancelled or skipped.
    pub status: String,
    /// When it goes (or went) out, UTC.
    pub scheduled_at: Option<NaiveDateTime>,
    /// A recurring broadcast's cron expression (tenant's time zone) and next occurrence.
    pub recurrence: Option<String>,
    pub next_at: Option<NaiveDateTime>,
    pub approved_by: Option<String>,
    pub approved_at: Option<NaiveDateTime>,
    /// Followers planned; those named but not following; those at the monthly cap.
    pub recipients: Option<i64>,
    pub left_out: i64,
    pub at_cap: i64,
    /// A coupon offer's coupons issued when it was planned, and the followers of its
    /// audience left without one (supply, per-follower limit).
    pub coupons_issued: i64,
    pub no_coupon: i64,
    /// Also sent by email to followers who agreed to email.
    pub email: bool,
    /// WeChat's counts (MASSSENDJOBFINISH), summed over the broadcast's sends.
    pub total_count: i64,
    pub filter_count: i64,
    pub sent_count: i64,
    pub error_count: i64,
}

impl From<&Broadcast> for BroadcastJson {
    fn from(b: &Broadcast) -> Self {
        BroadcastJson {
            id: b.id,
            title: b.title.clone(),
            message: b.message(),
            audience: b.audience(),
            status: b.status.clone(),
            scheduled_at: b.scheduled_at,
            recurrence: b.recurrence.clone(),
            next_at: b.next_at,
            approved_by: b.approved_by.clone(),
            approved_at: b.approved_at,
            recipients: b.recipients,
            left_out: b.left_out,
            at_cap: b.at_cap,
            coupons_issued: b.coupons_issued,
            no_coupon: b.no_coupon,
            email: b.email,
            total_count: b.total_count,
            filter_count: b.filter_count,
            sent_count: b.sent_count,
            error_count: b.error_count,
        }
    }
}

/// The tenant's broadcast quota.
#[derive(Serialize, utoipa::ToSchema)]
pub struct QuotaJson {
    /// day or month (the tenant's local calendar).
    pub period: String,
    pub count: u32,
    pub follower_monthly_cap: Option<u32>,
    /// The account kind's preset (else set by the agency).
    pub preset: bool,
    pub needs_approval: bool,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct BroadcastList {
    pub quota: QuotaJson,
    pub broadcasts: Vec<BroadcastJson>,
}

/// The broadcasts, newest first, with the quota.
#[utoipa::path(get, path = "/broadcasts", operation_id = "listBroadcasts", tag = "broadcasts",
    responses((status = 200, description = "The broadcasts", body = BroadcastList)))]
pub async fn list(auth: ApiAuth) -> ApiResult {
    let scope = auth.require(Permission::Market)?.clone();
    let (list, settings) = auth
        .state
        .run(move |c| {
            let t = tenants::get(c, &scope)?;
            Ok((store::list(c, &scope, 200)?, ops::settings(c, &scope, &t)?))
        })
        .await?;
    Ok(HttpResponse::Ok().json(BroadcastList {
        quota: QuotaJson {
            period: settings.policy.period.as_str().into(),
            count: settings.policy.count,
            follower_monthly_cap: settings.policy.follower_monthly_cap,
            preset: settings.preset,
            needs_approval: settings.needs_approval,
        },
        broadcasts: list.iter().map(BroadcastJson::from).collect(),
    }))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct BroadcastBody {
    #[schema(max_length = 100)]
    pub title: String,
    pub message: Message,
    pub audience: Audience,
    /// Also email the audience's followers who agreed to email (text and offers).
    #[serde(default)]
    pub email: bool,
}

/// Drafts a broadcast; every problem is answered at once (422).
#[utoipa::path(post, path = "/broadcasts", operation_id = "createBroadcast", tag = "broadcasts",
    request_body = BroadcastBody,
    responses((status = 201, description = "The draft", body = BroadcastJson)))]
pub async fn create(auth: ApiAuth, body: web::Json<BroadcastBody>) -> ApiResult {
    let scope = auth.require(Permission::Market)?.clone();
    let b = body.into_inner();
    let draft = Draft {
        title: b.title,
        message: b.message,
        audience: b.audience,
        email: b.email,
    };
    let created = auth
        .state
        .run(move |c| {
            let t = tenants::get(c, &scope)?;
            ops::create(c, &scope, &t, &draft, "API")
        })
        .await?;
    Ok(HttpResponse::Created().json(BroadcastJson::from(&created)))
}

/// One broadcast.
#[utoipa::path(get, path = "/broadcasts/{broadcast_id}", operation_id = "getBroadcast", tag = "broadcasts",
    params(("broadcast_id" = i64, Path)),
    responses(
        (status = 200, description = "The broadcast", body = BroadcastJson),
        (status = 404, description = "No such broadcast", body = ErrorBody),
    ))]
pub async fn show(auth: ApiAuth, id: web::Path<i64>) -> ApiResult {
    let scope = auth.require(Permission::Market)?.clone();
    let id = id.into_inner();
    let b = auth.state.db(move |c| store::get(c, &scope, id)).await?;
    Ok(HttpResponse::Ok().json(BroadcastJson::from(&b)))
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(default)]
pub struct ScheduleBody {
    /// A local date and time in the tenant's zone (`2026-12-09T20:00`); neither this nor
    /// `recurrence`: now.
    pub at: Option<NaiveDateTime>,
    /// Instead: a cron expression of five fields in the tenant's zone.
    pub recurrence: Option<String>,
}

/// Schedules a broadcast: 409 `conflict` when its day or month has no free slot (the
/// message names the next free one); a draft that needs approval first is 409 too.
#[utoipa::path(post, path = "/broadcasts/{broadcast_id}/schedule", operation_id = "scheduleBroadcast", tag = "broadcasts",
    params(("broadcast_id" = i64, Path)),
    request_body = ScheduleBody,
    responses(
        (status = 200, description = "Scheduled (or repeating)", body = BroadcastJson),
        (status = 404, description = "No such broadcast", body = ErrorBody),
        (status = 409, description = "The period is full, or the broadcast is not ready", body = ErrorBody),
    ))]
pub async fn schedule(
    auth: ApiAuth,
    id: web::Path<i64>,
    body: web::Json<ScheduleBody>,
) -> ApiResult {
    let scope = auth.require(Permission::Market)?.clone();
    let id = id.into_inner();
    let b = body.into_inner();
    let when = match (b.at, b.recurrence) {
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid(vec![validate::invalid(
                "recurrence",
                "either_at_or_recurrence",
            )]))
        }
        (Some(at), None) => When::At(at),
        (None, Some(r)) => When::Repeat(r),
        (None, None) => When::Now,
    };
    let (outcome, after) = auth
        .state
        .run(move |c| {
            let t = tenants::get(c, &scope)?;
            let outcome = ops::schedule(c, &scope, &t, id, when, patron_store::now(), "API")?;
            Ok((outcome, store::get(c, &scope, id)?))
        })
        .await?;
    match outcome {
        Scheduled::At(_) | Scheduled::Repeats(_) => {
            Ok(HttpResponse::Ok().json(BroadcastJson::from(&after)))
        }
        Scheduled::Full(full) => {
            let next = match full.next {
                Some((period, at)) => format!("; the next free slot is in {period}, at {at} UTC"),
                None => "; no slot is free in the coming year".into(),
            };
            Err(ApiError::new(
                StatusCode::CONFLICT,
                "conflict",
                format!("{} has no free broadcast left{next}", full.period),
            ))
        }
    }
}

/// Discards a broadcast that has not started (a scheduled one gives its slot back).
#[utoipa::path(post, path = "/broadcasts/{broadcast_id}/cancel", operation_id = "cancelBroadcast", tag = "broadcasts",
    params(("broadcast_id" = i64, Path)),
    responses(
        (status = 204, description = "Discarded"),
        (status = 404, description = "No such broadcast", body = ErrorBody),
        (status = 409, description = "It has started", body = ErrorBody),
    ))]
pub async fn cancel(auth: ApiAuth, id: web::Path<i64>) -> ApiResult {
    let scope = auth.require(Permission::Market)?.clone();
    let id = id.into_inner();
    auth.state.run(move |c| ops::cancel(c, &scope, id)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// A used quota slot.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SlotJson {
    /// The local day (`2026-12-09`) or month (`2026-12`).
    pub period: String,
    /// The broadcast holding it; none for a send made from the official console.
    pub broadcast_id: Option<i64>,
    /// When, UTC.
    pub at: NaiveDateTime,
    pub note: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct SlotList {
    pub slots: Vec<SlotJson>,
}

/// The quota's used slots from the current period on (28 days, or 4 months).
#[utoipa::path(get, path = "/broadcast-slots", operation_id = "listBroadcastSlots", tag = "broadcasts",
    responses((status = 200, description = "The used slots", body = SlotList)))]
pub async fn slots(auth: ApiAuth) -> ApiResult {
    let scope = auth.require(Permission::Market)?.clone();
    let slots = auth
        .state
        .run(move |c| {
            let t = tenants::get(c, &scope)?;
            let settings = ops::settings(c, &scope, &t)?;
            let from = settings.policy.key_at(patron_store::now(), ops::tz(&t));
            let ahead = match settings.policy.period {
                Period::Day => 28,
                Period::Month => 4,
            };
            let mut to = from;
            for _ in 0..ahead {
                to = to.next();
            }
            Ok(store::slots_between(
                c,
                &scope,
                &from.to_string(),
                &to.to_string(),
            )?)
        })
        .await?;
    Ok(HttpResponse::Ok().json(SlotList {
        slots: slots
            .into_iter()
            .map(|s| SlotJson {
                period: s.period,
                broadcast_id: s.broadcast_id,
                at: s.at,
                note: s.note,
            })
            .collect(),
    }))
}
