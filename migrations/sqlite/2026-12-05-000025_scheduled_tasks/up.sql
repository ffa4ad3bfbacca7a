-- The scheduler's periodic tasks as they last ran (any process), for the operations page.
CREATE TABLE scheduled_tasks (
    name TEXT PRIMARY KEY NOT NULL,
    last_started_at TIMESTAMP,
    last_finished_at TIMESTAMP,
    -- ok, or what went wrong (for operators)
    last_outcome TEXT,
    runs BIGINT NOT NULL
);
