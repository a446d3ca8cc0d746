-- Nodes (issue 18 part 1): one row per `tradeplane serve` process on this database. A node is
-- named (default `<host>:<port>`), so a restarted process is the same node; `incarnation` tells
-- its runs apart. A node whose heartbeat is older than the lease TTL is shown dead.
CREATE TABLE nodes (
    name          text        PRIMARY KEY CHECK (length(name) BETWEEN 1 AND 200),
    incarnation   uuid        NOT NULL,
    host          text        NOT NULL,
    version       text        NOT NULL,
    started_at    timestamptz NOT NULL,
    heartbeat_at  timestamptz NOT NULL,
    -- Relative weight when nodes share bots (a node with capacity 2 takes twice the share).
    capacity      integer     NOT NULL CHECK (capacity BETWEEN 1 AND 1000000),
    -- Set on a clean shutdown; cleared when the node starts again.
    stopped_at    timestamptz
);
