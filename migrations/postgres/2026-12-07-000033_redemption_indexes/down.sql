DROP INDEX coupon_events_by_user;
DROP INDEX coupons_order_ref;
CREATE INDEX coupons_order_ref ON coupons (tenant_id, order_ref);
