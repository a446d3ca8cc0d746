-- Breakers per node (issue 18, truth in the UI): a provider's breaker is each node's own (its
-- calls, its network), so one row per scope and node. A node restores and writes its own rows;
-- the status and Connections of any node read the others' (ALIVE nodes only), so a breaker open
-- on one node is never shown green, nor overwritten, by another. Rows from before carry ''.
ALTER TABLE circuit_breakers ADD COLUMN node text NOT NULL DEFAULT '';
ALTER TABLE circuit_breakers DROP CONSTRAINT circuit_breakers_pkey;
ALTER TABLE circuit_breakers ADD PRIMARY KEY (scope, node);
