-- A node's presence: the key of a session-level advisory lock the node holds on a connection of
-- its own for as long as it lives. When the process dies (kill -9, crash) or loses that
-- connection, Postgres releases the lock at once; another node that can take it knows the node
-- is gone and expires its leases without waiting for the TTL. NULL: not known (a node of an
-- earlier version, or one already found gone): its leases expire by time only.
ALTER TABLE nodes ADD COLUMN presence_key bigint;

-- When another node found this one gone (its presence lock free): it is shown dead at once and
-- drops out of the fair share. Cleared when the node registers or takes a new presence.
ALTER TABLE nodes ADD COLUMN gone_at timestamptz;
