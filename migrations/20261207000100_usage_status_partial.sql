-- GET /api/usage-events?status=ERROR|VERIFY: the rows that are not OK, a few of every
-- provider's calls, read from a partial index; status=OK (nearly every row) reads
-- usage_events_created_idx and filters. The full status index wrote an entry for every OK row
-- (every bar read of every bot) that no query needed: 200,000 rows with it took 3.2-3.9 s to
-- insert, 2.7-3.2 s with this one instead.
DROP INDEX usage_events_status_idx;
CREATE INDEX usage_events_not_ok_idx ON integration_usage_events (status, created_at DESC, id DESC)
    WHERE status <> 'OK';
