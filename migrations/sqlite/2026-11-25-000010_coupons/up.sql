-- Coupon campaigns: what they give (JSON of patron_domain::coupons::Benefit), how long a
-- coupon is valid (JSON of Validity), limits, stores (JSON array of ids; NULL: all).
-- issued_count is raised by a conditional update, so the supply holds under concurrency.
CREATE TABLE campaigns (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    name TEXT NOT NULL,
    benefit TEXT NOT NULL,
    min_spend_fen BIGINT NOT NULL,
    validity TEXT NOT NULL,
    total_supply BIGINT,
    per_follower_limit BIGINT,
    store_ids TEXT,
    status TEXT NOT NULL,
    terms TEXT NOT NULL,
    code_prefix TEXT NOT NULL,
    issued_count BIGINT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX campaigns_tenant ON campaigns(tenant_id, id);

-- One row per coupon. A redemption is a conditional update (status 'issued' → 'redeemed'),
-- so of any number of cashiers racing on one code exactly one succeeds.
CREATE TABLE coupons (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    campaign_id BIGINT NOT NULL REFERENCES campaigns(id),
    code TEXT NOT NULL,
    follower_id BIGINT REFERENCES followers(id),
    status TEXT NOT NULL,
    valid_from TIMESTAMP NOT NULL,
    valid_to TIMESTAMP NOT NULL,
    channel TEXT NOT NULL,
    issued_by TEXT NOT NULL,
    issued_at TIMESTAMP NOT NULL,
    redeemed_at TIMESTAMP,
    redeemed_store_id BIGINT REFERENCES stores(id),
    redeemed_by BIGINT REFERENCES users(id),
    redeemed_by_name TEXT,
    order_ref TEXT,
    amount_fen BIGINT,
    discount_fen BIGINT,
    UNIQUE (tenant_id, code)
);
CREATE INDEX coupons_campaign ON coupons(tenant_id, campaign_id, status);
CREATE INDEX coupons_follower ON coupons(tenant_id, follower_id);
CREATE INDEX coupons_redeemed ON coupons(tenant_id, redeemed_by, redeemed_at);

-- Coupons a follower holds per campaign, raised only below the campaign's limit.
CREATE TABLE coupon_holdings (
    campaign_id BIGINT NOT NULL REFERENCES campaigns(id),
    follower_id BIGINT NOT NULL REFERENCES followers(id),
    held BIGINT NOT NULL,
    PRIMARY KEY (campaign_id, follower_id)
);

-- The audit trail of every redemption and void (and the idempotency keys of the till:
-- a retried tap finds its first answer here).
CREATE TABLE coupon_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    coupon_id BIGINT NOT NULL REFERENCES coupons(id),
    action TEXT NOT NULL,
    user_id BIGINT REFERENCES users(id),
    user_name TEXT NOT NULL,
    store_id BIGINT REFERENCES stores(id),
    device TEXT NOT NULL,
    reason TEXT,
    idempotency_key TEXT,
    result TEXT NOT NULL,
    at TIMESTAMP NOT NULL,
    UNIQUE (tenant_id, idempotency_key)
);
CREATE INDEX coupon_events_coupon ON coupon_events(coupon_id);
