DROP TABLE coupon_events;
DROP TABLE coupon_holdings;
DROP TABLE coupons;
DROP TABLE campaigns;
