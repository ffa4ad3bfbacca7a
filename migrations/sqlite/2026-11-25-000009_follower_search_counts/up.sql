-- Prefix search on the merchant-filled fields uses one index per column (range scans,
-- merged by the planner) instead of walking the whole tenant.
CREATE INDEX followers_name ON followers(tenant_id, name);
CREATE INDEX followers_phone ON followers(tenant_id, phone);
CREATE INDEX followers_email ON followers(tenant_id, email);
CREATE INDEX followers_remark ON followers(tenant_id, remark);

-- Follower counts per tenant, kept by triggers so the list page never counts a million rows.
CREATE TABLE follower_counts (
    tenant_id BIGINT PRIMARY KEY NOT NULL REFERENCES tenants(id),
    total BIGINT NOT NULL,
    subscribed BIGINT NOT NULL
);
INSERT INTO follower_counts (tenant_id, total, subscribed)
    SELECT tenant_id, count(*), sum(CASE WHEN subscribed THEN 1 ELSE 0 END) FROM followers GROUP BY tenant_id;
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
