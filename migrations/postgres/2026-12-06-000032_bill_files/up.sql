-- Trade bills on their way to a reconciliation run (issue 20): an upload, a file given
-- to the CLI, or the daily fetch. The file is kept in the database in chunks rather than
-- on one process's disk, so whichever `patron serve` process claims the job can read it;
-- the chunks are deleted once the run is stored (the size and SHA-1 stay).
CREATE TABLE bill_files (
    id BIGSERIAL PRIMARY KEY,
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    -- the uploaded file's name, or the day fetched
    name TEXT NOT NULL,
    -- upload, cli, fetch
    source TEXT NOT NULL,
    -- the day asked for (a fetch; an upload leaves it to the bill's lines)
    bill_date DATE,
    size_bytes BIGINT NOT NULL,
    sha1 TEXT,
    -- receiving, queued, running, done, failed
    state TEXT NOT NULL,
    run_id BIGINT REFERENCES reconcile_runs(id),
    -- why it failed (the bill's error names the line)
    error TEXT,
    job_id BIGINT,
    created_by TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX bill_files_tenant ON bill_files (tenant_id, created_at);
CREATE INDEX bill_files_day ON bill_files (tenant_id, source, bill_date);

CREATE TABLE bill_file_chunks (
    file_id BIGINT NOT NULL REFERENCES bill_files(id),
    seq BIGINT NOT NULL,
    data BYTEA NOT NULL,
    PRIMARY KEY (file_id, seq)
);

-- The daily fetch signs its requests to the bill API with the merchant's API
-- certificate private key (sealed like the other keys) and names the certificate by
-- its serial number.
ALTER TABLE pay_settings ADD COLUMN merchant_serial TEXT;
ALTER TABLE pay_settings ADD COLUMN merchant_key_enc TEXT;

-- A run's totals (JSON): the bill's lines summed, what its summary declares, ours for the
-- day, the fees charged and expected, and where the summary and the lines disagree.
ALTER TABLE reconcile_runs ADD COLUMN totals TEXT;
