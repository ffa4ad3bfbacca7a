//! The followers CRM: listing with filters and keyset paging, the follower record, the
//! timeline of the permanent archive.

use crate::schema::{followers, messages};
use crate::{now, DbConn, Result, StoreError};
use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use patron_domain::{validate, TenantScope};
use serde::Serialize;

#[derive(Debug, Clone, Queryable, Selectable, Serialize, utoipa::ToSchema)]
#[diesel(table_name = followers)]
pub struct Follower {
    pub id: i64,
    pub tenant_id: i64,
    pub openid: String,
    pub unionid: Option<String>,
    pub subscribed: bool,
    pub subscribed_at: Option<NaiveDateTime>,
    pub unsubscribed_at: Option<NaiveDateTime>,
    pub subscribe_count: i64,
    pub subscribe_scene: Option<String>,
    pub qr_scene: Option<String>,
    pub last_interaction_at: Option<NaiveDateTime>,
    pub name: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub birthday: Option<NaiveDate>,
    pub remark: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// When the follower's consent to email was recorded (`None`: no email is sent).
    pub email_consent_at: Option<NaiveDateTime>,
    /// How it was given: `profile` (recorded by a merchant), `import`, `api`.
    pub email_consent_source: Option<String>,
    /// When they last unsubscribed through an email's link.
    pub email_unsubscribed_at: Option<NaiveDateTime>,
}

/// Whether a follower follows the account, as far as WeChat has told us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FollowStatus {
    Following,
    Unfollowed,
    /// No push and no sync has said (an imported follower).
    Unknown,
}

impl Follower {
    pub fn status(&self) -> FollowStatus {
        if self.subscribed {
            FollowStatus::Following
        } else if self.unsubscribed_at.is_some() || self.subscribed_at.is_some() {
            FollowStatus::Unfollowed
        } else {
            FollowStatus::Unknown
        }
    }
    /// The catalogue key of [`Follower::status`].
    pub fn status_key(&self) -> &'static str {
        match self.status() {
            FollowStatus::Following => "followers.following",
            FollowStatus::Unfollowed => "followers.unfollowed",
            FollowStatus::Unknown => "followers.unknown",
        }
    }
}

/// Filters for the followers list. Empty fields do not filter. The same value is what a
/// saved segment stores (as a query string) and evaluates again each time it is opened.
#[derive(
    Debug,
    Clone,
    Default,
    serde::Deserialize,
    serde::Serialize,
    utoipa::ToSchema,
    utoipa::IntoParams,
)]
#[serde(default)]
#[into_params(parameter_in = Query)]
pub struct Filter {
    /// `yes` (following now), `no` (unfollowed), `unknown` (WeChat has not told us yet:
    /// imported, never synced) or empty (any).
    #[serde(skip_serializing_if = "String::is_empty")]
    #[schema(pattern = "^(yes|no|unknown)?$")]
    #[param(pattern = "^(yes|no|unknown)?$")]
    pub subscribed: String,
    /// Matches openid exactly, or name, phone, email, remark by prefix.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub q: String,
    /// The QR scene of the first follow.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub qr_scene: String,
    /// Only followers active within this many days.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub active_days: Option<i64>,
    /// Only followers carrying this tag.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tag: Option<i64>,
    /// Only followers whose custom attribute `attr` compares (`attr_op`: set, unset, eq,
    /// lt, gt) with `attr_value`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attr: Option<i64>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub attr_op: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub attr_value: String,
    /// Only followers first recorded on or after / before the end of this day
    /// (`YYYY-MM-DD`, in UTC).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub created_from: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub created_to: String,
    /// Only followers who followed on or after this day (`YYYY-MM-DD`, UTC; WeChat's
    /// subscribe time, so an import or a sync of old followers does not count as new).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub followed_from: String,
    /// The saved segment this filter came from (shown, not filtered on).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub segment: Option<i64>,
    /// Keyset paging: only followers with a smaller id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before: Option<i64>,
}

impl Filter {
    /// The filter as a query string, without paging.
    pub fn query(&self) -> String {
        let mut f = self.clone();
        f.before = None;
        serde_urlencoded::to_string(&f).unwrap_or_default()
    }
}

pub const PAGE: i64 = 50;

