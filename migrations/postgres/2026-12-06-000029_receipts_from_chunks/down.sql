CREATE TABLE broadcast_receipts (
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    month TEXT NOT NULL,
    openid TEXT NOT NULL,
    received BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, month, openid)
);
DROP INDEX broadcasts_cap_month;
ALTER TABLE broadcasts DROP COLUMN cap_month;
