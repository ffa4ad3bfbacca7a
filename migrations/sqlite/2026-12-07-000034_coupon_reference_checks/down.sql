DROP TRIGGER coupons_owner_fixed;
DROP TRIGGER coupons_references;
