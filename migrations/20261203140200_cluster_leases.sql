-- Cluster singletons (issue 18 part 3). Work that must run once per cluster (alert posting,
-- the job timeout sweep, autonomy scoring) runs on the node holding the named lease
-- (`leader`). Same rules as bot_leases: a node renews its own lease; another node may take it
-- only once released or expired, and every change of holder bumps the epoch.
CREATE TABLE cluster_leases (
    name         text        PRIMARY KEY,
    node         text        REFERENCES nodes(name),
    epoch        bigint      NOT NULL CHECK (epoch > 0),
    acquired_at  timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL
);
