-- Job workers (runtime/jobs.rs): who holds a RUNNING job, how far it is, how often it was
-- claimed, and the code of a failure. Queued jobs are claimed oldest first with
-- FOR UPDATE SKIP LOCKED, from this partial index.
ALTER TABLE job_runs
    ADD COLUMN progress_pct smallint NOT NULL DEFAULT 0 CHECK (progress_pct BETWEEN 0 AND 100),
    ADD COLUMN attempts     integer  NOT NULL DEFAULT 0,
    ADD COLUMN claimed_by   text,
    ADD COLUMN error_code   text;

CREATE INDEX job_runs_queued_idx ON job_runs (created_at, id) WHERE status = 'QUEUED';
