-- "Create bot from this result" (issue 15 part 5): the backtest a bot was made from is linked
-- to it as its evidence, so the LAB → PAPER gate counts it like a backtest of the bot itself
-- (still only while the bot's strategy hash, symbol and timeframe are the backtest's).
CREATE TABLE bot_backtest_evidence (
    bot_id       uuid        NOT NULL REFERENCES bots (id) ON DELETE CASCADE,
    backtest_id  uuid        NOT NULL REFERENCES backtests (id) ON DELETE CASCADE,
    linked_by    text,
    linked_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (bot_id, backtest_id)
);
CREATE INDEX bot_backtest_evidence_backtest_idx ON bot_backtest_evidence (backtest_id);
