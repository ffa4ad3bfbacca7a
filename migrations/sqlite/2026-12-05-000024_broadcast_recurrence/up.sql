-- Recurring broadcasts: a template (status 'recurring') with a cron expression read in
-- the tenant's time zone; the scheduler makes each occurrence a broadcast of its own
-- (parent_id), scheduled with a quota slot, a week ahead.
ALTER TABLE broadcasts ADD COLUMN recurrence TEXT;
ALTER TABLE broadcasts ADD COLUMN next_at TIMESTAMP;
ALTER TABLE broadcasts ADD COLUMN parent_id BIGINT REFERENCES broadcasts(id);
CREATE INDEX broadcasts_recurring ON broadcasts(status, next_at);
