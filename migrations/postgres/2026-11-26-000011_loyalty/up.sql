-- Each tenant's points rules (absent row: no points are earned by rule).
CREATE TABLE loyalty_programs (
    tenant_id BIGINT PRIMARY KEY REFERENCES tenants(id),
    subscribe_points BIGINT NOT NULL,
    checkin_keyword TEXT NOT NULL,
    checkin_points BIGINT NOT NULL,
    checkin_reply TEXT NOT NULL,
    checkin_again_reply TEXT NOT NULL,
    points_per_yuan BIGINT NOT NULL,
    expiry_days BIGINT,
    updated_at TIMESTAMP NOT NULL
);

-- The points ledger: rows are only ever added; their amounts never change. A credit
-- (earn, positive adjust) keeps in `remaining` what is left of it after the debits that
-- consumed it oldest-first, so the sum of `points` always equals the sum of `remaining`.
-- `source_key` makes an award once only (the subscribe bonus, a day's check-in, an API
-- idempotency key).
CREATE TABLE points_ledger (
    id BIGSERIAL PRIMARY KEY,
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    follower_id BIGINT NOT NULL REFERENCES followers(id),
    kind TEXT NOT NULL,
    points BIGINT NOT NULL,
    remaining BIGINT NOT NULL,
    expires_at TIMESTAMP,
    source TEXT NOT NULL,
    source_key TEXT,
    reason TEXT NOT NULL,
    user_id BIGINT REFERENCES users(id),
    user_name TEXT NOT NULL,
    at TIMESTAMP NOT NULL,
    UNIQUE (tenant_id, follower_id, source_key)
);
CREATE INDEX points_ledger_follower ON points_ledger(tenant_id, follower_id, id);
CREATE INDEX points_ledger_expiring ON points_ledger(expires_at) WHERE remaining > 0;

-- Stamp cards: N stamps turn into a coupon of the reward campaign.
CREATE TABLE stamp_cards (
    id BIGSERIAL PRIMARY KEY,
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    name TEXT NOT NULL,
    stamps_required BIGINT NOT NULL,
    reward_campaign_id BIGINT NOT NULL REFERENCES campaigns(id),
    stamp_on_checkin BOOLEAN NOT NULL,
    active BOOLEAN NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX stamp_cards_tenant ON stamp_cards(tenant_id, id);

-- Stamps a follower holds on a card now (raised with each stamp, lowered by each reward).
CREATE TABLE stamp_progress (
    card_id BIGINT NOT NULL REFERENCES stamp_cards(id),
    follower_id BIGINT NOT NULL REFERENCES followers(id),
    stamps BIGINT NOT NULL,
    PRIMARY KEY (card_id, follower_id)
);

-- Every stamp and every reward (the audit trail; rewards carry their coupon).
CREATE TABLE stamp_events (
    id BIGSERIAL PRIMARY KEY,
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    card_id BIGINT NOT NULL REFERENCES stamp_cards(id),
    follower_id BIGINT NOT NULL REFERENCES followers(id),
    stamps BIGINT NOT NULL,
    source TEXT NOT NULL,
    source_key TEXT,
    coupon_id BIGINT REFERENCES coupons(id),
    user_id BIGINT REFERENCES users(id),
    user_name TEXT NOT NULL,
    store_id BIGINT REFERENCES stores(id),
    at TIMESTAMP NOT NULL,
    UNIQUE (tenant_id, card_id, follower_id, source_key)
);
CREATE INDEX stamp_events_follower ON stamp_events(tenant_id, follower_id, id);

-- A QR code or a reply rule can issue a coupon (the campaign checked to be the tenant's
-- by the app).
ALTER TABLE qr_codes ADD COLUMN campaign_id BIGINT;
ALTER TABLE reply_rules ADD COLUMN campaign_id BIGINT;

-- Coupons imported from another system keep their own codes.
ALTER TABLE campaigns ADD COLUMN imported_codes BIGINT NOT NULL DEFAULT 0;

-- Only redeemed coupons are looked up by cashier and time: a partial index keeps bulk
-- issuance from writing an entry per fresh coupon.
DROP INDEX coupons_redeemed;
CREATE INDEX coupons_redeemed ON coupons(tenant_id, redeemed_by, redeemed_at)
    WHERE redeemed_at IS NOT NULL;
