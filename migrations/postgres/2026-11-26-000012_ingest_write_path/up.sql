-- The webhook's write path (measured with `patron bench webhook`, docs/benchmarks.md).

-- The archive keeps no foreign keys. Its one writer takes the tenant and follower ids from
-- rows it read or created in the same transaction, and tenants and followers are never
-- deleted. Each key check cost a row lock on the follower (a tuple lock written to the
-- follower's page and the WAL) for every message stored.
ALTER TABLE messages
    DROP CONSTRAINT messages_tenant_id_fkey,
    DROP CONSTRAINT messages_follower_id_fkey;

-- Most followers have no name, phone, email, remark or QR scene: index only those that
-- do. A new follower then touches five indexes fewer, and every search and filter on
-- these columns (a range, an equality) already excludes NULL.
DROP INDEX followers_name;
DROP INDEX followers_phone;
DROP INDEX followers_email;
DROP INDEX followers_remark;
DROP INDEX followers_tenant_qr_scene;
CREATE INDEX followers_name ON followers(tenant_id, name) INCLUDE (id) WHERE name IS NOT NULL;
CREATE INDEX followers_phone ON followers(tenant_id, phone) INCLUDE (id) WHERE phone IS NOT NULL;
CREATE INDEX followers_email ON followers(tenant_id, email) INCLUDE (id) WHERE email IS NOT NULL;
CREATE INDEX followers_remark ON followers(tenant_id, remark) INCLUDE (id) WHERE remark IS NOT NULL;
CREATE INDEX followers_tenant_qr_scene ON followers(tenant_id, qr_scene, id) WHERE qr_scene IS NOT NULL;

-- Follower counts in stripes: each database session adds to its own row of the tenant
-- (slot = backend pid mod 8), so concurrent writers creating followers do not queue on one
-- counter row until commit. A tenant's counts are the sums of its rows.
ALTER TABLE follower_counts ADD COLUMN slot INTEGER NOT NULL DEFAULT 0;
ALTER TABLE follower_counts DROP CONSTRAINT follower_counts_pkey;
ALTER TABLE follower_counts ADD PRIMARY KEY (tenant_id, slot);

CREATE OR REPLACE FUNCTION follower_counts_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO follower_counts AS c (tenant_id, slot, total, subscribed)
        SELECT tenant_id, pg_backend_pid() % 8, count(*), count(*) FILTER (WHERE subscribed)
        FROM new_rows GROUP BY tenant_id
        ON CONFLICT (tenant_id, slot) DO UPDATE
            SET total = c.total + EXCLUDED.total, subscribed = c.subscribed + EXCLUDED.subscribed;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION follower_counts_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO follower_counts AS c (tenant_id, slot, total, subscribed)
        SELECT tenant_id, pg_backend_pid() % 8, -count(*), -count(*) FILTER (WHERE subscribed)
        FROM old_rows GROUP BY tenant_id
        ON CONFLICT (tenant_id, slot) DO UPDATE
            SET total = c.total + EXCLUDED.total, subscribed = c.subscribed + EXCLUDED.subscribed;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION follower_counts_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO follower_counts AS c (tenant_id, slot, total, subscribed)
        VALUES (NEW.tenant_id, pg_backend_pid() % 8, 0, CASE WHEN NEW.subscribed THEN 1 ELSE -1 END)
        ON CONFLICT (tenant_id, slot) DO UPDATE SET subscribed = c.subscribed + EXCLUDED.subscribed;
    RETURN NULL;
END $$;
