-- integration_usage_events partitioned by day (range on created_at), so old days can be dropped
-- whole and each day's indexes stay the size of a day. At 1 s bars every running bot writes a
-- bar read a second (86,400 rows a bot a day): kept in one table the events grew without bound,
-- and the random-order index (bot_id, created_at) outgrew memory, so each insert cost more the
-- longer the desk ran. The days are made ahead and dropped past the retention by the leader
-- (`store::usage_partitions`, `runtime::usage_retention`); rows of a day that has no partition
-- (the history before this migration, a clock far off) land in the DEFAULT partition, never
-- lost, and are moved into their day when it is made.

LOCK TABLE integration_usage_events IN ACCESS EXCLUSIVE MODE;

DROP TRIGGER integration_usage_rollup ON integration_usage_events;
ALTER TABLE integration_usage_events RENAME TO integration_usage_events_default;
-- The key must hold the partition column; (id, created_at) replaces (id).
ALTER TABLE integration_usage_events_default DROP CONSTRAINT integration_usage_events_pkey;
ALTER INDEX usage_events_provider_idx RENAME TO usage_events_default_provider_idx;
ALTER INDEX usage_events_created_idx RENAME TO usage_events_default_created_idx;
ALTER INDEX usage_events_bot_page_idx RENAME TO usage_events_default_bot_page_idx;
ALTER INDEX usage_events_not_ok_idx RENAME TO usage_events_default_not_ok_idx;
ALTER INDEX usage_events_created_brin RENAME TO usage_events_default_created_brin;

CREATE TABLE integration_usage_events (
    LIKE integration_usage_events_default INCLUDING DEFAULTS INCLUDING CONSTRAINTS,
    PRIMARY KEY (id, created_at)
) PARTITION BY RANGE (created_at);

-- The same reads as before, per partition; attaching the old table adopts its equal indexes.
CREATE INDEX usage_events_provider_idx ON integration_usage_events (provider_id, created_at DESC, id DESC);
CREATE INDEX usage_events_created_idx ON integration_usage_events (created_at DESC, id DESC);
CREATE INDEX usage_events_bot_page_idx ON integration_usage_events (bot_id, created_at DESC, id DESC)
    WHERE bot_id IS NOT NULL;
CREATE INDEX usage_events_not_ok_idx ON integration_usage_events (status, created_at DESC, id DESC)
    WHERE status <> 'OK';
CREATE INDEX usage_events_created_brin ON integration_usage_events USING brin (created_at);

ALTER TABLE integration_usage_events ATTACH PARTITION integration_usage_events_default DEFAULT;

-- A statement trigger on the partitioned table sees every row the statement inserted, whatever
-- partition it went to.
CREATE TRIGGER integration_usage_rollup
    AFTER INSERT ON integration_usage_events
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION integration_usage_rollup();
