-- Only redeemed coupons carry an order reference: a partial index keeps bulk issuance
-- from writing an entry per fresh coupon (issue 23: 1,000,000 coupons a run). Lookups
-- by `order_ref = ?` imply `order_ref IS NOT NULL` and still use it on both backends.
DROP INDEX coupons_order_ref;
CREATE INDEX coupons_order_ref ON coupons (tenant_id, order_ref) WHERE order_ref IS NOT NULL;
