-- Daily figures per tenant (issue 21: the dashboard and the portfolio), one row per
-- (tenant, local day in the tenant's time zone, metric, dimension). A day's rows are
-- recomputed from the archive by `patron_app::stats::roll` (every minute for the current
-- day, on demand by `patron stats rebuild`) and replaced in one transaction, so the rows
-- are always one consistent reading of their sources. Pages read these, never the archive.
CREATE TABLE stats_daily (
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    day DATE NOT NULL,
    metric TEXT NOT NULL,
    dim TEXT NOT NULL,
    value BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, day, metric, dim)
);
-- When each tenant's figures were last rolled (the pages show it).
CREATE TABLE stats_rolled (
    tenant_id BIGINT PRIMARY KEY NOT NULL REFERENCES tenants(id),
    day DATE NOT NULL,
    rolled_at TIMESTAMP NOT NULL
);
-- A day of each source, read by time: the inbound archive by WeChat's CreateTime, coupons
-- by issue, their redemptions and voids, points, refunds (payments already have one).
CREATE INDEX messages_by_sent ON messages (tenant_id, sent_at);
CREATE INDEX coupons_by_issued ON coupons (tenant_id, issued_at);
CREATE INDEX coupon_events_by_at ON coupon_events (tenant_id, at);
CREATE INDEX points_ledger_by_at ON points_ledger (tenant_id, at);
CREATE INDEX refunds_by_succeeded ON refunds (tenant_id, succeeded_at);
