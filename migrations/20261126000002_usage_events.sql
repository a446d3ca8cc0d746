-- Proof of use: one row per provider call (SPEC §6), written in batches by the telemetry writer.
CREATE TABLE integration_usage_events (
    id           uuid        PRIMARY KEY,
    created_at   timestamptz NOT NULL DEFAULT now(),
    provider_id  text        NOT NULL,
    bot_id       uuid,
    run_id       uuid,
    action       text        NOT NULL,
    status       text        NOT NULL CHECK (status IN ('OK', 'ERROR', 'VERIFY')),
    latency_ms   integer     NOT NULL CHECK (latency_ms >= 0),
    error_code   text,
    trace_id     text        NOT NULL CHECK (trace_id ~ '^[0-9a-f]{32}$'),
    metadata     jsonb       NOT NULL DEFAULT '{}'::jsonb
);

CREATE INDEX usage_events_provider_idx ON integration_usage_events (provider_id, created_at DESC, id DESC);
CREATE INDEX usage_events_bot_idx      ON integration_usage_events (bot_id, created_at DESC) WHERE bot_id IS NOT NULL;
CREATE INDEX usage_events_created_brin ON integration_usage_events USING brin (created_at);
