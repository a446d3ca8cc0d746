-- Supervision runtime: persisted circuit breakers, the live runner registry, the job FSM.

-- One row per breaker scope (`bot:<uuid>`, `provider:<id>`); `snapshot` is the breaker's
-- serialized state (failures in window, opened_at, …) so it survives a restart.
CREATE TABLE circuit_breakers (
    scope       text        PRIMARY KEY,
    state       text        NOT NULL CHECK (state IN ('CLOSED', 'OPEN', 'HALF_OPEN')),
    snapshot    jsonb       NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Mirrors the live bot runners (one row per bot; the latest instance). KILLED is a latch
-- that only a human re-arm clears.
CREATE TABLE bot_instances (
    bot_id             uuid        PRIMARY KEY,
    node               text        NOT NULL,
    status             text        NOT NULL CHECK (status IN
                           ('STOPPED', 'STARTING', 'RUNNING', 'SUSPENDED', 'RESTARTING', 'KILLED', 'ERROR')),
    started_at         timestamptz,
    last_heartbeat_at  timestamptz,
    restart_count      integer     NOT NULL DEFAULT 0 CHECK (restart_count >= 0),
    last_error         text,
    updated_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX bot_instances_status_idx ON bot_instances (status);

-- Job FSM (SPEC §2): QUEUED → RUNNING → SUCCEEDED | FAILED | TIMEOUT | CANCELLED; QUEUED → CANCELLED.
CREATE TABLE job_runs (
    id               uuid        PRIMARY KEY,
    kind             text        NOT NULL,
    status           text        NOT NULL CHECK (status IN
                         ('QUEUED', 'RUNNING', 'SUCCEEDED', 'FAILED', 'TIMEOUT', 'CANCELLED')),
    created_at       timestamptz NOT NULL DEFAULT now(),
    started_at       timestamptz,
    finished_at      timestamptz,
    heartbeat_at     timestamptz,
    timeout_seconds  integer     NOT NULL CHECK (timeout_seconds > 0),
    bot_id           uuid,
    payload          jsonb       NOT NULL DEFAULT '{}'::jsonb,
    result           jsonb,
    error            text
);
CREATE INDEX job_runs_created_idx ON job_runs (created_at DESC, id DESC);
CREATE INDEX job_runs_status_idx  ON job_runs (status, created_at DESC, id DESC);
CREATE INDEX job_runs_kind_idx    ON job_runs (kind, created_at DESC, id DESC);
-- The timeout sweep scans only RUNNING jobs.
CREATE INDEX job_runs_running_heartbeat_idx ON job_runs (heartbeat_at) WHERE status = 'RUNNING';

CREATE TABLE job_run_events (
    id           uuid        PRIMARY KEY,
    job_id       uuid        NOT NULL REFERENCES job_runs (id) ON DELETE CASCADE,
    from_status  text,
    to_status    text        NOT NULL,
    reason_code  text        NOT NULL,
    trace_id     text        NOT NULL CHECK (trace_id ~ '^[0-9a-f]{32}$'),
    metadata     jsonb       NOT NULL DEFAULT '{}'::jsonb,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX job_run_events_job_idx ON job_run_events (job_id, created_at, id);
