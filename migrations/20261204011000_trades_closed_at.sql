-- Today's closed round trips of every bot (the Overview's PnL sparklines) by close time.
CREATE INDEX trades_closed_at_idx ON trades (closed_at) WHERE closed_at IS NOT NULL;
