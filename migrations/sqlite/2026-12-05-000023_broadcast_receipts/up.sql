-- How many broadcasts each follower received in a local month, for accounts whose
-- followers may receive only so many a month (service accounts: 4). A broadcast's plan
-- leaves out those at the cap (counted in broadcasts.at_cap) and counts the others, in
-- the plan's transaction.
CREATE TABLE broadcast_receipts (
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    month TEXT NOT NULL,
    openid TEXT NOT NULL,
    received BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, month, openid)
);
ALTER TABLE broadcasts ADD COLUMN at_cap BIGINT NOT NULL DEFAULT 0;
