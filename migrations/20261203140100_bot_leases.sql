-- Bot ownership leases with fencing epochs (issue 18 part 2). A bot runs only on the node
-- holding its lease. Every acquisition bumps `epoch`; a released lease keeps its row (node
-- NULL) so an epoch is never handed out twice. Every write that acts on a bot calls
-- `tp_fence` in its transaction: it share-locks the lease row (a takeover waits for the write,
-- or the write sees the new epoch) and refuses a stale (node, epoch) with SQLSTATE TPL01,
-- which the application reports as STALE_LEASE.
CREATE TABLE bot_leases (
    bot_id       uuid        PRIMARY KEY REFERENCES bots(id) ON DELETE CASCADE,
    node         text        REFERENCES nodes(name),
    epoch        bigint      NOT NULL CHECK (epoch > 0),
    acquired_at  timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL
);
CREATE INDEX bot_leases_node_idx ON bot_leases (node);

CREATE FUNCTION tp_fence(p_bot uuid, p_node text, p_epoch bigint) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM bot_leases
     WHERE bot_id = p_bot AND node = p_node AND epoch = p_epoch
       FOR SHARE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'STALE_LEASE: node % no longer holds bot % at epoch %', p_node, p_bot, p_epoch
            USING ERRCODE = 'TPL01';
    END IF;
END
$$;
