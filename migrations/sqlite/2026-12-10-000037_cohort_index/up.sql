-- Follows read by day for the retention of each day's new followers (issue 21): the
-- daily cohort refresh reads 12 weeks of them per tenant, not the whole archive of
-- those weeks. Only follow events are indexed, so the webhook's other pushes pay nothing.
CREATE INDEX messages_follows_by_sent ON messages (tenant_id, sent_at) WHERE event = 'subscribe';
