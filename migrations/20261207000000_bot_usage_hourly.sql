-- Per bot per hour: the autonomy scorer's usage evidence (bar reads, failed bar reads, the last
-- good bar read, OK events of any action) over 24 h. Counting the events themselves read every
-- row of the window for every bot at each scoring pass: at 1 s bars a bot reads 86,400 bars a
-- day. The scorer sums at most 24 rows a bot here, whatever the size of the event table.
-- Maintained by the usage insert trigger, like the providers' rollups.

-- No event may land between the backfill's snapshot and the new trigger (an older node writing).
LOCK TABLE integration_usage_events IN SHARE MODE;

CREATE TABLE bot_usage_hourly (
    bot_id               uuid        NOT NULL,
    bucket               timestamptz NOT NULL,
    bar_reads            bigint      NOT NULL DEFAULT 0,
    bar_read_errors      bigint      NOT NULL DEFAULT 0,
    ok_count             bigint      NOT NULL DEFAULT 0,
    last_bar_read_ok_at  timestamptz,
    PRIMARY KEY (bot_id, bucket)
) WITH (fillfactor = 50); -- updated in place by every batch: keep the updates HOT

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

    INSERT INTO bot_usage_hourly AS t (bot_id, bucket, bar_reads, bar_read_errors, ok_count, last_bar_read_ok_at)
    SELECT bot_id, date_trunc('hour', created_at),
           count(*) FILTER (WHERE action = 'bars.fetch'),
           count(*) FILTER (WHERE action = 'bars.fetch' AND status = 'ERROR'),
           count(*) FILTER (WHERE status = 'OK'),
           max(created_at) FILTER (WHERE action = 'bars.fetch' AND status = 'OK')
    FROM new_rows
    WHERE bot_id IS NOT NULL
    GROUP BY 1, 2
    ORDER BY 1, 2
    ON CONFLICT (bot_id, bucket) DO UPDATE SET
        bar_reads = t.bar_reads + EXCLUDED.bar_reads,
        bar_read_errors = t.bar_read_errors + EXCLUDED.bar_read_errors,
        ok_count = t.ok_count + EXCLUDED.ok_count,
        last_bar_read_ok_at = GREATEST(t.last_bar_read_ok_at, EXCLUDED.last_bar_read_ok_at);

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

INSERT INTO bot_usage_hourly (bot_id, bucket, bar_reads, bar_read_errors, ok_count, last_bar_read_ok_at)
SELECT bot_id, date_trunc('hour', created_at),
       count(*) FILTER (WHERE action = 'bars.fetch'),
       count(*) FILTER (WHERE action = 'bars.fetch' AND status = 'ERROR'),
       count(*) FILTER (WHERE status = 'OK'),
       max(created_at) FILTER (WHERE action = 'bars.fetch' AND status = 'OK')
FROM integration_usage_events
WHERE bot_id IS NOT NULL
GROUP BY 1, 2;
