-- Each tenant's WeChat access_token, shared by every process and job (issue 19): one
-- caller at a time refreshes it (the lease), the others wait and take the stored one.
CREATE TABLE wx_tokens (
    tenant_id BIGINT PRIMARY KEY NOT NULL REFERENCES tenants(id),
    -- sealed like the other WeChat secrets (column name as associated data)
    token_enc TEXT,
    expires_at TIMESTAMP,
    lease_until TIMESTAMP,
    refreshes BIGINT NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
