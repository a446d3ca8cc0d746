-- SPEC §6 names the transition columns of job_run_events `from` and `to` (names there are
-- fixed); they were created as from_status/to_status. Both are reserved words: quote them.
ALTER TABLE job_run_events RENAME COLUMN from_status TO "from";
ALTER TABLE job_run_events RENAME COLUMN to_status TO "to";
