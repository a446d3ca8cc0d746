-- Every bar names the listed contract it came from (`ESZ26`: root, quarterly month code,
-- two-digit year; see domain::contracts). `symbol` is the root. A series is now
-- (provider, root, contract, timeframe): around a roll two contracts trade at once and both
-- can be cached without overwriting each other; the front-month series is each contract's
-- bars between its rolls.
--
-- Rows cached before this migration do not say which contract they were (they were asked
-- for a bare root or a vendor's continuous symbol, with its own roll rule), so they are
-- dropped: this table is a cache of vendor data and is refilled on the next read.
DELETE FROM market_bars;

ALTER TABLE market_bars
    ADD COLUMN contract text NOT NULL CHECK (contract ~ '^[A-Z]+[HMUZ][0-9]{2}$'),
    DROP CONSTRAINT market_bars_pkey,
    -- Range reads of a (provider, root, timeframe) keep their index prefix.
    ADD PRIMARY KEY (provider_id, symbol, timeframe, ts, contract);
