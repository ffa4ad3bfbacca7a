DROP INDEX jobs_tenant_state;
ALTER TABLE jobs DROP COLUMN failure;