/// Whether text compares in code-point order (SQLite's BINARY; PostgreSQL databases
/// created with the C, POSIX or C.UTF-8 collation), which prefix ranges rely on. Asked once
/// per process.
fn bytewise_collation(conn: &mut DbConn) -> bool {
    use std::sync::atomic::{AtomicU8, Ordering};
    static KNOWN: AtomicU8 = AtomicU8::new(0); // 0 unknown, 1 yes, 2 no
    match conn {
        DbConn::Sqlite(_) => true,
        DbConn::Postgres(_) => match KNOWN.load(Ordering::Relaxed) {
            1 => true,
            2 => false,
            _ => {
                #[derive(QueryableByName)]
                struct Collation {
                    #[diesel(sql_type = diesel::sql_types::Text)]
                    datcollate: String,
                }
                let c: Option<Collation> = diesel::sql_query(
                    "SELECT datcollate::text AS datcollate FROM pg_database WHERE datname = current_database()",
                )
                .get_result(conn)
                .ok();
                let yes = c.is_some_and(|c| {
                    matches!(
                        c.datcollate.as_str(),
                        "C" | "POSIX" | "C.UTF-8" | "C.utf8" | "ucs_basic"
                    )
                });
                KNOWN.store(if yes { 1 } else { 2 }, Ordering::Relaxed);
                yes
            }
        },
    }
}

type Backend = <DbConn as diesel::Connection>::Backend;
type Boxed = followers::BoxedQuery<'static, Backend>;

/// The filter as a query over the tenant's followers (no order, no paging).
fn filtered(conn: &mut DbConn, scope: &TenantScope, f: &Filter) -> Result<Boxed> {
    let tenant = scope.tenant_id().0;
    let mut q = followers::table
        .filter(followers::tenant_id.eq(tenant))
        .into_boxed();
    match f.subscribed.as_str() {
        "yes" => q = q.filter(followers::subscribed.eq(true)),
        "no" => {
            q = q.filter(followers::subscribed.eq(false)).filter(
                followers::unsubscribed_at
                    .is_not_null()
                    .or(followers::subscribed_at.is_not_null()),
            )
        }
        "unknown" => {
            q = q
                .filter(followers::subscribed.eq(false))
                .filter(followers::unsubscribed_at.is_null())
                .filter(followers::subscribed_at.is_null())
        }
        _ => {}
    }
    let term = f.q.trim();
    if !term.is_empty() {
        // An exact OpenID is a unique-index lookup; only when none matches is the term a
        // prefix of the merchant-filled fields (LIKE wildcards in the input escaped).
        let exact: Option<i64> = followers::table
            .filter(followers::tenant_id.eq(tenant))
            .filter(followers::openid.eq(term))
            .select(followers::id)
            .first(conn)
            .optional()?;
        match exact {
            Some(id) => q = q.filter(followers::id.eq(id)),
            None => {
                let esc = term
                    .replace('\\', "\\\\")
                    .replace('%', "\\%")
                    .replace('_', "\\_");
                let prefix = format!("{esc}%");
                let like = followers::name
                    .like(prefix.clone())
                    .escape('\\')
                    .or(followers::phone.like(prefix.clone()).escape('\\'))
                    .or(followers::email.like(prefix.clone()).escape('\\'))
                    .or(followers::remark.like(prefix).escape('\\'));
                if bytewise_collation(conn) {
                    // In code-point order every string with this prefix lies in
                    // [term, term + U+10FFFF): a range each column's index can scan. LIKE
                    // stays as the exact test.
                    let (lo, hi) = (term.to_string(), format!("{term}\u{10FFFF}"));
                    q = q.filter(
                        followers::name
                            .ge(lo.clone())
                            .and(followers::name.lt(hi.clone()))
                            .or(followers::phone
                                .ge(lo.clone())
                                .and(followers::phone.lt(hi.clone())))
                            .or(followers::email
                                .ge(lo.clone())
                                .and(followers::email.lt(hi.clone())))
                            .or(followers::remark.ge(lo).and(followers::remark.lt(hi))),
                    );
                }
                q = q.filter(like);
            }
        }
    }
    if !f.qr_scene.trim().is_empty() {
        q = q.filter(followers::qr_scene.eq(f.qr_scene.trim().to_string()));
    }
    if let Some(tag) = f.tag {
        use crate::schema::follower_tags as ft;
        q = q.filter(
            followers::id.eq_any(
                ft::table
                    .filter(ft::tenant_id.eq(tenant))
                    .filter(ft::tag_id.eq(tag))
                    .select(ft::follower_id),
            ),
        );
    }
    if let Some(attr) = f.attr {
        q = attribute_filter(conn, scope, q, attr, &f.attr_op, &f.attr_value)?;
    }
    let day = |s: &str, field: &'static str| -> Result<Option<NaiveDate>> {
        match s.trim() {
            "" => Ok(None),
            d => Ok(Some(
                validate::date(d).map_err(|code| validate::invalid(field, code))?,
            )),
        }
    };
    if let Some(d) = day(&f.created_from, "created_from")? {
        q = q.filter(followers::created_at.ge(d.and_time(chrono::NaiveTime::MIN)));
    }
    if let Some(d) = day(&f.created_to, "created_to")? {
        let end = d.succ_opt().unwrap_or(d).and_time(chrono::NaiveTime::MIN);
        q = q.filter(followers::created_at.lt(end));
    }
    if let Some(d) = day(&f.followed_from, "followed_from")? {
        q = q.filter(followers::subscribed_at.ge(d.and_time(chrono::NaiveTime::MIN)));
    }
    if let Some(days) = f.active_days.filter(|d| *d > 0) {
        q = q.filter(followers::last_interaction_at.ge(active_since(days)?));
    }
    Ok(q)
}

