DROP TABLE reconcile_exceptions;
DROP TABLE reconcile_runs;
