-- Issue 18 part 5: traces and system events carry the node that wrote them (`node_id`, the
-- node's name as in `nodes`; NULL for rows written outside a runner, e.g. the traces API, and
-- for rows from before this migration). A runner's traces also carry the lease epoch they
-- were written under and when the database accepted them (`written_at`, the database's clock,
-- bumped by every fold), so a stale write can be told from the lease history below.
-- No foreign key on `node_id`: a trace outlives nothing it names, and the hot insert path
-- takes no extra lock. Columns are added without a volatile default (no table rewrite); the
-- default applies to new rows.
ALTER TABLE decision_traces ADD COLUMN node_id text, ADD COLUMN lease_epoch bigint,
    ADD COLUMN written_at timestamptz;
ALTER TABLE decision_traces ALTER COLUMN written_at SET DEFAULT clock_timestamp();
ALTER TABLE no_trade_traces ADD COLUMN node_id text, ADD COLUMN lease_epoch bigint,
    ADD COLUMN written_at timestamptz;
ALTER TABLE no_trade_traces ALTER COLUMN written_at SET DEFAULT clock_timestamp();
ALTER TABLE system_events ADD COLUMN node_id text;

-- Every epoch a bot's lease was ever given, to whom and when (the database's clock, taken
-- once the acquiring statement holds the row lock, i.e. after every write fenced by the
-- previous epoch committed). Written by the trigger below, never by the application: the
-- audit the fault checks read ("no write with epoch e was accepted after epoch e + 1 began").
CREATE TABLE bot_lease_epochs (
    bot_id    uuid        NOT NULL REFERENCES bots (id) ON DELETE CASCADE,
    epoch     bigint      NOT NULL,
    node      text        NOT NULL,
    began_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (bot_id, epoch)
);

CREATE FUNCTION tp_log_lease_epoch() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.node IS NOT NULL AND (TG_OP = 'INSERT' OR NEW.epoch IS DISTINCT FROM OLD.epoch) THEN
        INSERT INTO bot_lease_epochs (bot_id, epoch, node) VALUES (NEW.bot_id, NEW.epoch, NEW.node)
        ON CONFLICT (bot_id, epoch) DO NOTHING;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER bot_leases_log_epoch AFTER INSERT OR UPDATE OF epoch ON bot_leases
    FOR EACH ROW EXECUTE FUNCTION tp_log_lease_epoch();

-- The leases held now are their epochs' first entries.
INSERT INTO bot_lease_epochs (bot_id, epoch, node, began_at)
SELECT bot_id, epoch, node, acquired_at FROM bot_leases WHERE node IS NOT NULL;
