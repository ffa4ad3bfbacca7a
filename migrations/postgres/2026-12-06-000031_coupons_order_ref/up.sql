-- A payment notification links the coupon redeemed under its order reference
-- (store::payments::apply_paid): looked up by index, not by reading the tenant's coupons.
CREATE INDEX coupons_order_ref ON coupons (tenant_id, order_ref);
