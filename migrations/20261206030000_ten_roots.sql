-- Issue 16: the product trades ten CME Group equity-index roots (domain::instruments
-- `Symbol::ALL`): M2K (Micro E-mini Russell 2000), MYM (Micro E-mini Dow), EMD (E-mini S&P
-- MidCap 400) and NKD (Nikkei/USD) join ES, NQ, MES, MNQ, RTY and YM. The checks below list
-- what `Symbol::ALL` lists (tests create a bot, a backtest and a sweep on every root).
ALTER TABLE bots DROP CONSTRAINT bots_symbol_check;
ALTER TABLE bots ADD CONSTRAINT bots_symbol_check
    CHECK (symbol IN ('ES', 'NQ', 'MES', 'MNQ', 'RTY', 'YM', 'M2K', 'MYM', 'EMD', 'NKD'));

ALTER TABLE backtests DROP CONSTRAINT backtests_symbol_check;
ALTER TABLE backtests ADD CONSTRAINT backtests_symbol_check
    CHECK (symbol IN ('ES', 'NQ', 'MES', 'MNQ', 'RTY', 'YM', 'M2K', 'MYM', 'EMD', 'NKD'));

ALTER TABLE backtest_sweeps DROP CONSTRAINT backtest_sweeps_symbol_check;
ALTER TABLE backtest_sweeps ADD CONSTRAINT backtest_sweeps_symbol_check
    CHECK (symbol IN ('ES', 'NQ', 'MES', 'MNQ', 'RTY', 'YM', 'M2K', 'MYM', 'EMD', 'NKD'));

-- A contract code is its root, a quarterly month code and a two-digit year: M2K's root has a
-- digit (`M2KZ26`), so the root is a letter followed by letters or digits.
ALTER TABLE market_bars DROP CONSTRAINT market_bars_contract_check;
ALTER TABLE market_bars ADD CONSTRAINT market_bars_contract_check
    CHECK (contract ~ '^[A-Z][A-Z0-9]*[HMUZ][0-9]{2}$');
