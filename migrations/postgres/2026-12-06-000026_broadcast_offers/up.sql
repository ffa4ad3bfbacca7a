-- Coupon-offer broadcasts: the coupons issued when one was planned (channel
-- 'broadcast:<id>') and the followers of its audience left without one (the campaign's
-- supply ran out, or they hold as many as it allows each).
ALTER TABLE broadcasts ADD COLUMN coupons_issued BIGINT NOT NULL DEFAULT 0;
ALTER TABLE broadcasts ADD COLUMN no_coupon BIGINT NOT NULL DEFAULT 0;
