//! Installation-wide key/value settings (not tenant-owned), such as the first-run token.

use crate::schema::app_settings::dsl as s;
use crate::{now, DbConn, Result};
use diesel::prelude::*;

pub fn get(conn: &mut DbConn, key: &str) -> Result<Option<String>> {
    Ok(s::app_settings
        .filter(s::key.eq(key))
        .select(s::value)
        .first(conn)
        .optional()?)
}

pub fn set(conn: &mut DbConn, key: &str, value: &str) -> Result<()> {
    let t = now();
    let n = diesel::update(s::app_settings.filter(s::key.eq(key)))
        .set((s::value.eq(value), s::updated_at.eq(t)))
        .execute(conn)?;
    if n == 0 {
        diesel::insert_into(s::app_settings)
            .values((s::key.eq(key), s::value.eq(value), s::updated_at.eq(t)))
            .execute(conn)?;
    }
    Ok(())
}

pub fn delete(conn: &mut DbConn, key: &str) -> Result<()> {
    diesel::delete(s::app_settings.filter(s::key.eq(key))).execute(conn)?;
    Ok(())
}
