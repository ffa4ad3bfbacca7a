-- A coupon's campaign and follower must be its tenant's. PostgreSQL checks a foreign key
-- row by row: a query and a lock on the referenced row per coupon, which for the bulk
-- job's million coupons cost 12 of 23 s (measured with psql, docs/benchmarks.md,
-- "Coupons"). One check per statement over the statement's new rows (a transition table)
-- replaces the three keys, and it checks more than they did: the campaign and the
-- follower must belong to the coupon's tenant. Tenants, campaigns and followers are never
-- deleted (campaigns end, followers unfollow), so the keys' delete side guarded nothing.
ALTER TABLE coupons
    DROP CONSTRAINT coupons_tenant_id_fkey,
    DROP CONSTRAINT coupons_campaign_id_fkey,
    DROP CONSTRAINT coupons_follower_id_fkey;

CREATE FUNCTION coupons_check_references() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (
        SELECT 1
        FROM new_coupons n
        LEFT JOIN campaigns cp ON cp.id = n.campaign_id AND cp.tenant_id = n.tenant_id
        LEFT JOIN followers f ON f.id = n.follower_id AND f.tenant_id = n.tenant_id
        WHERE cp.id IS NULL OR (n.follower_id IS NOT NULL AND f.id IS NULL)
    ) THEN
        RAISE EXCEPTION 'a coupon''s campaign or follower is not its tenant''s'
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER coupons_references AFTER INSERT ON coupons
    REFERENCING NEW TABLE AS new_coupons
    FOR EACH STATEMENT EXECUTE FUNCTION coupons_check_references();

-- Nothing moves a coupon to another tenant, campaign or follower; the check above sees
-- inserts only, so such an update is refused outright.
CREATE FUNCTION coupons_owner_fixed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'a coupon''s tenant, campaign and follower do not change'
        USING ERRCODE = 'foreign_key_violation';
END $$;

CREATE TRIGGER coupons_owner_fixed BEFORE UPDATE OF tenant_id, campaign_id, follower_id
    ON coupons FOR EACH ROW
    WHEN (OLD.tenant_id IS DISTINCT FROM NEW.tenant_id
          OR OLD.campaign_id IS DISTINCT FROM NEW.campaign_id
          OR OLD.follower_id IS DISTINCT FROM NEW.follower_id)
    EXECUTE FUNCTION coupons_owner_fixed();