/// The longest "active in the last N days" a filter takes: a hundred years.
pub const MAX_ACTIVE_DAYS: i64 = 36_500;

/// The start of "the last `days` days"; more than [`MAX_ACTIVE_DAYS`] is an invalid field
/// (a span that large would overflow the clock's arithmetic).
fn active_since(days: i64) -> Result<NaiveDateTime> {
    chrono::TimeDelta::try_days(days)
        .filter(|_| days <= MAX_ACTIVE_DAYS)
        .and_then(|d| now().checked_sub_signed(d))
        .ok_or_else(|| validate::invalid("active_days", "invalid_days").into())
}

fn attribute_filter(
    conn: &mut DbConn,
    scope: &TenantScope,
    q: Boxed,
    attr: i64,
    op: &str,
    value: &str,
) -> Result<Boxed> {
    use crate::schema::follower_attributes as fa;
    use patron_domain::attributes::{Kind, Op, Value};
    let def = crate::attributes::get(conn, scope, attr)?;
    let op = Op::parse(op).ok_or(validate::invalid("attr_op", "invalid_op"))?;
    let tenant = scope.tenant_id().0;
    // Boxed subqueries do not compile through the MultiConnection backend, so each case
    // spells its own (unboxed) subquery.
    macro_rules! having {
        ($($cond:expr),*) => {
            q.filter(followers::id.eq_any(
                fa::table
                    .filter(fa::attribute_id.eq(attr))
                    .filter(fa::tenant_id.eq(tenant))
                    $(.filter($cond))*
                    .select(fa::follower_id),
            ))
        };
    }
    Ok(match op {
        Op::Set => having!(),
        Op::Unset => q.filter(
            followers::id.ne_all(
                fa::table
                    .filter(fa::attribute_id.eq(attr))
                    .filter(fa::tenant_id.eq(tenant))
                    .select(fa::follower_id),
            ),
        ),
        Op::Eq | Op::Lt | Op::Gt => {
            let v = Value::parse(def.kind(), value)?
                .ok_or(validate::invalid("attr_value", "required"))?;
            if def.kind() == Kind::Bool && op != Op::Eq {
                return Err(validate::invalid("attr_op", "invalid_op").into());
            }
            match (v.columns(), op) {
                ((_, Some(n)), Op::Eq) => having!(fa::num_value.eq(n)),
                ((_, Some(n)), Op::Lt) => having!(fa::num_value.lt(n)),
                ((_, Some(n)), _) => having!(fa::num_value.gt(n)),
                ((Some(t), _), Op::Eq) => having!(fa::text_value.eq(t)),
                ((Some(t), _), Op::Lt) => having!(fa::text_value.lt(t)),
                ((Some(t), _), _) => having!(fa::text_value.gt(t)),
                ((None, None), _) => having!(),
            }
        }
    })
}

/// One page of followers, newest first, and whether there are more.
pub fn list(conn: &mut DbConn, scope: &TenantScope, f: &Filter) -> Result<(Vec<Follower>, bool)> {
    list_page(conn, scope, f, PAGE)
}

