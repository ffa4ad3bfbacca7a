DROP INDEX coupons_order_ref;
