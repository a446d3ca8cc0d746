-- Trading core persistence (issue 6): bots, traces, orders/fills/positions/trades, the CME
-- holiday calendar, and the global kill switch.

CREATE TABLE bots (
    id                  uuid        PRIMARY KEY,
    name                text        NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 100),
    symbol              text        NOT NULL CHECK (symbol IN ('ES', 'NQ', 'MES', 'MNQ', 'RTY', 'YM')),
    timeframe           text        NOT NULL CHECK (timeframe IN ('1s', '1m', '5m', '15m', '1h', '1d')),
    stage               text        NOT NULL CHECK (stage IN ('LAB', 'PAPER', 'SHADOW', 'LIVE')),
    status              text        NOT NULL DEFAULT 'STOPPED' CHECK (status IN
                            ('STOPPED', 'STARTING', 'RUNNING', 'SUSPENDED', 'RESTARTING', 'KILLED', 'ERROR')),
    strategy            jsonb       NOT NULL,
    risk_limits         jsonb       NOT NULL DEFAULT '{}'::jsonb,
    is_trading_enabled  boolean     NOT NULL DEFAULT false,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    created_by          text
);
CREATE INDEX bots_created_idx ON bots (created_at DESC, id DESC);
CREATE INDEX bots_stage_idx ON bots (stage, created_at DESC, id DESC);
CREATE INDEX bots_status_idx ON bots (status, created_at DESC, id DESC);
CREATE INDEX bots_symbol_idx ON bots (symbol, created_at DESC, id DESC);

