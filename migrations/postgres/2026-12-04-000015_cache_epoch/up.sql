-- One row whose epoch goes up whenever something a process caches for the webhook changes
-- (a tenant's settings, reply rules, loyalty program, a new tenant). Every process polls
-- it and drops its cache when it moves: coordination through the database only.
CREATE TABLE cache_epoch (
    id BIGINT PRIMARY KEY,
    epoch BIGINT NOT NULL
);
INSERT INTO cache_epoch (id, epoch) VALUES (1, 0);
