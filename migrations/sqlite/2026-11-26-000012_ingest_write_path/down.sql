DROP TRIGGER follower_counts_insert;
DROP TRIGGER follower_counts_delete;
DROP TRIGGER follower_counts_update;
CREATE TABLE follower_counts_single (
    tenant_id BIGINT PRIMARY KEY NOT NULL REFERENCES tenants(id),
    total BIGINT NOT NULL,
    subscribed BIGINT NOT NULL
);
INSERT INTO follower_counts_single (tenant_id, total, subscribed)
    SELECT tenant_id, sum(total), sum(subscribed) FROM follower_counts GROUP BY tenant_id;
DROP TABLE follower_counts;
ALTER TABLE follower_counts_single RENAME TO follower_counts;
CREATE TRIGGER follower_counts_insert AFTER INSERT ON followers BEGIN
    INSERT INTO follower_counts (tenant_id, total, subscribed) VALUES (NEW.tenant_id, 0, 0)
        ON CONFLICT (tenant_id) DO NOTHING;
    UPDATE follower_counts SET total = total + 1,
        subscribed = subscribed + (CASE WHEN NEW.subscribed THEN 1 ELSE 0 END)
        WHERE tenant_id = NEW.tenant_id;
END;
CREATE TRIGGER follower_counts_delete AFTER DELETE ON followers BEGIN
    UPDATE follower_counts SET total = total - 1,
        subscribed = subscribed - (CASE WHEN OLD.subscribed THEN 1 ELSE 0 END)
        WHERE tenant_id = OLD.tenant_id;
END;
CREATE TRIGGER follower_counts_update AFTER UPDATE OF subscribed ON followers
    WHEN OLD.subscribed <> NEW.subscribed BEGIN
    UPDATE follower_counts SET subscribed = subscribed + (CASE WHEN NEW.subscribed THEN 1 ELSE -1 END)
        WHERE tenant_id = NEW.tenant_id;
END;

DROP INDEX followers_tenant_qr_scene;
DROP INDEX followers_remark;
DROP INDEX followers_email;
DROP INDEX followers_phone;
DROP INDEX followers_name;
CREATE INDEX followers_tenant_qr_scene ON followers(tenant_id, qr_scene, id);
CREATE INDEX followers_name ON followers(tenant_id, name);
CREATE INDEX followers_phone ON followers(tenant_id, phone);
CREATE INDEX followers_email ON followers(tenant_id, email);
CREATE INDEX followers_remark ON followers(tenant_id, remark);
