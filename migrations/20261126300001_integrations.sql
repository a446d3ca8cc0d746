-- Integrations: the latest verify outcome per provider (survives restarts), rollups that keep
-- GET /api/integrations/status independent of the size of integration_usage_events, the
-- profit-variable catalogue (SPEC §6) and the market-bar cache.

CREATE TABLE integration_verifications (
    provider_id  text        PRIMARY KEY,
    outcome      text        NOT NULL CHECK (outcome IN ('ok', 'invalid_credentials', 'insufficient_plan',
                                                         'rate_limited', 'unreachable', 'provider_error', 'unverifiable')),
    error_code   text,
    message      text        NOT NULL,
    -- scheme://host:port of the endpoint verified (never a path or credentials): a result
    -- proves nothing about another endpoint.
    endpoint     text        NOT NULL,
    sandbox      boolean     NOT NULL,
    latency_ms   integer     NOT NULL CHECK (latency_ms >= 0),
    verified_at  timestamptz NOT NULL,
    trace_id     text        NOT NULL CHECK (trace_id ~ '^[0-9a-f]{32}$')
);

-- Per provider per minute call counts, maintained by the insert trigger below.
CREATE TABLE integration_usage_minutely (
    provider_id   text        NOT NULL,
    bucket        timestamptz NOT NULL,
    ok_count      bigint      NOT NULL DEFAULT 0,
    error_count   bigint      NOT NULL DEFAULT 0,
    verify_count  bigint      NOT NULL DEFAULT 0,
    PRIMARY KEY (provider_id, bucket)
);
CREATE INDEX usage_minutely_bucket_idx ON integration_usage_minutely (bucket, provider_id) INCLUDE (ok_count);

-- Per provider: the latest successful use and the latest error.
CREATE TABLE integration_usage_latest (
    provider_id      text PRIMARY KEY,
    last_used_at     timestamptz,
    last_error_at    timestamptz,
    last_error_code  text
);

-- Statement-level, over the transition table: one upsert per (provider, minute) per batch, so
-- the batching telemetry writer pays once per batch, not per row. Rows are grouped and ordered
-- so concurrent batches lock rollup rows in the same order.
CREATE FUNCTION integration_usage_rollup() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO integration_usage_minutely AS t (provider_id, bucket, ok_count, error_count, verify_count)
    SELECT provider_id, date_trunc('minute', created_at),
           count(*) FILTER (WHERE status = 'OK'),
           count(*) FILTER (WHERE status = 'ERROR'),
           count(*) FILTER (WHERE status = 'VERIFY')
    FROM new_rows
    GROUP BY 1, 2
    ORDER BY 1, 2
    ON CONFLICT (provider_id, bucket) DO UPDATE SET
        ok_count = t.ok_count + EXCLUDED.ok_count,
        error_count = t.error_count + EXCLUDED.error_count,
        verify_count = t.verify_count + EXCLUDED.verify_count;

    INSERT INTO integration_usage_latest AS t (provider_id, last_used_at, last_error_at, last_error_code)
    SELECT provider_id,
           max(created_at) FILTER (WHERE status = 'OK'),
           (array_agg(created_at ORDER BY created_at DESC) FILTER (WHERE error_code IS NOT NULL))[1],
           (array_agg(error_code ORDER BY created_at DESC) FILTER (WHERE error_code IS NOT NULL))[1]
    FROM new_rows
    GROUP BY 1
    ORDER BY 1
    ON CONFLICT (provider_id) DO UPDATE SET
        last_used_at = GREATEST(t.last_used_at, EXCLUDED.last_used_at),
        last_error_code = CASE
            WHEN EXCLUDED.last_error_at IS NOT NULL
                 AND (t.last_error_at IS NULL OR EXCLUDED.last_error_at >= t.last_error_at)
            THEN EXCLUDED.last_error_code ELSE t.last_error_code END,
        last_error_at = GREATEST(t.last_error_at, EXCLUDED.last_error_at);
    RETURN NULL;
END
$$;

CREATE TRIGGER integration_usage_rollup
    AFTER INSERT ON integration_usage_events
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION integration_usage_rollup();

-- Events written before this migration.
INSERT INTO integration_usage_minutely (provider_id, bucket, ok_count, error_count, verify_count)
SELECT provider_id, date_trunc('minute', created_at),
       count(*) FILTER (WHERE status = 'OK'),
       count(*) FILTER (WHERE status = 'ERROR'),
       count(*) FILTER (WHERE status = 'VERIFY')
FROM integration_usage_events GROUP BY 1, 2;
INSERT INTO integration_usage_latest (provider_id, last_used_at, last_error_at, last_error_code)
SELECT provider_id,
       max(created_at) FILTER (WHERE status = 'OK'),
       (array_agg(created_at ORDER BY created_at DESC) FILTER (WHERE error_code IS NOT NULL))[1],
       (array_agg(error_code ORDER BY created_at DESC) FILTER (WHERE error_code IS NOT NULL))[1]
FROM integration_usage_events GROUP BY 1;

-- SPEC §6: the variables strategies use, and where they come from.
CREATE TABLE profit_variables (
    id                           uuid        PRIMARY KEY,
    name                         text        NOT NULL UNIQUE,
    category                     text        NOT NULL,
    source_integration           text        NOT NULL,
    variable_type                text        NOT NULL,
    state                        text        NOT NULL DEFAULT 'ACTIVE' CHECK (state IN ('ACTIVE', 'DEPRECATED')),
    last_updated_at              timestamptz NOT NULL DEFAULT now(),
    used_by_bot_ids              jsonb       NOT NULL DEFAULT '[]'::jsonb,
    profit_contribution_estimate double precision,
    description                  text        NOT NULL DEFAULT '',
    created_at                   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX profit_variables_page_idx ON profit_variables (created_at DESC, id DESC);

-- Bars fetched from a market-data provider, cached by (provider, symbol, timeframe, start).
CREATE TABLE market_bars (
    provider_id  text             NOT NULL,
    symbol       text             NOT NULL,
    timeframe    text             NOT NULL,
    ts           timestamptz      NOT NULL,
    open         double precision NOT NULL,
    high         double precision NOT NULL,
    low          double precision NOT NULL,
    close        double precision NOT NULL,
    volume       double precision NOT NULL,
    fetched_at   timestamptz      NOT NULL DEFAULT now(),
    PRIMARY KEY (provider_id, symbol, timeframe, ts)
);
