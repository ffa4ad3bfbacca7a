-- Broadcasts (issue 19): the tenant's quota setting, the broadcasts, the quota's slots
-- and the chunks a broadcast is sent in.

-- The quota a tenant's agency set; no row (or NULL period) means the preset of the
-- account kind (patron_domain::broadcasts::QuotaPolicy::preset).
CREATE TABLE broadcast_settings (
    tenant_id BIGINT PRIMARY KEY NOT NULL REFERENCES tenants(id),
    -- day or month; NULL: the account kind's preset
    quota_period TEXT,
    quota_count BIGINT,
    follower_cap BIGINT,
    -- a merchant admin approves each broadcast before it can be scheduled
    needs_approval BOOLEAN NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE broadcasts (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    title TEXT NOT NULL,
    -- JSON: patron_app::broadcasts::Message (text, image, news, coupon offer)
    message TEXT NOT NULL,
    -- JSON: patron_app::broadcasts::Audience
    audience TEXT NOT NULL,
    -- draft, awaiting_approval, approved, scheduled, sending, sent, failed, cancelled
    status TEXT NOT NULL,
    scheduled_at TIMESTAMP,
    created_by TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    approved_by TEXT,
    approved_at TIMESTAMP,
    started_at TIMESTAMP,
    finished_at TIMESTAMP,
    -- followers planned, and left out at their monthly cap
    recipients BIGINT,
    left_out BIGINT NOT NULL,
    -- summed from WeChat's MASSSENDJOBFINISH events of its chunks
    total_count BIGINT NOT NULL,
    filter_count BIGINT NOT NULL,
    sent_count BIGINT NOT NULL,
    error_count BIGINT NOT NULL,
    -- JSON: patron_app::jobs::JobFailure of the last failed chunk
    failure TEXT
);
CREATE INDEX broadcasts_tenant ON broadcasts(tenant_id, id);
-- The scheduler's question: which scheduled broadcasts are due.
CREATE INDEX broadcasts_due ON broadcasts(status, scheduled_at);

-- One row per used quota slot: the unique key is what keeps the quota under any
-- concurrency (two admins, two tabs, several processes on one database).
CREATE TABLE broadcast_slots (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    -- the local day (2026-12-05) or month (2026-12)
    period TEXT NOT NULL,
    slot BIGINT NOT NULL,
    -- NULL: a send made outside Patron (the official console), recorded by hand
    broadcast_id BIGINT REFERENCES broadcasts(id),
    at TIMESTAMP NOT NULL,
    note TEXT,
    created_by TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX broadcast_slots_key ON broadcast_slots(tenant_id, period, slot);
CREATE UNIQUE INDEX broadcast_slots_broadcast ON broadcast_slots(broadcast_id);

-- What a broadcast is sent as: one call to WeChat each, with its own clientmsgid so a
-- retry cannot send twice.
CREATE TABLE broadcast_chunks (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    broadcast_id BIGINT NOT NULL REFERENCES broadcasts(id),
    seq BIGINT NOT NULL,
    -- all, tag, openids
    target TEXT NOT NULL,
    tag_id BIGINT,
    -- newline-separated, for target openids
    openids TEXT,
    recipients BIGINT NOT NULL,
    clientmsgid TEXT NOT NULL,
    -- pending, submitted, finished, failed
    state TEXT NOT NULL,
    msg_id BIGINT,
    wx_status TEXT,
    total_count BIGINT,
    filter_count BIGINT,
    sent_count BIGINT,
    error_count BIGINT,
    updated_at TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX broadcast_chunks_seq ON broadcast_chunks(broadcast_id, seq);
CREATE INDEX broadcast_chunks_msg ON broadcast_chunks(tenant_id, msg_id);
