-- Broker reconciliation (issue 17 part 3): what the broker holds against our ledger, per
-- broker account and contract. An open mismatch (resolved_at NULL) stops the LIVE bots it
-- names (the `reconciliation` gate) and is a SEV-1 RECONCILIATION_MISMATCH blocker; a later
-- run that finds the two sides agreeing resolves it (RECONCILED), as does an operator's
-- adopt or flatten followed by that run.
CREATE TABLE reconciliation_mismatches (
    id uuid PRIMARY KEY,
    broker text NOT NULL,
    account text NOT NULL,
    kind text NOT NULL CHECK (kind IN
        ('POSITION', 'ORDER_MISSING_AT_BROKER', 'ORDER_FINISHED_AT_BROKER', 'UNKNOWN_BROKER_ORDER')),
    contract text NOT NULL,
    -- Our order id or the broker's order id; '' for a position.
    subject text NOT NULL DEFAULT '',
    bot_ids uuid[] NOT NULL DEFAULT '{}',
    order_id uuid,
    broker_order_id text,
    ours text NOT NULL,
    theirs text NOT NULL,
    ours_net bigint,
    theirs_net bigint,
    message text NOT NULL,
    trace_id text NOT NULL CHECK (trace_id ~ '^[0-9a-f]{32}$'),
    detected_at timestamptz NOT NULL,
    last_seen_at timestamptz NOT NULL,
    resolved_at timestamptz,
    -- RECONCILED (a run found both sides agreeing), after an operator's ADOPT or FLATTEN.
    resolution text CHECK (resolution IN ('RECONCILED', 'ADOPTED', 'FLATTENED')),
    resolved_by text
);
CREATE UNIQUE INDEX reconciliation_open_uniq
    ON reconciliation_mismatches (broker, account, kind, contract, subject)
    WHERE resolved_at IS NULL;
-- The gate's read: open mismatches naming a bot.
CREATE INDEX reconciliation_open_bots_idx ON reconciliation_mismatches USING gin (bot_ids)
    WHERE resolved_at IS NULL;
CREATE INDEX reconciliation_detected_idx ON reconciliation_mismatches (detected_at DESC);

-- The last run per broker account.
CREATE TABLE reconciliation_runs (
    broker text NOT NULL,
    account text NOT NULL,
    -- CONNECT (a broker login), RESTART (first run of the process), PERIODIC, FIRST_ORDER (before
    -- a LIVE runner's first order on a node), OPERATOR (after adopt or flatten).
    trigger text NOT NULL,
    node text,
    started_at timestamptz NOT NULL,
    finished_at timestamptz NOT NULL,
    ok boolean NOT NULL,
    error text,
    open_mismatches integer NOT NULL,
    PRIMARY KEY (broker, account)
);
