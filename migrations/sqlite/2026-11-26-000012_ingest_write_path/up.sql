-- The webhook's write path (measured with `patron bench webhook`, docs/benchmarks.md).
-- Unlike PostgreSQL, SQLite keeps the archive's foreign keys: its checks are plain index
-- lookups that lock and write nothing.

-- Most followers have no name, phone, email, remark or QR scene: index only those that
-- do. A new follower then touches five indexes fewer, and every search and filter on
-- these columns (a range, an equality) already excludes NULL.
DROP INDEX followers_name;
DROP INDEX followers_phone;
DROP INDEX followers_email;
DROP INDEX followers_remark;
DROP INDEX followers_tenant_qr_scene;
CREATE INDEX followers_name ON followers(tenant_id, name) WHERE name IS NOT NULL;
CREATE INDEX followers_phone ON followers(tenant_id, phone) WHERE phone IS NOT NULL;
CREATE INDEX followers_email ON followers(tenant_id, email) WHERE email IS NOT NULL;
CREATE INDEX followers_remark ON followers(tenant_id, remark) WHERE remark IS NOT NULL;
CREATE INDEX followers_tenant_qr_scene ON followers(tenant_id, qr_scene, id) WHERE qr_scene IS NOT NULL;

-- Follower counts in stripes, as on PostgreSQL (where concurrent writers use their own
-- rows); SQLite has one writer, so it only ever writes slot 0.
DROP TRIGGER follower_counts_insert;
DROP TRIGGER follower_counts_delete;
DROP TRIGGER follower_counts_update;
CREATE TABLE follower_counts_striped (
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    slot INTEGER NOT NULL DEFAULT 0,
    total BIGINT NOT NULL,
    subscribed BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, slot)
);
INSERT INTO follower_counts_striped (tenant_id, slot, total, subscribed)
    SELECT tenant_id, 0, total, subscribed FROM follower_counts;
DROP TABLE follower_counts;
ALTER TABLE follower_counts_striped RENAME TO follower_counts;
CREATE TRIGGER follower_counts_insert AFTER INSERT ON followers BEGIN
    INSERT INTO follower_counts (tenant_id, slot, total, subscribed)
        VALUES (NEW.tenant_id, 0, 1, CASE WHEN NEW.subscribed THEN 1 ELSE 0 END)
        ON CONFLICT (tenant_id, slot) DO UPDATE
            SET total = total + 1, subscribed = subscribed + excluded.subscribed;
END;
CREATE TRIGGER follower_counts_delete AFTER DELETE ON followers BEGIN
    UPDATE follower_counts SET total = total - 1,
        subscribed = subscribed - (CASE WHEN OLD.subscribed THEN 1 ELSE 0 END)
        WHERE tenant_id = OLD.tenant_id AND slot = 0;
END;
CREATE TRIGGER follower_counts_update AFTER UPDATE OF subscribed ON followers
    WHEN OLD.subscribed <> NEW.subscribed BEGIN
    UPDATE follower_counts SET subscribed = subscribed + (CASE WHEN NEW.subscribed THEN 1 ELSE -1 END)
        WHERE tenant_id = NEW.tenant_id AND slot = 0;
END;
