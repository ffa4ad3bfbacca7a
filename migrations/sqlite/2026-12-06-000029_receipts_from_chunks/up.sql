-- A follower's broadcasts this month are counted from the plans themselves (the OpenID
-- lists of the chunks of broadcasts counted in that month) instead of one row per
-- follower and month: planning a broadcast to a million followers wrote a million
-- counter rows, which alone took 9.5 s on a PostgreSQL server. Counts of the month in
-- progress kept in the old table are not carried over (nothing was released with it).
ALTER TABLE broadcasts ADD COLUMN cap_month TEXT;
CREATE INDEX broadcasts_cap_month ON broadcasts (tenant_id, cap_month);
DROP TABLE broadcast_receipts;
