-- The durable job queue (follower sync first). A worker claims the oldest due 'queued'
-- job, or a 'running' one whose lease (locked_until) expired, and marks it 'running';
-- a failure requeues it with exponential backoff until max_attempts, then 'failed'.
-- payload is JSON; tenant_id is NULL for system-wide jobs. Timestamps are naive UTC.
CREATE TABLE jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    tenant_id BIGINT REFERENCES tenants(id),
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    max_attempts BIGINT NOT NULL,
    run_at TIMESTAMP NOT NULL,
    locked_until TIMESTAMP,
    last_error TEXT,
    progress_done BIGINT NOT NULL,
    progress_total BIGINT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX jobs_state_run_at ON jobs(state, run_at);
CREATE INDEX jobs_tenant ON jobs(tenant_id, id);
