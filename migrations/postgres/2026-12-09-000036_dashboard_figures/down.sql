DROP INDEX stamp_events_by_at;
DROP INDEX coupons_by_opened;
ALTER TABLE coupons DROP COLUMN opened_at;
ALTER TABLE stats_rolled DROP COLUMN last_push_at;
