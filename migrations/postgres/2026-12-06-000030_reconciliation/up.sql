-- Reconciliation (issue 20): a run matches one day's trade bill against the payments and
-- refunds recorded here; every item that is not a match is an exception to resolve.
CREATE TABLE reconcile_runs (
    id BIGSERIAL PRIMARY KEY,
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    -- the bill's day (Beijing)
    bill_date DATE NOT NULL,
    -- ALL, SUCCESS or REFUND
    bill_kind TEXT NOT NULL,
    -- upload, cli, fetch
    source TEXT NOT NULL,
    bill_lines BIGINT NOT NULL,
    -- JSON: the count of each category
    counts TEXT NOT NULL,
    -- the bill's summary agrees with its lines
    summary_ok BOOLEAN NOT NULL,
    created_by TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX reconcile_runs_day ON reconcile_runs (tenant_id, bill_date);

CREATE TABLE reconcile_exceptions (
    id BIGSERIAL PRIMARY KEY,
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    run_id BIGINT NOT NULL REFERENCES reconcile_runs(id),
    bill_date DATE NOT NULL,
    -- missing_here, missing_at_wechat, status_mismatch, amount_mismatch,
    -- coupon_mismatch, fee_mismatch, duplicate, refund_not_synced, pending
    category TEXT NOT NULL,
    -- payment or refund
    kind TEXT NOT NULL,
    out_trade_no TEXT NOT NULL,
    out_refund_no TEXT,
    -- JSON: what the bill says, and what is recorded here
    bill_side TEXT,
    our_side TEXT,
    -- open, accepted, adjusted, written_off, carried (a pending item the next day's
    -- run took over)
    state TEXT NOT NULL,
    reason TEXT,
    resolved_by TEXT,
    resolved_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX reconcile_exceptions_open ON reconcile_exceptions (tenant_id, state, bill_date);
CREATE INDEX reconcile_exceptions_run ON reconcile_exceptions (run_id);
