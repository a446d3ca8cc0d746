-- Parameter sweeps and walk-forward (issue 15 part 5): a sweep is a parent job (kind `sweep`)
-- whose children are ordinary `backtest` jobs, one per combination and window. What was asked
-- (the base strategy, the checked parameter space, grid or seeded random sample, the folds)
-- lives here; each child's inputs and results are a `backtests` row naming its sweep,
-- combination, fold and window. The ranking is computed on read from the children.
ALTER TABLE job_runs ADD COLUMN parent_id uuid REFERENCES job_runs (id) ON DELETE CASCADE;
CREATE INDEX job_runs_parent_idx ON job_runs (parent_id, status) WHERE parent_id IS NOT NULL;
-- A sweep's worker claims its own queued children oldest first.
CREATE INDEX job_runs_parent_queued_idx ON job_runs (parent_id, created_at, id)
    WHERE status = 'QUEUED' AND parent_id IS NOT NULL;

CREATE TABLE backtest_sweeps (
    id                   uuid        PRIMARY KEY,
    job_id               uuid        NOT NULL UNIQUE REFERENCES job_runs (id),
    bot_id               uuid        REFERENCES bots (id) ON DELETE SET NULL,
    strategy_kind        text        NOT NULL,
    -- The params every combination starts from (swept ones are written over them).
    base_params          jsonb       NOT NULL,
    -- [[name, [values…]], …]: the checked axes, in name order.
    space                jsonb       NOT NULL,
    mode                 text        NOT NULL CHECK (mode IN ('grid', 'random')),
    samples              integer     CHECK (samples > 0),
    seed                 bigint,
    -- {folds, out_of_sample_pct} and the folds it cut, or NULL for a plain sweep.
    walk_forward         jsonb,
    folds                jsonb,
    -- What in-sample optimisation picks the best combination by (a ranking sort key).
    objective            text        NOT NULL,
    symbol               text        NOT NULL CHECK (symbol IN ('ES', 'NQ', 'MES', 'MNQ', 'RTY', 'YM')),
    timeframe            text        NOT NULL CHECK (timeframe IN ('1s', '1m', '5m', '15m', '1h', '1d')),
    range_from           timestamptz NOT NULL,
    range_to             timestamptz NOT NULL CHECK (range_to > range_from),
    -- Valid combinations run, combinations skipped as invalid strategies (fast >= slow …),
    -- and child backtests (combinations × windows).
    combinations         integer     NOT NULL CHECK (combinations > 0),
    skipped              integer     NOT NULL DEFAULT 0 CHECK (skipped >= 0),
    backtests            integer     NOT NULL CHECK (backtests > 0),
    created_by           text,
    created_at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX backtest_sweeps_created_idx ON backtest_sweeps (created_at DESC, id DESC);

ALTER TABLE backtests
    ADD COLUMN sweep_id          uuid    REFERENCES backtest_sweeps (id) ON DELETE CASCADE,
    ADD COLUMN sweep_combination integer CHECK (sweep_combination >= 0),
    ADD COLUMN sweep_fold        integer CHECK (sweep_fold >= 0),
    ADD COLUMN sweep_window      text    CHECK (sweep_window IN ('FULL', 'IN_SAMPLE', 'OUT_OF_SAMPLE')),
    ADD CONSTRAINT backtests_sweep_fields CHECK (
        (sweep_id IS NULL) = (sweep_combination IS NULL)
        AND (sweep_id IS NULL) = (sweep_window IS NULL));
CREATE INDEX backtests_sweep_idx ON backtests (sweep_id, sweep_combination, sweep_fold)
    WHERE sweep_id IS NOT NULL;
