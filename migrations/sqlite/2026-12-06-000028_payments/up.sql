-- WeChat Pay (issue 20): a tenant's merchant settings, its payments and refunds, and
-- the notifications they came from.

-- The merchant account a tenant's notifications are checked against. The APIv2 and
-- APIv3 keys are sealed like the OA secrets (bound to their column); the platform keys
-- that sign v3 notifications are public: a JSON array of {"id", "pem"} (a
-- PUB_KEY_ID_… or a certificate serial, and its PEM).
CREATE TABLE pay_settings (
    tenant_id BIGINT PRIMARY KEY NOT NULL REFERENCES tenants(id),
    mch_id TEXT NOT NULL,
    apiv2_key_enc TEXT,
    apiv3_key_enc TEXT,
    platform_keys TEXT NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

-- A payment: WeChat's record of an order paid (or an order the till expects to be paid,
-- state 'expected', whose amount the notification must match).
CREATE TABLE payments (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    out_trade_no TEXT NOT NULL,
    transaction_id TEXT,
    openid TEXT,
    follower_id BIGINT REFERENCES followers(id),
    -- the order's amount, what the payer paid, and WeChat-side discounts (fen)
    total_fen BIGINT NOT NULL,
    payer_fen BIGINT NOT NULL,
    discount_fen BIGINT NOT NULL,
    refunded_fen BIGINT NOT NULL,
    -- expected, paid, partly_refunded, refunded
    state TEXT NOT NULL,
    trade_type TEXT,
    bank_type TEXT,
    attach TEXT,
    -- the coupon redeemed at the till with this order reference
    coupon_id BIGINT REFERENCES coupons(id),
    paid_at TIMESTAMP,
    -- how it became known: v2, v3, till, bill (accepted from a trade bill)
    source TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX payments_order ON payments (tenant_id, out_trade_no);
CREATE UNIQUE INDEX payments_transaction ON payments (tenant_id, transaction_id);
CREATE INDEX payments_paid ON payments (tenant_id, paid_at);
CREATE INDEX payments_follower ON payments (follower_id);

CREATE TABLE refunds (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    payment_id BIGINT NOT NULL REFERENCES payments(id),
    out_refund_no TEXT NOT NULL,
    refund_id TEXT,
    amount_fen BIGINT NOT NULL,
    -- SUCCESS, CHANGE (abnormal), REFUNDCLOSE / CLOSED, PROCESSING
    status TEXT NOT NULL,
    succeeded_at TIMESTAMP,
    source TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX refunds_order ON refunds (tenant_id, out_refund_no);
CREATE INDEX refunds_payment ON refunds (payment_id);

-- Every notification applied, once: WeChat retries until it hears SUCCESS, and a retry
-- (same key) changes nothing. The key is v3's notification id, or for v2 the
-- transaction (payments) or refund id (refunds).
CREATE TABLE pay_notifications (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    notify_key TEXT NOT NULL,
    -- payment or refund
    kind TEXT NOT NULL,
    -- v2 or v3
    version TEXT NOT NULL,
    -- the verified, decrypted content (JSON)
    body TEXT NOT NULL,
    received_at TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX pay_notifications_key ON pay_notifications (tenant_id, notify_key);
