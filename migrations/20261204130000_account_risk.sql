-- Account risk (issue 17 part 6): limits across every bot routed to one broker account,
-- checked at every LIVE order with the bot's own limits (the `account_risk` gate).
CREATE TABLE account_risk_limits (
    broker text NOT NULL,
    account text NOT NULL,
    -- Per contract: sum of the bots' absolute positions (+ exposure-adding working orders).
    max_gross_contracts integer NOT NULL CHECK (max_gross_contracts BETWEEN 0 AND 10000),
    -- Per contract: absolute sum of the bots' signed positions (+ working orders).
    max_net_contracts integer NOT NULL
        CHECK (max_net_contracts BETWEEN 0 AND 10000 AND max_net_contracts <= max_gross_contracts),
    -- USD; the account's realized + unrealized PnL since the 17:00 CT trade-date start.
    daily_loss_limit numeric(14, 2) NOT NULL CHECK (daily_loss_limit > 0),
    max_orders_per_minute integer NOT NULL CHECK (max_orders_per_minute BETWEEN 1 AND 10000),
    updated_by text NOT NULL,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (broker, account)
);

-- The daily-loss latch: one row per latching. Open (rearmed_at NULL) = latched; it outlives
-- the day roll and only a human re-arm (rearmed_by/at) closes it.
CREATE TABLE account_risk_latches (
    id uuid PRIMARY KEY,
    broker text NOT NULL,
    account text NOT NULL,
    latched_at timestamptz NOT NULL,
    reason text NOT NULL,
    daily_pnl numeric(14, 2) NOT NULL,
    daily_loss_limit numeric(14, 2) NOT NULL,
    -- The bots routed to the account when it latched.
    bot_ids uuid[] NOT NULL DEFAULT '{}',
    rearmed_by text,
    rearmed_at timestamptz,
    CHECK ((rearmed_by IS NULL) = (rearmed_at IS NULL))
);
CREATE UNIQUE INDEX account_risk_latches_open_uniq ON account_risk_latches (broker, account)
    WHERE rearmed_at IS NULL;

-- The gate's order-rate read: the account's LIVE orders of the last minute.
CREATE INDEX orders_live_account_recent_idx ON orders (broker, broker_account, created_at)
    WHERE stage = 'LIVE' AND broker IS NOT NULL;
