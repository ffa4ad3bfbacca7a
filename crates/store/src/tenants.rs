//! Agencies and tenants (merchant accounts) with their WeChat OA connection.

use crate::schema::{agencies, tenants};
use crate::{now, DbConn, Result, SecretBox, StoreError};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use patron_domain::validate::{self, Invalid};
use patron_domain::wechat_settings::{self as wx, AccountKind, MessageMode};
use patron_domain::{AgencyId, AgencyScope, Principal, TenantId, TenantRef, TenantScope};
use serde::Serialize;

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = agencies)]
pub struct Agency {
    pub id: i64,
    pub name: String,
    pub created_at: NaiveDateTime,
}

pub fn create_agency(conn: &mut DbConn, name: &str) -> Result<Agency> {
    let name = validate::name("agency_name", name)?;
    let created_at = now();
    let id = diesel::insert_into(agencies::table)
        .values((
            agencies::name.eq(&name),
            agencies::created_at.eq(created_at),
        ))
        .returning(agencies::id)
        .get_result(conn)?;
    Ok(Agency {
        id,
        name,
        created_at,
    })
}

pub fn rename_agency(conn: &mut DbConn, scope: &AgencyScope, name: &str) -> Result<Agency> {
    let name = validate::name("agency_name", name)?;
    diesel::update(agencies::table.find(scope.agency_id().0))
        .set(agencies::name.eq(&name))
        .execute(conn)?;
    agency(conn, scope.agency_id())
}

