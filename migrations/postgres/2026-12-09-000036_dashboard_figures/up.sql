-- The dashboards' remaining figures (issue 21).
-- When a follower last reached the tenant, noted by the minute task with each roll of
-- the current day, so the agency's portfolio reads every tenant's in one query instead
-- of one index seek per tenant.
ALTER TABLE stats_rolled ADD COLUMN last_push_at TIMESTAMP NULL;
-- The first time the follower opened their page while holding the coupon (issued →
-- opened → redeemed); only opened coupons are indexed.
ALTER TABLE coupons ADD COLUMN opened_at TIMESTAMP NULL;
CREATE INDEX coupons_by_opened ON coupons (tenant_id, opened_at) WHERE opened_at IS NOT NULL;
-- Stamps given and cards completed, read by day.
CREATE INDEX stamp_events_by_at ON stamp_events (tenant_id, at);
