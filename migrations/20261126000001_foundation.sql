-- Foundation: the global settings row and the system event log.

-- One row, enforced by the boolean primary key that can only be true.
CREATE TABLE settings (
    id               boolean PRIMARY KEY DEFAULT true CHECK (id),
    -- The global trading switch (SPEC §1 LIVE invariant). OFF until an admin turns it on.
    trading_enabled  boolean     NOT NULL DEFAULT false,
    updated_at       timestamptz NOT NULL DEFAULT now(),
    updated_by       text
);
INSERT INTO settings (id) VALUES (true);

CREATE TABLE system_events (
    id           uuid        PRIMARY KEY,
    created_at   timestamptz NOT NULL DEFAULT now(),
    severity     text        NOT NULL CHECK (severity IN ('SEV-1', 'SEV-2', 'SEV-3', 'INFO')),
    code         text        NOT NULL CHECK (code ~ '^[A-Z][A-Z0-9_]*$'),
    message      text        NOT NULL,
    bot_id       uuid,
    provider_id  text,
    trace_id     text        NOT NULL CHECK (trace_id ~ '^[0-9a-f]{32}$'),
    metadata     jsonb       NOT NULL DEFAULT '{}'::jsonb
);

-- Newest-first keyset pagination, and each filter the events endpoint offers.
CREATE INDEX system_events_created_idx  ON system_events (created_at DESC, id DESC);
CREATE INDEX system_events_severity_idx ON system_events (severity, created_at DESC, id DESC);
CREATE INDEX system_events_code_idx     ON system_events (code, created_at DESC, id DESC);
CREATE INDEX system_events_bot_idx      ON system_events (bot_id, created_at DESC, id DESC) WHERE bot_id IS NOT NULL;
CREATE INDEX system_events_provider_idx ON system_events (provider_id, created_at DESC, id DESC) WHERE provider_id IS NOT NULL;
CREATE INDEX system_events_trace_idx    ON system_events (trace_id);
