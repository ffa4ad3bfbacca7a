ALTER TABLE broadcasts DROP COLUMN no_coupon;
ALTER TABLE broadcasts DROP COLUMN coupons_issued;
