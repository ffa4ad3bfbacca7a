-- A coupon's campaign and follower must be its tenant's (the PostgreSQL migration of the
-- same name checks this once per statement, in place of its per-row foreign keys).
-- SQLite's foreign keys stay: they cost nothing measurable here (a million coupons in
-- 11.4 s with foreign_keys off, 10.5-11.3 s with them on); these triggers add the tenant.
CREATE TRIGGER coupons_references BEFORE INSERT ON coupons
    WHEN NOT EXISTS (SELECT 1 FROM campaigns WHERE id = NEW.campaign_id AND tenant_id = NEW.tenant_id)
      OR (NEW.follower_id IS NOT NULL AND NOT EXISTS
            (SELECT 1 FROM followers WHERE id = NEW.follower_id AND tenant_id = NEW.tenant_id))
BEGIN
    SELECT RAISE(ABORT, 'a coupon''s campaign or follower is not its tenant''s');
END;

CREATE TRIGGER coupons_owner_fixed BEFORE UPDATE OF tenant_id, campaign_id, follower_id ON coupons
    WHEN OLD.tenant_id IS NOT NEW.tenant_id
      OR OLD.campaign_id IS NOT NEW.campaign_id
      OR OLD.follower_id IS NOT NEW.follower_id
BEGIN
    SELECT RAISE(ABORT, 'a coupon''s tenant, campaign and follower do not change');
END;
