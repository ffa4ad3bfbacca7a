DROP INDEX refunds_by_succeeded;
DROP INDEX points_ledger_by_at;
DROP INDEX coupon_events_by_at;
DROP INDEX coupons_by_issued;
DROP INDEX messages_by_sent;
DROP TABLE stats_rolled;
DROP TABLE stats_daily;
