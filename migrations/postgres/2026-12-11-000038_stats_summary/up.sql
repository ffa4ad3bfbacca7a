-- Each tenant's day in one narrow row (issue 21): the agency's portfolio reads these, a
-- row per tenant and day, instead of grouping every stored figure of 200 tenants on each
-- view. Written by the same transaction that replaces the day's figures
-- (store::stats::replace_day), so the two never disagree; filled here from the figures
-- already rolled.
CREATE TABLE stats_summary (
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    day DATE NOT NULL,
    follows BIGINT NOT NULL,
    unfollows BIGINT NOT NULL,
    messages BIGINT NOT NULL,
    redeemed BIGINT NOT NULL,
    payments_fen BIGINT NOT NULL,
    -- The followers reading, for a day rolled while it ran.
    followers BIGINT NULL,
    PRIMARY KEY (tenant_id, day)
);
INSERT INTO stats_summary (tenant_id, day, follows, unfollows, messages, redeemed, payments_fen, followers)
SELECT tenant_id, day,
    CAST(SUM(CASE WHEN metric = 'follows' THEN value ELSE 0 END) AS BIGINT),
    CAST(SUM(CASE WHEN metric = 'unfollows' THEN value ELSE 0 END) AS BIGINT),
    CAST(SUM(CASE WHEN metric = 'messages' THEN value ELSE 0 END) AS BIGINT),
    CAST(SUM(CASE WHEN metric = 'redeemed' THEN value ELSE 0 END) AS BIGINT),
    CAST(SUM(CASE WHEN metric = 'payments_fen' THEN value ELSE 0 END) AS BIGINT),
    MAX(CASE WHEN metric = 'followers' THEN value END)
FROM stats_daily
GROUP BY tenant_id, day;
