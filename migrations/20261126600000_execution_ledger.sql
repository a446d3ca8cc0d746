-- Execution ledger details the runner needs to resume after a crash (issue 6).
-- `decision_bar_at`: the bar the order was decided on (a PAPER market order fills at the open of
-- the bar right after it); `reference_price`: the last price when decided (what the collar checked).
ALTER TABLE orders
    ADD COLUMN decision_bar_at timestamptz,
    ADD COLUMN reference_price numeric;

-- A simulated market order fills once, whole: the database refuses a second fill of one order,
-- so a restarted runner can never book it twice.
CREATE UNIQUE INDEX fills_one_per_order ON fills (order_id);

-- At most one open trade per bot and symbol.
CREATE UNIQUE INDEX trades_one_open ON trades (bot_id, symbol) WHERE closed_at IS NULL;