pub fn agency(conn: &mut DbConn, id: AgencyId) -> Result<Agency> {
    Ok(agencies::table
        .find(id.0)
        .select(Agency::as_select())
        .first(conn)?)
}

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = tenants)]
pub struct Tenant {
    pub id: i64,
    pub agency_id: i64,
    pub name: String,
    pub slug: String,
    pub time_zone: String,
    pub wx_appid: Option<String>,
    pub wx_original_id: Option<String>,
    #[serde(skip)]
    pub wx_token_enc: Option<String>,
    #[serde(skip)]
    pub wx_aes_key_enc: Option<String>,
    #[serde(skip)]
    pub wx_prev_aes_key_enc: Option<String>,
    #[serde(skip)]
    pub wx_app_secret_enc: Option<String>,
    pub wx_message_mode: String,
    pub wx_account_kind: String,
    pub wx_api_base: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl Tenant {
    pub fn id(&self) -> TenantId {
        TenantId(self.id)
    }
    pub fn tenant_ref(&self) -> TenantRef {
        TenantRef {
            id: TenantId(self.id),
            agency_id: AgencyId(self.agency_id),
        }
    }
    /// Which secrets are set, without revealing them.
    pub fn has_secret(&self) -> SecretPresence {
        SecretPresence {
            token: self.wx_token_enc.is_some(),
            aes_key: self.wx_aes_key_enc.is_some(),
            prev_aes_key: self.wx_prev_aes_key_enc.is_some(),
            app_secret: self.wx_app_secret_enc.is_some(),
        }
    }
    /// Decrypts the WeChat secrets (for the webhook and API client).
    pub fn wechat_secrets(&self, sb: &SecretBox) -> Result<WechatSecrets> {
        let open = |col: &str, v: &Option<String>| -> Result<Option<String>> {
            v.as_deref().map(|s| sb.decrypt(col, s)).transpose()
        };
        Ok(WechatSecrets {
            token: open(COL_TOKEN, &self.wx_token_enc)?,
            aes_key: open(COL_AES, &self.wx_aes_key_enc)?,
            prev_aes_key: open(COL_PREV_AES, &self.wx_prev_aes_key_enc)?,
            app_secret: open(COL_SECRET, &self.wx_app_secret_enc)?,
        })
    }
}

#[derive(Debug, Clone, Copy, Serialize, utoipa::ToSchema)]
pub struct SecretPresence {
    pub token: bool,
    pub aes_key: bool,
    pub prev_aes_key: bool,
    pub app_secret: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WechatSecrets {
    pub token: Option<String>,
    pub aes_key: Option<String>,
    pub prev_aes_key: Option<String>,
    pub app_secret: Option<String>,
}

const COL_TOKEN: &str = "tenants.wx_token";
const COL_AES: &str = "tenants.wx_aes_key";
const COL_PREV_AES: &str = "tenants.wx_prev_aes_key";
const COL_SECRET: &str = "tenants.wx_app_secret";

/// Tenant fields as typed by a person or script. Blank secret fields mean "keep".
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct TenantInput {
    pub name: String,
    pub slug: String,
    pub time_zone: String,
    pub wx_appid: String,
    pub wx_original_id: String,
    pub wx_token: String,
    pub wx_aes_key: String,
    pub wx_app_secret: String,
    pub wx_message_mode: String,
    pub wx_account_kind: String,
    pub wx_api_base: String,
}

/// A [`TenantInput`] that passed every rule.
#[derive(Debug, Clone)]
pub struct ValidTenant {
    name: String,
    slug: String,
    time_zone: String,
    appid: Option<String>,
    original_id: Option<String>,
    token: Option<String>,
    aes_key: Option<String>,
    app_secret: Option<String>,
    message_mode: MessageMode,
    account_kind: AccountKind,
    /// `None`: keep the current base (a new tenant gets WeChat's).
    api_base: Option<String>,
}

impl ValidTenant {
    /// The OA API base URL this input asks for, if it names one.
    pub fn api_base(&self) -> Option<&str> {
        self.api_base.as_deref()
    }
    /// Whether this input supplies a new AppSecret.
    pub fn sets_app_secret(&self) -> bool {
        self.app_secret.is_some()
    }
}

fn optional<T>(
    s: &str,
    errs: &mut Vec<Invalid>,
    f: impl FnOnce(&str) -> std::result::Result<T, Invalid>,
) -> Option<T> {
    if s.trim().is_empty() {
        return None;
    }
    f(s).map_err(|e| errs.push(e)).ok()
}

/// Checks every field and reports every problem at once (for forms).
pub fn validate(input: &TenantInput) -> std::result::Result<ValidTenant, Vec<Invalid>> {
    let mut errs = Vec::new();
    let name = validate::name("name", &input.name)
        .map_err(|e| errs.push(e))
        .ok();
    let slug = validate::slug(&input.slug).map_err(|e| errs.push(e)).ok();
    let tz = validate::time_zone(&input.time_zone)
        .map_err(|e| errs.push(e))
        .ok();
    let appid = optional(&input.wx_appid, &mut errs, wx::appid);
    let original_id = optional(&input.wx_original_id, &mut errs, wx::original_id);
    let token = optional(&input.wx_token, &mut errs, wx::token);
    let aes_key = optional(&input.wx_aes_key, &mut errs, |s| {
        wx::encoding_aes_key("wx_aes_key", s)
    });
    let app_secret = optional(&input.wx_app_secret, &mut errs, wx::app_secret);
    let message_mode = if input.wx_message_mode.trim().is_empty() {
        Some(MessageMode::default())
    } else {
        MessageMode::parse(&input.wx_message_mode)
            .map_err(|e| errs.push(e))
            .ok()
    };
    let account_kind = if input.wx_account_kind.trim().is_empty() {
        Some(AccountKind::default())
    } else {
        AccountKind::parse(&input.wx_account_kind)
            .map_err(|e| errs.push(e))
            .ok()
    };
    let api_base = wx::api_base(&input.wx_api_base)
        .map_err(|e| errs.push(e))
        .ok();
    match (name, slug, tz, message_mode, account_kind, api_base) {
        (
            Some(name),
            Some(slug),
            Some(tz),
            Some(message_mode),
            Some(account_kind),
            Some(api_base),
        ) if errs.is_empty() => Ok(ValidTenant {
            name,
            slug,
            time_zone: tz.name().to_string(),
            appid,
            original_id,
            token,
            aes_key,
            app_secret,
            message_mode,
            account_kind,
            api_base,
        }),
        _ => Err(errs),
    }
}

pub fn create(
    conn: &mut DbConn,
    scope: &AgencyScope,
    t: &ValidTenant,
    sb: &SecretBox,
) -> Result<Tenant> {
    let at = now();
    let seal = |col: &str, v: &Option<String>| v.as_ref().map(|s| sb.encrypt(col, s));
    crate::write_tx(conn, |conn| {
        let id: i64 = diesel::insert_into(tenants::table)
            .values((
                tenants::agency_id.eq(scope.agency_id().0),
                tenants::name.eq(&t.name),
                tenants::slug.eq(&t.slug),
                tenants::time_zone.eq(&t.time_zone),
                tenants::wx_appid.eq(&t.appid),
                tenants::wx_original_id.eq(&t.original_id),
                tenants::wx_token_enc.eq(seal(COL_TOKEN, &t.token)),
                tenants::wx_aes_key_enc.eq(seal(COL_AES, &t.aes_key)),
                tenants::wx_app_secret_enc.eq(seal(COL_SECRET, &t.app_secret)),
                tenants::wx_message_mode.eq(t.message_mode.as_str()),
                tenants::wx_account_kind.eq(t.account_kind.as_str()),
                tenants::wx_api_base.eq(t.api_base.as_deref().unwrap_or(wx::DEFAULT_API_BASE)),
                tenants::created_at.eq(at),
                tenants::updated_at.eq(at),
            ))
            .returning(tenants::id)
            .get_result(conn)
            .map_err(|e| StoreError::from(e).conflict_as("slug_taken"))?;
        // A webhook may have cached the slug as unknown: every process forgets it.
        crate::cache_epoch::bump(conn)?;
        by_id(conn, TenantId(id))
    })
}

/// Updates a tenant. A new EncodingAESKey moves the current one to "previous", so pushes
/// encrypted with the old key keep working while WeChat switches over. A new OA API base
/// clears the stored AppSecret unless the same input supplies one: the secret was given
/// for the old base, and the jobs would send it to the new one.
/// (Who may change the base at all is the caller's check: `TenantScope::may_change_api_base`.)
pub fn update(
    conn: &mut DbConn,
    scope: &TenantScope,
    t: &ValidTenant,
    sb: &SecretBox,
) -> Result<Tenant> {
    crate::write_tx(conn, |conn| {
        let cur = get(conn, scope)?;
        let old_aes = cur.wechat_secrets(sb)?.aes_key;
        let rotate = matches!((&t.aes_key, &old_aes), (Some(new), Some(old)) if new != old);
        let keep_or = |col: &str, new: &Option<String>, old: &Option<String>| match new {
            Some(v) => Some(sb.encrypt(col, v)),
            None => old.clone(),
        };
        let api_base = t
            .api_base
            .clone()
            .unwrap_or_else(|| cur.wx_api_base.clone());
        let secret = if api_base != cur.wx_api_base && t.app_secret.is_none() {
            None
        } else {
            keep_or(COL_SECRET, &t.app_secret, &cur.wx_app_secret_enc)
        };
        let prev = if rotate {
            old_aes.as_ref().map(|k| sb.encrypt(COL_PREV_AES, k))
        } else {
            cur.wx_prev_aes_key_enc.clone()
        };
        diesel::update(tenants::table.find(scope.tenant_id().0))
            .set((
                tenants::name.eq(&t.name),
                tenants::slug.eq(&t.slug),
                tenants::time_zone.eq(&t.time_zone),
                tenants::wx_appid.eq(&t.appid),
                tenants::wx_original_id.eq(&t.original_id),
                tenants::wx_token_enc.eq(keep_or(COL_TOKEN, &t.token, &cur.wx_token_enc)),
                tenants::wx_aes_key_enc.eq(keep_or(COL_AES, &t.aes_key, &cur.wx_aes_key_enc)),
                tenants::wx_prev_aes_key_enc.eq(prev),
                tenants::wx_app_secret_enc.eq(secret),
                tenants::wx_message_mode.eq(t.message_mode.as_str()),
                tenants::wx_account_kind.eq(t.account_kind.as_str()),
                tenants::wx_api_base.eq(&api_base),
                tenants::updated_at.eq(now()),
            ))
            .execute(conn)
            .map_err(|e| StoreError::from(e).conflict_as("slug_taken"))?;
        // Webhooks cache the settings: every process drops them with this change.
        crate::cache_epoch::bump(conn)?;
        get(conn, scope)
    })
}

/// Records that WeChat verified the tenant's server URL just now.
pub fn mark_verified(conn: &mut DbConn, tenant: TenantId) -> Result<()> {
    diesel::update(tenants::table.find(tenant.0))
        .set(tenants::wx_verified_at.eq(Some(now())))
        .execute(conn)?;
    Ok(())
}

/// How far the tenant's WeChat connection got: when WeChat last verified the server URL,
/// and when a follower last wrote or acted (the newest `last_interaction_at`, an index
/// seek, not a scan of the archive).
#[derive(Debug, Clone, Copy, Default)]
pub struct Reached {
    pub verified_at: Option<NaiveDateTime>,
    pub last_push_at: Option<NaiveDateTime>,
}

pub fn reached(conn: &mut DbConn, scope: &TenantScope) -> Result<Reached> {
    use crate::schema::followers;
    let verified_at = tenants::table
        .find(scope.tenant_id().0)
        .select(tenants::wx_verified_at)
        .first::<Option<NaiveDateTime>>(conn)?;
    let last_push_at = followers::table
        .filter(followers::tenant_id.eq(scope.tenant_id().0))
        .select(diesel::dsl::max(followers::last_interaction_at))
        .first::<Option<NaiveDateTime>>(conn)?;
    Ok(Reached {
        verified_at,
        last_push_at,
    })
}

/// Looks a tenant up by slug for authorization. The result is only an input to
/// `authorize`; nothing tenant-owned can be read with it.
pub fn find_ref_by_slug(conn: &mut DbConn, slug: &str) -> Result<Option<TenantRef>> {
    let row: Option<(i64, i64)> = tenants::table
        .filter(tenants::slug.eq(slug))
        .select((tenants::id, tenants::agency_id))
        .first(conn)
        .optional()?;
    Ok(row.map(|(id, agency_id)| TenantRef {
        id: TenantId(id),
        agency_id: AgencyId(agency_id),
    }))
}

/// The tenants with an AppID and an AppSecret (the scheduler's daily follower sync).
pub fn with_api_credentials(conn: &mut DbConn) -> Result<Vec<TenantId>> {
    let ids: Vec<i64> = tenants::table
        .filter(tenants::wx_appid.is_not_null())
        .filter(tenants::wx_app_secret_enc.is_not_null())
        .order(tenants::id)
        .select(tenants::id)
        .load(conn)?;
    Ok(ids.into_iter().map(TenantId).collect())
}

pub fn find_ref_by_id(conn: &mut DbConn, id: TenantId) -> Result<Option<TenantRef>> {
    let row: Option<i64> = tenants::table
        .find(id.0)
        .select(tenants::agency_id)
        .first(conn)
        .optional()?;
    Ok(row.map(|agency_id| TenantRef {
        id,
        agency_id: AgencyId(agency_id),
    }))
}

fn by_id(conn: &mut DbConn, id: TenantId) -> Result<Tenant> {
    Ok(tenants::table
        .find(id.0)
        .select(Tenant::as_select())
        .first(conn)?)
}

/// The scoped tenant itself.
pub fn get(conn: &mut DbConn, scope: &TenantScope) -> Result<Tenant> {
    by_id(conn, scope.tenant_id())
}

/// Every tenant of an agency, by name.
pub fn list_for_agency(conn: &mut DbConn, scope: &AgencyScope) -> Result<Vec<Tenant>> {
    Ok(tenants::table
        .filter(tenants::agency_id.eq(scope.agency_id().0))
        .order(tenants::name.asc())
        .select(Tenant::as_select())
        .load(conn)?)
}

/// Every tenant the principal may open (for the tenant switcher).
pub fn list_visible(conn: &mut DbConn, p: &Principal) -> Result<Vec<Tenant>> {
    let agencies: Vec<i64> = p.admin_agencies().iter().map(|a| a.0).collect();
    let members: Vec<i64> = p.member_tenants().iter().map(|t| t.0).collect();
    Ok(tenants::table
        .filter(
            tenants::agency_id
                .eq_any(agencies)
                .or(tenants::id.eq_any(members)),
        )
        .order(tenants::name.asc())
        .select(Tenant::as_select())
        .load(conn)?)
}

/// Count of all tenants (operations and tests).
pub fn count_all(conn: &mut DbConn) -> Result<i64> {
    Ok(tenants::table.count().get_result(conn)?)
}

/// The operator's view of every tenant, for the CLI (`patron token create --tenant`).
pub fn system_scope_by_slug(conn: &mut DbConn, slug: &str) -> Result<TenantScope> {
    find_ref_by_slug(conn, slug)?
        .map(TenantScope::system)
        .ok_or(StoreError::NotFound)
}

/// Every agency id (operator listing).
pub fn agency_ids(conn: &mut DbConn) -> Result<Vec<i64>> {
    Ok(agencies::table
        .select(agencies::id)
        .order(agencies::id)
        .load(conn)?)
}
