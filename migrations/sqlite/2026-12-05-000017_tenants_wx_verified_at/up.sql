-- When WeChat last verified the tenant's server URL (its GET with echostr): the dashboard
-- says "waiting for WeChat's first request" until this or a push says it reached us.
ALTER TABLE tenants ADD COLUMN wx_verified_at TIMESTAMP;
