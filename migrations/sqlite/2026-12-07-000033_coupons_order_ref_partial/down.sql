DROP INDEX coupons_order_ref;
CREATE INDEX coupons_order_ref ON coupons (tenant_id, order_ref);