CREATE TABLE trades (
    id              uuid        PRIMARY KEY,
    bot_id          uuid        NOT NULL REFERENCES bots (id) ON DELETE CASCADE,
    run_id          uuid,
    symbol          text        NOT NULL,
    side            text        NOT NULL CHECK (side IN ('LONG', 'SHORT')),
    quantity        integer     NOT NULL CHECK (quantity > 0),
    entry_price     numeric     NOT NULL,
    exit_price      numeric,
    opened_at       timestamptz NOT NULL,
    closed_at       timestamptz,
    realized_pnl    numeric,
    commission      numeric     NOT NULL DEFAULT 0,
    stage           text        NOT NULL CHECK (stage IN ('LAB', 'PAPER', 'SHADOW', 'LIVE')),
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX trades_bot_idx ON trades (bot_id, created_at DESC, id DESC);

-- SPEC §6. `trade_log_id` links a decision to the trade it opened or closed.
CREATE TABLE decision_traces (
    id                  uuid        PRIMARY KEY,
    bot_id              uuid        NOT NULL REFERENCES bots (id) ON DELETE CASCADE,
    run_id              uuid,
    trade_log_id        uuid        REFERENCES trades (id) ON DELETE SET NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    decision_type       text        NOT NULL CHECK (decision_type IN ('ENTRY', 'EXIT', 'ADJUST')),
    reason_human        text        NOT NULL,
    reason_code         text        NOT NULL CHECK (reason_code ~ '^[A-Z][A-Z0-9_]*$'),
    signals             jsonb       NOT NULL DEFAULT '{}'::jsonb,
    variables_snapshot  jsonb       NOT NULL DEFAULT '{}'::jsonb,
    confidence          double precision NOT NULL CHECK (confidence >= 0 AND confidence <= 1),
    expected_value      double precision NOT NULL,
    risk_snapshot       jsonb       NOT NULL DEFAULT '{}'::jsonb,
    trace_id            text        NOT NULL CHECK (trace_id ~ '^[0-9a-f]{32}$')
);
CREATE INDEX decision_traces_bot_idx ON decision_traces (bot_id, created_at DESC, id DESC);
CREATE INDEX decision_traces_trade_idx ON decision_traces (trade_log_id) WHERE trade_log_id IS NOT NULL;

-- SPEC §6, plus folding: consecutive identical suppressions (same reason_code + blocked_by)
-- bump `count` and `last_seen_at` on the latest row instead of inserting.
CREATE TABLE no_trade_traces (
    id                    uuid        PRIMARY KEY,
    bot_id                uuid        NOT NULL REFERENCES bots (id) ON DELETE CASCADE,
    run_id                uuid,
    created_at            timestamptz NOT NULL DEFAULT now(),
    last_seen_at          timestamptz NOT NULL DEFAULT now(),
    count                 integer     NOT NULL DEFAULT 1 CHECK (count >= 1),
    suppression_type      text        NOT NULL,
    suppression_decision  text        NOT NULL,
    reason_human          text        NOT NULL,
    reason_code           text        NOT NULL CHECK (reason_code ~ '^[A-Z][A-Z0-9_]*$'),
    blocked_by            jsonb       NOT NULL DEFAULT '[]'::jsonb,
    signals               jsonb       NOT NULL DEFAULT '{}'::jsonb,
    variables_snapshot    jsonb       NOT NULL DEFAULT '{}'::jsonb,
    trace_id              text        NOT NULL CHECK (trace_id ~ '^[0-9a-f]{32}$')
);
CREATE INDEX no_trade_traces_bot_idx ON no_trade_traces (bot_id, created_at DESC, id DESC);

-- Every order carries an idempotency key so a restart never sends or books it twice.
CREATE TABLE orders (
    id               uuid        PRIMARY KEY,
    bot_id           uuid        NOT NULL REFERENCES bots (id) ON DELETE CASCADE,
    run_id           uuid,
    decision_trace_id uuid       REFERENCES decision_traces (id) ON DELETE SET NULL,
    idempotency_key  text        NOT NULL UNIQUE,
    symbol           text        NOT NULL,
    side             text        NOT NULL CHECK (side IN ('BUY', 'SELL')),
    quantity         integer     NOT NULL CHECK (quantity > 0),
    order_type       text        NOT NULL CHECK (order_type IN ('MARKET', 'LIMIT', 'STOP')),
    limit_price      numeric,
    stop_price       numeric,
    stage            text        NOT NULL CHECK (stage IN ('LAB', 'PAPER', 'SHADOW', 'LIVE')),
    status           text        NOT NULL CHECK (status IN
                         ('NEW', 'RECORDED', 'WORKING', 'PARTIALLY_FILLED', 'FILLED', 'CANCELLED', 'REJECTED')),
    reject_reason    text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX orders_bot_idx ON orders (bot_id, created_at DESC, id DESC);
CREATE INDEX orders_working_idx ON orders (bot_id) WHERE status IN ('NEW', 'WORKING', 'PARTIALLY_FILLED');

CREATE TABLE fills (
    id           uuid        PRIMARY KEY,
    order_id     uuid        NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    bot_id       uuid        NOT NULL REFERENCES bots (id) ON DELETE CASCADE,
    quantity     integer     NOT NULL CHECK (quantity > 0),
    price        numeric     NOT NULL,
    commission   numeric     NOT NULL DEFAULT 0,
    simulated    boolean     NOT NULL,
    filled_at    timestamptz NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX fills_bot_idx ON fills (bot_id, created_at DESC, id DESC);
CREATE INDEX fills_order_idx ON fills (order_id);

-- One row per bot and symbol: the current net position (signed quantity), rebuilt from fills.
CREATE TABLE positions (
    bot_id          uuid        NOT NULL REFERENCES bots (id) ON DELETE CASCADE,
    symbol          text        NOT NULL,
    quantity        integer     NOT NULL DEFAULT 0,
    average_price   numeric,
    realized_pnl    numeric     NOT NULL DEFAULT 0,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (bot_id, symbol)
);

-- CME Globex holiday closures and early halts (America/Chicago local times).
CREATE TABLE cme_holidays (
    date              date        PRIMARY KEY,
    kind              text        NOT NULL CHECK (kind IN ('CLOSED', 'EARLY_CLOSE')),
    early_close_time  time,
    name              text        NOT NULL,
    CHECK ((kind = 'EARLY_CLOSE') = (early_close_time IS NOT NULL))
);

-- The global kill switch: latching, released only explicitly.
ALTER TABLE settings
    ADD COLUMN kill_switch_active boolean NOT NULL DEFAULT false,
    ADD COLUMN kill_switch_reason text,
    ADD COLUMN kill_switch_changed_at timestamptz,
    ADD COLUMN kill_switch_changed_by text;
