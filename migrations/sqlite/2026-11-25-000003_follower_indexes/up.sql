-- Lists read followers newest first within a tenant: give the planner that order, so a
-- page is an index walk instead of a sort of the whole tenant.
CREATE INDEX followers_tenant_id ON followers(tenant_id, id);
CREATE INDEX followers_tenant_subscribed ON followers(tenant_id, subscribed, id);
CREATE INDEX followers_tenant_qr_scene ON followers(tenant_id, qr_scene, id);
