-- Backtests (issue 15 parts 3-4): what was asked (strategy, instrument, range, fill model,
-- capital, the risk limits it ran under) with a content hash of those inputs, the job that
-- runs it (status, progress and errors live on job_runs: never mirrored here), and its results,
-- written once, in the same transaction as the job's SUCCEEDED transition (all NULL before).
CREATE TABLE backtests (
    id                   uuid        PRIMARY KEY,
    job_id               uuid        NOT NULL UNIQUE REFERENCES job_runs (id),
    -- The bot it stands for (NULL: a strategy tried without a bot).
    bot_id               uuid        REFERENCES bots (id) ON DELETE SET NULL,
    strategy_kind        text        NOT NULL,
    strategy_params      jsonb       NOT NULL,
    -- sha256 of the canonical {kind, params}: what the promotion evidence gate compares.
    strategy_hash        text        NOT NULL CHECK (strategy_hash ~ '^[0-9a-f]{64}$'),
    symbol               text        NOT NULL CHECK (symbol IN ('ES', 'NQ', 'MES', 'MNQ', 'RTY', 'YM')),
    timeframe            text        NOT NULL CHECK (timeframe IN ('1s', '1m', '5m', '15m', '1h', '1d')),
    range_from           timestamptz NOT NULL,
    range_to             timestamptz NOT NULL CHECK (range_to > range_from),
    slippage_ticks       integer     NOT NULL CHECK (slippage_ticks >= 0),
    commission_per_side  numeric     NOT NULL CHECK (commission_per_side >= 0),
    starting_capital     numeric     NOT NULL CHECK (starting_capital > 0),
    risk_limits          jsonb       NOT NULL,
    inputs_hash          text        NOT NULL CHECK (inputs_hash ~ '^[0-9a-f]{64}$'),
    created_by           text,
    created_at           timestamptz NOT NULL DEFAULT now(),
    -- Results.
    completed_at         timestamptz,
    provider_id          text,
    bars                 integer,
    metrics              jsonb,
    equity_curve         jsonb,
    drawdown_curve       jsonb,
    no_trade_counts      jsonb,
    -- {at, reason} when a kill trigger (daily loss, drawdown) stopped the run there.
    killed               jsonb,
    results_hash         text        CHECK (results_hash ~ '^[0-9a-f]{64}$'),
    CHECK ((results_hash IS NULL) = (metrics IS NULL)
       AND (results_hash IS NULL) = (completed_at IS NULL))
);
CREATE INDEX backtests_created_idx ON backtests (created_at DESC, id DESC);
CREATE INDEX backtests_bot_idx ON backtests (bot_id, created_at DESC, id DESC) WHERE bot_id IS NOT NULL;

-- A backtest's closed round trips, in the order they closed.
CREATE TABLE backtest_trades (
    backtest_id  uuid        NOT NULL REFERENCES backtests (id) ON DELETE CASCADE,
    seq          integer     NOT NULL CHECK (seq >= 0),
    side         text        NOT NULL CHECK (side IN ('LONG', 'SHORT')),
    qty          integer     NOT NULL CHECK (qty > 0),
    entry_ts     timestamptz NOT NULL,
    entry_price  numeric     NOT NULL,
    exit_ts      timestamptz NOT NULL,
    exit_price   numeric     NOT NULL,
    gross_pnl    numeric     NOT NULL,
    commission   numeric     NOT NULL,
    net_pnl      numeric     NOT NULL,
    PRIMARY KEY (backtest_id, seq)
);
