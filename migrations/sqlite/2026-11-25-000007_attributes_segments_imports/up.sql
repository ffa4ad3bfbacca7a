-- Typed custom attributes a tenant defines for its followers (text, number, date, bool).
CREATE TABLE attributes (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    key TEXT NOT NULL,
    label TEXT NOT NULL,
    kind TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    UNIQUE (tenant_id, key)
);
-- One value per follower and attribute: numbers in num_value (so comparisons are numeric),
-- text, dates (YYYY-MM-DD, so they compare as text) and bools ("true"/"false") in text_value.
CREATE TABLE follower_attributes (
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    follower_id BIGINT NOT NULL REFERENCES followers(id),
    attribute_id BIGINT NOT NULL REFERENCES attributes(id) ON DELETE CASCADE,
    text_value TEXT,
    num_value DOUBLE,
    PRIMARY KEY (follower_id, attribute_id)
);
CREATE INDEX follower_attributes_text ON follower_attributes(attribute_id, text_value);
CREATE INDEX follower_attributes_num ON follower_attributes(attribute_id, num_value);

-- Saved followers filters; opening one evaluates it again.
CREATE TABLE segments (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    name TEXT NOT NULL,
    filter TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (tenant_id, name)
);

-- CSV imports of followers: the uploaded file is kept until it has been applied, with the
-- preview counts and the per-row errors found when it was checked.
CREATE TABLE follower_imports (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    author_name TEXT NOT NULL,
    file_name TEXT NOT NULL,
    body TEXT NOT NULL,
    status TEXT NOT NULL,
    total_rows BIGINT NOT NULL,
    new_rows BIGINT NOT NULL,
    error_rows BIGINT NOT NULL,
    errors TEXT NOT NULL,
    job_id BIGINT,
    message TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX follower_imports_tenant ON follower_imports(tenant_id, id);
