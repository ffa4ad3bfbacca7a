-- Only redeemed coupons carry an order reference: a partial index keeps bulk issuance
-- from writing an entry per fresh coupon (issue 23: 1,000,000 coupons a run). Lookups
-- by `order_ref = ?` imply `order_ref IS NOT NULL` and still use it on both backends.
DROP INDEX coupons_order_ref;
CREATE INDEX coupons_order_ref ON coupons (tenant_id, order_ref) WHERE order_ref IS NOT NULL;
-- The till lists a cashier's redemptions of the day (store::coupons::events_by): by
-- index, newest first, not by reading (or sorting) every event of the day.
CREATE INDEX coupon_events_by_user ON coupon_events (tenant_id, user_id, at, id);
