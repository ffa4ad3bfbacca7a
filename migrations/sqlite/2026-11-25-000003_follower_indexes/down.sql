DROP INDEX followers_tenant_qr_scene;
DROP INDEX followers_tenant_subscribed;
DROP INDEX followers_tenant_id;
