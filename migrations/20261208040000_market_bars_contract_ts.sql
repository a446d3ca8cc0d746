-- The newest bar of one listed contract (the account risk's mark of a position held in that
-- contract: in a roll week the expiring month and the next trade at different prices).
CREATE INDEX market_bars_contract_ts_idx ON market_bars (symbol, contract, ts DESC);
