-- Why a job's last attempt failed, as JSON the pages turn into a merchant's words
-- (patron_app::jobs::JobFailure: the tenant not set up, or a WeChat call refused, down or
-- unreachable); last_error keeps the technical text for operators.
ALTER TABLE jobs ADD COLUMN failure TEXT;
-- The jobs page's "failed" view: a tenant's jobs in one state, newest first.
CREATE INDEX jobs_tenant_state ON jobs(tenant_id, state, id);
