CREATE OR REPLACE FUNCTION follower_counts_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE follower_counts SET subscribed = subscribed + (CASE WHEN NEW.subscribed THEN 1 ELSE -1 END)
        WHERE tenant_id = NEW.tenant_id;
    RETURN NULL;
END $$;
CREATE OR REPLACE FUNCTION follower_counts_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE follower_counts AS c SET total = c.total - d.n, subscribed = c.subscribed - d.s
        FROM (SELECT tenant_id, count(*) AS n, count(*) FILTER (WHERE subscribed) AS s
              FROM old_rows GROUP BY tenant_id) AS d
        WHERE c.tenant_id = d.tenant_id;
    RETURN NULL;
END $$;
CREATE OR REPLACE FUNCTION follower_counts_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO follower_counts AS c (tenant_id, total, subscribed)
        SELECT tenant_id, count(*), count(*) FILTER (WHERE subscribed) FROM new_rows GROUP BY tenant_id
        ON CONFLICT (tenant_id) DO UPDATE
            SET total = c.total + EXCLUDED.total, subscribed = c.subscribed + EXCLUDED.subscribed;
    RETURN NULL;
END $$;
CREATE TABLE follower_counts_sum AS
    SELECT tenant_id, sum(total)::BIGINT AS total, sum(subscribed)::BIGINT AS subscribed
    FROM follower_counts GROUP BY tenant_id;
DELETE FROM follower_counts;
ALTER TABLE follower_counts DROP CONSTRAINT follower_counts_pkey;
ALTER TABLE follower_counts DROP COLUMN slot;
ALTER TABLE follower_counts ADD PRIMARY KEY (tenant_id);
INSERT INTO follower_counts (tenant_id, total, subscribed) SELECT tenant_id, total, subscribed FROM follower_counts_sum;
DROP TABLE follower_counts_sum;

DROP INDEX followers_tenant_qr_scene;
DROP INDEX followers_remark;
DROP INDEX followers_email;
DROP INDEX followers_phone;
DROP INDEX followers_name;
CREATE INDEX followers_tenant_qr_scene ON followers(tenant_id, qr_scene, id);
CREATE INDEX followers_name ON followers(tenant_id, name) INCLUDE (id);
CREATE INDEX followers_phone ON followers(tenant_id, phone) INCLUDE (id);
CREATE INDEX followers_email ON followers(tenant_id, email) INCLUDE (id);
CREATE INDEX followers_remark ON followers(tenant_id, remark) INCLUDE (id);

ALTER TABLE messages
    ADD CONSTRAINT messages_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES tenants(id),
    ADD CONSTRAINT messages_follower_id_fkey FOREIGN KEY (follower_id) REFERENCES followers(id);