/// Like [`list`] with a chosen page size (exports read in larger batches).
pub fn list_page(
    conn: &mut DbConn,
    scope: &TenantScope,
    f: &Filter,
    page: i64,
) -> Result<(Vec<Follower>, bool)> {
    let mut rows: Vec<Follower> = if f.q.trim().is_empty() {
        page_below(conn, scope, f, f.before, page + 1)?
    } else {
        search_page(conn, scope, f, page + 1)?
    };
    let more = rows.len() as i64 > page;
    rows.truncate(page as usize);
    Ok((rows, more))
}

fn page_below(
    conn: &mut DbConn,
    scope: &TenantScope,
    f: &Filter,
    before: Option<i64>,
    n: i64,
) -> Result<Vec<Follower>> {
    if let Some(days) = f.active_days.filter(|d| *d > 0) {
        if matches!(conn, DbConn::Sqlite(_)) {
            return active_page_below(conn, scope, f, days, before, n);
        }
    }
    newest(conn, scope, f, before, n)
}

/// The newest `n` matches with an id below `before`, walking the ids.
fn newest(
    conn: &mut DbConn,
    scope: &TenantScope,
    f: &Filter,
    before: Option<i64>,
    n: i64,
) -> Result<Vec<Follower>> {
    let mut q = filtered(conn, scope, f)?;
    if let Some(before) = before {
        q = q.filter(followers::id.lt(before));
    }
    Ok(q.order(followers::id.desc())
        .limit(n)
        .select(Follower::as_select())
        .load(conn)?)
}

/// The day a last activity falls on, as SQLite's `followers_active_day` index keys it
/// (`YYYY-MM-DD`, UTC: the text form diesel stores timestamps in begins with it).
const ACTIVE_DAY: &str = "substr(followers.last_interaction_at, 1, 10)";

/// Most days of activity a "last active" page merges on SQLite; a longer span walks ids.
pub const ACTIVE_DAYS_MERGED: i64 = 400;

/// The "last active" filter on SQLite, whose planner can only range over last activity
/// and sort every match (300,000 of a million followers for "30 days": 130–190 ms) or
/// walk the ids and test each (as slow when the active followers are not the newest;
/// docs/benchmarks.md, followers). The `followers_active_day` index keeps each day's
/// followers in id order, so the page takes the newest `n` ids of every day in the span
/// (fewer as the page fills: only ids above the `n`th best so far) and keeps the newest
/// `n` of them. A day costs one short index range, whatever the spread of its followers
/// among the ids. PostgreSQL's statistics choose between its two plans well enough.
fn active_page_below(
    conn: &mut DbConn,
    scope: &TenantScope,
    f: &Filter,
    days: i64,
    before: Option<i64>,
    n: i64,
) -> Result<Vec<Follower>> {
    use diesel::dsl::{max, min, sql};
    let since = active_since(days)?;
    let tenant = scope.tenant_id().0;
    // The first and last day holding any activity (each one end of an index).
    let ends = followers::table.filter(followers::tenant_id.eq(tenant));
    let first: Option<NaiveDateTime> = ends
        .select(min(followers::last_interaction_at))
        .get_result(conn)?;
    let last: Option<NaiveDateTime> = ends
        .select(max(followers::last_interaction_at))
        .get_result(conn)?;
    let (Some(first), Some(last)) = (first.map(|t| t.date()), last.map(|t| t.date())) else {
        return Ok(Vec::new());
    };
    let first = first.max(since.date());
    if last < first {
        return Ok(Vec::new());
    }
    if (last - first).num_days() >= ACTIVE_DAYS_MERGED {
        return newest(conn, scope, f, before, n);
    }
    // The other filters, for each day; last activity is the day (and, on the first day,
    // the time it starts at).
    let rest = Filter {
        active_days: None,
        before: None,
        ..f.clone()
    };
    let mut ids: Vec<i64> = Vec::with_capacity(2 * n as usize);
    for day in first.iter_days().take_while(|d| *d <= last) {
        let mut q = filtered(conn, scope, &rest)?.filter(
            sql::<diesel::sql_types::Text>(ACTIVE_DAY).eq(day.format("%Y-%m-%d").to_string()),
        );
        if day == since.date() {
            q = q.filter(followers::last_interaction_at.ge(since));
        }
        if let Some(before) = before {
            q = q.filter(followers::id.lt(before));
        }
        if ids.len() as i64 == n {
            // Full: only ids newer than the page's oldest can still make it.
            q = q.filter(followers::id.gt(ids[ids.len() - 1]));
        }
        let got: Vec<i64> = q
            .order(followers::id.desc())
            .limit(n)
            .select(followers::id)
            .load(conn)?;
        ids.extend(got);
        ids.sort_unstable_by(|a, b| b.cmp(a));
        ids.truncate(n as usize);
    }
    rows_of(conn, tenant, &ids)
}

