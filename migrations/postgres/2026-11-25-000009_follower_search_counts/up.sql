-- Prefix search on the merchant-filled fields uses one index per column (range scans,
-- merged with UNION) instead of walking the whole tenant; INCLUDE (id) makes them index-only.
CREATE INDEX followers_name ON followers(tenant_id, name) INCLUDE (id);
CREATE INDEX followers_phone ON followers(tenant_id, phone) INCLUDE (id);
CREATE INDEX followers_email ON followers(tenant_id, email) INCLUDE (id);
CREATE INDEX followers_remark ON followers(tenant_id, remark) INCLUDE (id);

-- Follower counts per tenant, kept by triggers so the list page never counts a million
-- rows. Inserts and deletes are counted per statement (transition tables: a bulk insert
-- updates the count once); a change of subscription per row, only when it changes.
CREATE TABLE follower_counts (
    tenant_id BIGINT PRIMARY KEY REFERENCES tenants(id),
    total BIGINT NOT NULL,
    subscribed BIGINT NOT NULL
);
INSERT INTO follower_counts (tenant_id, total, subscribed)
    SELECT tenant_id, count(*), count(*) FILTER (WHERE subscribed) FROM followers GROUP BY tenant_id;

CREATE FUNCTION follower_counts_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO follower_counts AS c (tenant_id, total, subscribed)
        SELECT tenant_id, count(*), count(*) FILTER (WHERE subscribed) FROM new_rows GROUP BY tenant_id
        ON CONFLICT (tenant_id) DO UPDATE
            SET total = c.total + EXCLUDED.total, subscribed = c.subscribed + EXCLUDED.subscribed;
    RETURN NULL;
END $$;
CREATE TRIGGER follower_counts_insert AFTER INSERT ON followers
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION follower_counts_insert();

CREATE FUNCTION follower_counts_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE follower_counts AS c SET total = c.total - d.n, subscribed = c.subscribed - d.s
        FROM (SELECT tenant_id, count(*) AS n, count(*) FILTER (WHERE subscribed) AS s
              FROM old_rows GROUP BY tenant_id) AS d
        WHERE c.tenant_id = d.tenant_id;
    RETURN NULL;
END $$;
CREATE TRIGGER follower_counts_delete AFTER DELETE ON followers
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION follower_counts_delete();

CREATE FUNCTION follower_counts_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE follower_counts SET subscribed = subscribed + (CASE WHEN NEW.subscribed THEN 1 ELSE -1 END)
        WHERE tenant_id = NEW.tenant_id;
    RETURN NULL;
END $$;
CREATE TRIGGER follower_counts_update AFTER UPDATE OF subscribed ON followers
    FOR EACH ROW WHEN (OLD.subscribed IS DISTINCT FROM NEW.subscribed)
    EXECUTE FUNCTION follower_counts_update();
