-- Foundation: tenancy, users, sessions, tokens. Timestamps are naive UTC.
CREATE TABLE app_settings (
    key TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE agencies (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    name TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE tenants (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    agency_id BIGINT NOT NULL REFERENCES agencies(id),
    name TEXT NOT NULL,
    slug TEXT NOT NULL UNIQUE,
    time_zone TEXT NOT NULL,
    wx_appid TEXT,
    wx_original_id TEXT,
    wx_token_enc TEXT,
    wx_aes_key_enc TEXT,
    wx_prev_aes_key_enc TEXT,
    wx_app_secret_enc TEXT,
    wx_message_mode TEXT NOT NULL,
    wx_account_kind TEXT NOT NULL,
    wx_api_base TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX tenants_agency ON tenants(agency_id);

CREATE TABLE stores (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    name TEXT NOT NULL,
    address TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    UNIQUE (tenant_id, name)
);

CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    email TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    locale TEXT,
    created_at TIMESTAMP NOT NULL,
    password_changed_at TIMESTAMP NOT NULL,
    disabled_at TIMESTAMP
);

CREATE TABLE memberships (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    user_id BIGINT NOT NULL REFERENCES users(id),
    agency_id BIGINT NOT NULL REFERENCES agencies(id),
    tenant_id BIGINT REFERENCES tenants(id),
    role TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX memberships_user ON memberships(user_id);
CREATE INDEX memberships_tenant ON memberships(tenant_id);

CREATE TABLE membership_stores (
    membership_id BIGINT NOT NULL REFERENCES memberships(id) ON DELETE CASCADE,
    store_id BIGINT NOT NULL REFERENCES stores(id),
    PRIMARY KEY (membership_id, store_id)
);

CREATE TABLE sessions (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    user_id BIGINT NOT NULL REFERENCES users(id),
    created_at TIMESTAMP NOT NULL,
    last_seen_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP,
    ip TEXT NOT NULL,
    user_agent TEXT NOT NULL
);
CREATE INDEX sessions_user ON sessions(user_id);

CREATE TABLE api_tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    token_prefix TEXT NOT NULL,
    created_by BIGINT REFERENCES users(id),
    created_at TIMESTAMP NOT NULL,
    last_used_at TIMESTAMP,
    revoked_at TIMESTAMP
);
CREATE INDEX api_tokens_tenant ON api_tokens(tenant_id);

CREATE TABLE invitations (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    agency_id BIGINT NOT NULL REFERENCES agencies(id),
    tenant_id BIGINT REFERENCES tenants(id),
    email TEXT NOT NULL,
    role TEXT NOT NULL,
    store_ids TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    invited_by BIGINT REFERENCES users(id),
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    accepted_at TIMESTAMP,
    revoked_at TIMESTAMP
);
CREATE INDEX invitations_tenant ON invitations(tenant_id);

CREATE TABLE password_resets (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    user_id BIGINT NOT NULL REFERENCES users(id),
    token_hash TEXT NOT NULL UNIQUE,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    used_at TIMESTAMP
);

CREATE TABLE login_failures (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    throttle_key TEXT NOT NULL,
    at TIMESTAMP NOT NULL
);
CREATE INDEX login_failures_key_at ON login_failures(throttle_key, at);