/// The tenant's followers with these ids, newest first (a page whose ids were found
/// from an index alone).
fn rows_of(conn: &mut DbConn, tenant: i64, ids: &[i64]) -> Result<Vec<Follower>> {
    Ok(followers::table
        .filter(followers::tenant_id.eq(tenant))
        .filter(followers::id.eq_any(ids))
        .order(followers::id.desc())
        .select(Follower::as_select())
        .load(conn)?)
}

/// A search by text alone (no other filter, not an exact OpenID), where text compares in
/// code-point order: the ids come from one index-only range scan per column, merged
/// (`UNION`) and cut to the page, and only that page's rows are read. A common prefix
/// matching a hundred thousand followers costs a sort of their ids, not of their rows.
fn search_page(
    conn: &mut DbConn,
    scope: &TenantScope,
    f: &Filter,
    n: i64,
) -> Result<Vec<Follower>> {
    let term = f.q.trim();
    let only_text = {
        let mut g = f.clone();
        g.q.clear();
        g.before = None;
        g.segment = None;
        g.query().is_empty()
    };
    let exact_openid = followers::table
        .filter(followers::tenant_id.eq(scope.tenant_id().0))
        .filter(followers::openid.eq(term))
        .select(followers::id)
        .first::<i64>(conn)
        .optional()?
        .is_some();
    if !only_text || exact_openid || !bytewise_collation(conn) {
        return page_below(conn, scope, f, f.before, n);
    }
    #[derive(QueryableByName)]
    struct Id {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        id: i64,
    }
    let tenant = scope.tenant_id().0;
    let (lo, hi) = (term.to_string(), format!("{term}\u{10FFFF}"));
    let before = f.before.unwrap_or(i64::MAX);
    let arm = |col: &str, p: &dyn Fn(usize) -> String| {
        format!(
            "SELECT id FROM followers WHERE tenant_id = {} AND {col} >= {} AND {col} < {} AND id < {}",
            p(1),
            p(2),
            p(3),
            p(4)
        )
    };
    let sql = |p: &dyn Fn(usize) -> String| {
        format!(
            "SELECT id FROM ({}) AS m ORDER BY id DESC LIMIT {}",
            ["name", "phone", "email", "remark"]
                .map(|c| arm(c, p))
                .join(" UNION "),
            p(5)
        )
    };
    let ids: Vec<i64> = match conn {
        DbConn::Postgres(pg) => diesel::sql_query(sql(&|i| format!("${i}")))
            .bind::<diesel::sql_types::BigInt, _>(tenant)
            .bind::<diesel::sql_types::Text, _>(&lo)
            .bind::<diesel::sql_types::Text, _>(&hi)
            .bind::<diesel::sql_types::BigInt, _>(before)
            .bind::<diesel::sql_types::BigInt, _>(n)
            .load::<Id>(pg)?,
        DbConn::Sqlite(lite) => diesel::sql_query(sql(&|i| format!("?{i}")))
            .bind::<diesel::sql_types::BigInt, _>(tenant)
            .bind::<diesel::sql_types::Text, _>(&lo)
            .bind::<diesel::sql_types::Text, _>(&hi)
            .bind::<diesel::sql_types::BigInt, _>(before)
            .bind::<diesel::sql_types::BigInt, _>(n)
            .load::<Id>(lite)?,
    }
    .into_iter()
    .map(|r| r.id)
    .collect();
    rows_of(conn, tenant, &ids)
}

/// The ids of a batch of matching followers below `before`, newest first: bulk work walks
/// a whole filter result with these, never holding it all.
pub fn ids_page(
    conn: &mut DbConn,
    scope: &TenantScope,
    f: &Filter,
    before: Option<i64>,
    page: i64,
) -> Result<Vec<i64>> {
    let mut q = filtered(conn, scope, f)?;
    if let Some(before) = before {
        q = q.filter(followers::id.lt(before));
    }
    Ok(q.order(followers::id.desc())
        .limit(page)
        .select(followers::id)
        .load(conn)?)
}

