//! Typed custom attributes: the tenant's definitions and each follower's values.

use crate::schema::{attributes as a, follower_attributes as fa, followers};
use crate::{now, write_tx, DbConn, Result, StoreError};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use patron_domain::attributes::{self as rules, Kind, Value};
use patron_domain::follower_csv::AttrDef;
use patron_domain::{validate, TenantScope};
use serde::Serialize;
use std::collections::HashMap;

#[derive(Debug, Clone, Queryable, Selectable, Serialize, utoipa::ToSchema)]
#[diesel(table_name = a)]
pub struct Attribute {
    pub id: i64,
    pub tenant_id: i64,
    pub key: String,
    pub label: String,
    pub kind: String,
    pub created_at: NaiveDateTime,
}

impl Attribute {
    pub fn kind(&self) -> Kind {
        Kind::parse(&self.kind).unwrap_or(Kind::Text)
    }
    pub fn def(&self) -> AttrDef {
        AttrDef {
            id: self.id,
            key: self.key.clone(),
            kind: self.kind(),
        }
    }
}

/// A tenant has at most this many attributes (each is a CSV column and a form field).
pub const MAX_PER_TENANT: i64 = 50;

pub fn create(
    conn: &mut DbConn,
    scope: &TenantScope,
    key: &str,
    label: &str,
    kind: &str,
) -> Result<Attribute> {
    let key = rules::key(key)?;
    let label = validate::name("label", label)?;
    let kind = Kind::parse(kind)?;
    write_tx(conn, |c| {
        let n: i64 = a::table
            .filter(a::tenant_id.eq(scope.tenant_id().0))
            .count()
            .get_result(c)?;
        if n >= MAX_PER_TENANT {
            return Err(validate::invalid("key", "too_many_attributes").into());
        }
        let id: i64 = diesel::insert_into(a::table)
            .values((
                a::tenant_id.eq(scope.tenant_id().0),
                a::key.eq(&key),
                a::label.eq(&label),
                a::kind.eq(kind.as_str()),
                a::created_at.eq(now()),
            ))
            .returning(a::id)
            .get_result(c)
            .map_err(|e| StoreError::from(e).conflict_as("attribute_taken"))?;
        get(c, scope, id)
    })
}

pub fn get(conn: &mut DbConn, scope: &TenantScope, id: i64) -> Result<Attribute> {
    Ok(a::table
        .filter(a::id.eq(id))
        .filter(a::tenant_id.eq(scope.tenant_id().0))
        .select(Attribute::as_select())
        .first(conn)?)
}

pub fn list(conn: &mut DbConn, scope: &TenantScope) -> Result<Vec<Attribute>> {
    Ok(a::table
        .filter(a::tenant_id.eq(scope.tenant_id().0))
        .order(a::id.asc())
        .select(Attribute::as_select())
        .load(conn)?)
}

/// Deletes the attribute and every follower's value of it.
pub fn delete(conn: &mut DbConn, scope: &TenantScope, id: i64) -> Result<()> {
    write_tx(conn, |c| {
        get(c, scope, id)?;
        let tenant = scope.tenant_id().0;
        diesel::delete(
            fa::table
                .filter(fa::tenant_id.eq(tenant))
                .filter(fa::attribute_id.eq(id)),
        )
        .execute(c)?;
        diesel::delete(
            a::table
                .filter(a::tenant_id.eq(tenant))
                .filter(a::id.eq(id)),
        )
        .execute(c)?;
        Ok(())
    })
}

/// The followers' values: follower id → (attribute id, value).
pub fn values_of(
    conn: &mut DbConn,
    scope: &TenantScope,
    follower_ids: &[i64],
) -> Result<HashMap<i64, Vec<(i64, Value)>>> {
    let defs = list(conn, scope)?;
    values_with(conn, scope, &defs, follower_ids)
}

/// Like [`values_of`] with the definitions already at hand.
pub fn values_with(
    conn: &mut DbConn,
    scope: &TenantScope,
    defs: &[Attribute],
    follower_ids: &[i64],
) -> Result<HashMap<i64, Vec<(i64, Value)>>> {
    let defs: HashMap<i64, Kind> = defs.iter().map(|d| (d.id, d.kind())).collect();
    let rows: Vec<(i64, i64, Option<String>, Option<f64>)> = fa::table
        .filter(fa::tenant_id.eq(scope.tenant_id().0))
        .filter(fa::follower_id.eq_any(follower_ids))
        .select((
            fa::follower_id,
            fa::attribute_id,
            fa::text_value,
            fa::num_value,
        ))
        .load(conn)?;
    let mut out: HashMap<i64, Vec<(i64, Value)>> = HashMap::new();
    for (f, attr, t, n) in rows {
        let Some(kind) = defs.get(&attr) else {
            continue;
        };
        if let Some(v) = Value::from_columns(*kind, t.as_deref(), n) {
            out.entry(f).or_default().push((attr, v));
        }
    }
    Ok(out)
}

/// Sets (or with `None` clears) one value; the caller has checked the follower's tenant.
pub fn put(
    conn: &mut DbConn,
    scope: &TenantScope,
    follower_id: i64,
    attribute_id: i64,
    value: Option<&Value>,
) -> Result<()> {
    diesel::delete(
        fa::table
            .filter(fa::tenant_id.eq(scope.tenant_id().0))
            .filter(fa::follower_id.eq(follower_id))
            .filter(fa::attribute_id.eq(attribute_id)),
    )
    .execute(conn)?;
    if let Some(v) = value {
        let (text, num) = v.columns();
        diesel::insert_into(fa::table)
            .values((
                fa::tenant_id.eq(scope.tenant_id().0),
                fa::follower_id.eq(follower_id),
                fa::attribute_id.eq(attribute_id),
                fa::text_value.eq(text),
                fa::num_value.eq(num),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Sets a follower's values from text (a form or the API): every attribute named in
/// `input` by key; empty text clears. All or nothing.
pub fn set_from_text(
    conn: &mut DbConn,
    scope: &TenantScope,
    follower_id: i64,
    input: &[(String, String)],
) -> Result<()> {
    let defs = list(conn, scope)?;
    let mut parsed = Vec::new();
    for (k, v) in input {
        let d = defs
            .iter()
            .find(|d| &d.key == k)
            .ok_or(validate::invalid("key", "unknown_attribute"))?;
        let v = Value::parse(d.kind(), v)?;
        parsed.push((d.id, v));
    }
    write_tx(conn, |c| {
        followers::table
            .filter(followers::id.eq(follower_id))
            .filter(followers::tenant_id.eq(scope.tenant_id().0))
            .select(followers::id)
            .first::<i64>(c)?;
        for (id, v) in &parsed {
            put(c, scope, follower_id, *id, v.as_ref())?;
        }
        Ok(())
    })
}
