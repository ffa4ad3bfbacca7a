-- Who changed a campaign or a reply rule, when, and which fields (shown on its page).
CREATE TABLE changes (
    id BIGSERIAL PRIMARY KEY,
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    -- campaign or reply_rule
    subject TEXT NOT NULL,
    subject_id BIGINT NOT NULL,
    user_name TEXT NOT NULL,
    fields TEXT NOT NULL,
    at TIMESTAMP NOT NULL
);
CREATE INDEX changes_subject ON changes(tenant_id, subject, subject_id, id);