/// [`ids_page`] with each follower's OpenID: a broadcast's audience, walked in batches.
pub fn openids_page(
    conn: &mut DbConn,
    scope: &TenantScope,
    f: &Filter,
    before: Option<i64>,
    page: i64,
) -> Result<Vec<(i64, String)>> {
    let mut q = filtered(conn, scope, f)?;
    if let Some(before) = before {
        q = q.filter(followers::id.lt(before));
    }
    Ok(q.order(followers::id.desc())
        .limit(page)
        .select((followers::id, followers::openid))
        .load(conn)?)
}

/// Which of `openids` are followers of the tenant who follow now (an uploaded list is
/// sent only to them).
pub fn following_among(
    conn: &mut DbConn,
    scope: &TenantScope,
    openids: &[String],
) -> Result<std::collections::HashSet<String>> {
    let mut out = std::collections::HashSet::new();
    for chunk in openids.chunks(500) {
        let found: Vec<String> = followers::table
            .filter(followers::tenant_id.eq(scope.tenant_id().0))
            .filter(followers::openid.eq_any(chunk))
            .filter(followers::subscribed.eq(true))
            .select(followers::openid)
            .load(conn)?;
        out.extend(found);
    }
    Ok(out)
}

/// The ids of those of `openids` who follow now (a coupon offer issues to them).
pub fn following_ids(
    conn: &mut DbConn,
    scope: &TenantScope,
    openids: &[String],
) -> Result<Vec<i64>> {
    let mut out = Vec::with_capacity(openids.len());
    for chunk in openids.chunks(500) {
        let found: Vec<i64> = followers::table
            .filter(followers::tenant_id.eq(scope.tenant_id().0))
            .filter(followers::openid.eq_any(chunk))
            .filter(followers::subscribed.eq(true))
            .select(followers::id)
            .load(conn)?;
        out.extend(found);
    }
    Ok(out)
}

/// How many followers match, counting at most `cap` (then `(cap, true)`).
pub fn count_matching_capped(
    conn: &mut DbConn,
    scope: &TenantScope,
    f: &Filter,
    cap: i64,
) -> Result<(i64, bool)> {
    let ids: Vec<i64> = filtered(conn, scope, f)?
        .select(followers::id)
        .limit(cap + 1)
        .load(conn)?;
    let n = ids.len() as i64;
    Ok((n.min(cap), n > cap))
}

/// How many followers match.
pub fn count_matching(conn: &mut DbConn, scope: &TenantScope, f: &Filter) -> Result<i64> {
    Ok(filtered(conn, scope, f)?.count().get_result(conn)?)
}

/// The tenant's (all, following) follower counts, kept by database triggers on every
/// insert, delete and change of subscription (migrations 9 and 12), so reading them is a
/// few rows: one per stripe the tenant's writers used.
pub fn count(conn: &mut DbConn, scope: &TenantScope) -> Result<(i64, i64)> {
    use crate::schema::follower_counts as fc;
    Ok(fc::table
        .filter(fc::tenant_id.eq(scope.tenant_id().0))
        .select((fc::total, fc::subscribed))
        .load::<(i64, i64)>(conn)?
        .into_iter()
        .fold((0, 0), |(t, s), (dt, ds)| (t + dt, s + ds)))
}

/// A count that stopped at a cap: `more` when there were more.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Capped {
    pub count: i64,
    pub more: bool,
}

/// Shown as the count, with `+` when there were more.
impl std::fmt::Display for Capped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}{}", self.count, if self.more { "+" } else { "" })
    }
}

/// Followers at a glance (the dashboard, `GET /api/v1/followers/summary`).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Glance {
    pub total: i64,
    pub following: i64,
    /// Active in the last 7 × 24 hours (the followers filter's "active in 7 days").
    pub active_7_days: Capped,
    /// Followed in the last 7 days (WeChat's subscribe time: imported or synced history
    /// does not count).
    pub new_7_days: Capped,
    /// The first of those 7 days (UTC, `YYYY-MM-DD`).
    pub since: String,
}

/// The kept counts and two counts capped at `cap` over indexed columns (last activity,
/// creation), so a tenant with a million followers is summed up quickly.
pub fn glance(
    conn: &mut DbConn,
    scope: &TenantScope,
    today: NaiveDate,
    cap: i64,
) -> Result<Glance> {
    let (total, following) = count(conn, scope)?;
    let capped = |(count, more): (i64, bool)| Capped { count, more };
    let week = Filter {
        active_days: Some(7),
        ..Default::default()
    };
    let active_7_days = capped(count_matching_capped(conn, scope, &week, cap)?);
    let since = (today - chrono::Days::new(6))
        .format("%Y-%m-%d")
        .to_string();
    let joined = Filter {
        followed_from: since.clone(),
        ..Default::default()
    };
    let new_7_days = capped(count_matching_capped(conn, scope, &joined, cap)?);
    Ok(Glance {
        total,
        following,
        active_7_days,
        new_7_days,
        since,
    })
}

