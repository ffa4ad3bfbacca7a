ALTER TABLE tenants DROP COLUMN wx_verified_at;
