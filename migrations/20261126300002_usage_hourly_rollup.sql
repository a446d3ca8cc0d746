-- Hourly usage rollup: the status endpoint sums at most 24 hourly rows plus up to 60 minute
-- rows (the partial hour at the window's start) per provider, instead of 1,440 minute rows.

CREATE TABLE integration_usage_hourly (
    provider_id   text        NOT NULL,
    bucket        timestamptz NOT NULL,
    ok_count      bigint      NOT NULL DEFAULT 0,
    error_count   bigint      NOT NULL DEFAULT 0,
    verify_count  bigint      NOT NULL DEFAULT 0,
    PRIMARY KEY (provider_id, bucket)
);
CREATE INDEX usage_hourly_bucket_idx ON integration_usage_hourly (bucket, provider_id) INCLUDE (ok_count);

CREATE OR REPLACE FUNCTION integration_usage_rollup() RETURNS trigger LANGUAGE plpgsql AS $$
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

    INSERT INTO integration_usage_hourly AS t (provider_id, bucket, ok_count, error_count, verify_count)
    SELECT provider_id, date_trunc('hour', created_at),
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

-- Backfill from the minute rollup (same counts, no scan of the event table).
INSERT INTO integration_usage_hourly (provider_id, bucket, ok_count, error_count, verify_count)
SELECT provider_id, date_trunc('hour', bucket), sum(ok_count), sum(error_count), sum(verify_count)
FROM integration_usage_minutely GROUP BY 1, 2;