/// Counts by scanning the followers (what the triggers must agree with; for tests and
/// repairs).
pub fn count_by_scan(conn: &mut DbConn, scope: &TenantScope) -> Result<(i64, i64)> {
    let all: i64 = followers::table
        .filter(followers::tenant_id.eq(scope.tenant_id().0))
        .count()
        .get_result(conn)?;
    let subscribed: i64 = followers::table
        .filter(followers::tenant_id.eq(scope.tenant_id().0))
        .filter(followers::subscribed.eq(true))
        .count()
        .get_result(conn)?;
    Ok((all, subscribed))
}

/// The id of the tenant's follower with this OpenID.
pub fn id_of_openid(conn: &mut DbConn, scope: &TenantScope, openid: &str) -> Result<i64> {
    Ok(followers::table
        .filter(followers::tenant_id.eq(scope.tenant_id().0))
        .filter(followers::openid.eq(openid))
        .select(followers::id)
        .first(conn)?)
}

pub fn get(conn: &mut DbConn, scope: &TenantScope, id: i64) -> Result<Follower> {
    Ok(followers::table
        .filter(followers::id.eq(id))
        .filter(followers::tenant_id.eq(scope.tenant_id().0))
        .select(Follower::as_select())
        .first(conn)?)
}

/// What merchants fill in about a follower.
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct Profile {
    pub name: String,
    pub phone: String,
    pub email: String,
    /// `YYYY-MM-DD` or empty.
    pub birthday: String,
    pub remark: String,
    /// The follower agreed to receive email from the merchant (`None`: unchanged). Without
    /// an email address there is no consent.
    pub email_consent: Option<bool>,
}

pub fn update_profile(
    conn: &mut DbConn,
    scope: &TenantScope,
    id: i64,
    p: &Profile,
) -> Result<Follower> {
    let opt = |s: &str| {
        let s = s.trim();
        (!s.is_empty()).then(|| s.to_string())
    };
    let email = match opt(&p.email) {
        Some(e) => Some(validate::email(&e)?),
        None => None,
    };
    let birthday = match opt(&p.birthday) {
        Some(b) => Some(validate::date(&b).map_err(|code| validate::invalid("birthday", code))?),
        None => None,
    };
    for (field, v) in [
        ("name", &p.name),
        ("phone", &p.phone),
        ("remark", &p.remark),
    ] {
        if v.chars().count() > 500 {
            return Err(validate::invalid(field, "too_long").into());
        }
    }
    let n = diesel::update(
        followers::table
            .filter(followers::id.eq(id))
            .filter(followers::tenant_id.eq(scope.tenant_id().0)),
    )
    .set((
        followers::name.eq(opt(&p.name)),
        followers::phone.eq(opt(&p.phone)),
        followers::email.eq(email),
        followers::birthday.eq(birthday),
        followers::remark.eq(opt(&p.remark)),
        followers::updated_at.eq(now()),
    ))
    .execute(conn)?;
    if n == 0 {
        return Err(StoreError::NotFound);
    }
    let before = get(conn, scope, id)?;
    let consent = match (&before.email, p.email_consent) {
        (None, _) | (Some(_), Some(false)) => Some(None),
        // Consent keeps the time it was first recorded.
        (Some(_), Some(true)) if before.email_consent_at.is_none() => Some(Some(now())),
        _ => None,
    };
    if let Some(at) = consent {
        diesel::update(followers::table.find(id))
            .set((
                followers::email_consent_at.eq(at),
                followers::email_consent_source.eq(at.map(|_| "profile")),
            ))
            .execute(conn)?;
        return get(conn, scope, id);
    }
    Ok(before)
}

