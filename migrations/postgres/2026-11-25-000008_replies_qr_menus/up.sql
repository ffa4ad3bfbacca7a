-- Rules may be active only in a window of the tenant's local time (JSON, see
-- patron_domain::replies::Window); NULL is always.
ALTER TABLE reply_rules ADD COLUMN active_window TEXT;

-- Parametric QR codes created through WeChat's API, with their scan and follow counts and
-- what happens on a scan (a tag put on the follower; replies are subscribe rules for the
-- scene).
CREATE TABLE qr_codes (
    id BIGSERIAL PRIMARY KEY,
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    scene TEXT NOT NULL,
    label TEXT NOT NULL,
    permanent BOOLEAN NOT NULL,
    ticket TEXT NOT NULL,
    url TEXT NOT NULL,
    expires_at TIMESTAMP,
    scans BIGINT NOT NULL,
    follows BIGINT NOT NULL,
    tag_id BIGINT REFERENCES tags(id) ON DELETE SET NULL,
    created_at TIMESTAMP NOT NULL,
    UNIQUE (tenant_id, scene)
);

-- Each tenant's custom menu as edited (JSON), and when it was last published.
CREATE TABLE menus (
    tenant_id BIGINT PRIMARY KEY REFERENCES tenants(id),
    body TEXT NOT NULL,
    published_at TIMESTAMP,
    publish_error TEXT,
    updated_at TIMESTAMP NOT NULL
);