/// Records that the follower no longer wants email (the signed link in every email);
/// false if they had no consent left to withdraw.
pub fn unsubscribe_email(conn: &mut DbConn, scope: &TenantScope, id: i64) -> Result<bool> {
    let t = now();
    let n = diesel::update(
        followers::table
            .filter(followers::id.eq(id))
            .filter(followers::tenant_id.eq(scope.tenant_id().0))
            .filter(followers::email_consent_at.is_not_null()),
    )
    .set((
        followers::email_consent_at.eq(None::<NaiveDateTime>),
        followers::email_consent_source.eq(None::<String>),
        followers::email_unsubscribed_at.eq(Some(t)),
        followers::updated_at.eq(t),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

/// Of `ids`, the followers with an email address and consent to email: (id, address).
pub fn emailable(
    conn: &mut DbConn,
    scope: &TenantScope,
    ids: &[i64],
) -> Result<Vec<(i64, String)>> {
    let mut out = Vec::new();
    for chunk in ids.chunks(5_000) {
        let found: Vec<(i64, Option<String>)> = followers::table
            .filter(followers::tenant_id.eq(scope.tenant_id().0))
            .filter(followers::id.eq_any(chunk))
            .filter(followers::email.is_not_null())
            .filter(followers::email_consent_at.is_not_null())
            .select((followers::id, followers::email))
            .load(conn)?;
        out.extend(found.into_iter().filter_map(|(id, e)| e.map(|e| (id, e))));
    }
    Ok(out)
}

#[derive(Debug, Clone, Queryable, Selectable, Serialize, utoipa::ToSchema)]
#[diesel(table_name = messages)]
pub struct ArchivedMessage {
    pub id: i64,
    pub direction: String,
    pub msg_type: String,
    pub event: Option<String>,
    pub content: Option<String>,
    pub body: String,
    pub reply: Option<String>,
    pub sent_at: NaiveDateTime,
    pub received_at: NaiveDateTime,
}

/// A page of the follower's timeline, newest first, and whether there is more.
pub fn timeline(
    conn: &mut DbConn,
    scope: &TenantScope,
    follower: i64,
    before: Option<i64>,
) -> Result<(Vec<ArchivedMessage>, bool)> {
    let mut q = messages::table
        .filter(messages::tenant_id.eq(scope.tenant_id().0))
        .filter(messages::follower_id.eq(follower))
        .into_boxed();
    if let Some(b) = before {
        q = q.filter(messages::id.lt(b));
    }
    let mut rows: Vec<ArchivedMessage> = q
        .order(messages::id.desc())
        .limit(PAGE + 1)
        .select(ArchivedMessage::as_select())
        .load(conn)?;
    let more = rows.len() as i64 > PAGE;
    rows.truncate(PAGE as usize);
    Ok((rows, more))
}

#[derive(Debug, Clone, Queryable, Selectable, Serialize, utoipa::ToSchema)]
#[diesel(table_name = crate::schema::follower_notes)]
pub struct Note {
    pub id: i64,
    pub author_id: Option<i64>,
    pub author_name: String,
    pub body: String,
    pub created_at: NaiveDateTime,
}

pub const MAX_NOTE_CHARS: usize = 2000;

/// Adds a note to a follower of this tenant; `author` is who wrote it (a user, or the
/// token's name for the API).
pub fn add_note(
    conn: &mut DbConn,
    scope: &TenantScope,
    follower: i64,
    author: (Option<i64>, &str),
    body: &str,
) -> Result<Note> {
    use crate::schema::follower_notes as n;
    let body = body.trim();
    if body.is_empty() {
        return Err(validate::invalid("note", "required").into());
    }
    if body.chars().count() > MAX_NOTE_CHARS {
        return Err(validate::invalid("note", "too_long").into());
    }
    get(conn, scope, follower)?;
    let id: i64 = diesel::insert_into(n::table)
        .values((
            n::tenant_id.eq(scope.tenant_id().0),
            n::follower_id.eq(follower),
            n::author_id.eq(author.0),
            n::author_name.eq(author.1),
            n::body.eq(body),
            n::created_at.eq(now()),
        ))
        .returning(n::id)
        .get_result(conn)?;
    Ok(n::table.find(id).select(Note::as_select()).first(conn)?)
}

/// A follower's notes, newest first.
pub fn notes(conn: &mut DbConn, scope: &TenantScope, follower: i64) -> Result<Vec<Note>> {
    use crate::schema::follower_notes as n;
    Ok(n::table
        .filter(n::tenant_id.eq(scope.tenant_id().0))
        .filter(n::follower_id.eq(follower))
        .order(n::id.desc())
        .limit(200)
        .select(Note::as_select())
        .load(conn)?)
}
