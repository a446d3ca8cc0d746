-- SPEC §6: one autonomy score per bot, recomputed by the scorer from evidence.
CREATE TABLE autonomy_scores (
    bot_id                  uuid        PRIMARY KEY REFERENCES bots (id) ON DELETE CASCADE,
    autonomy_score          integer     NOT NULL CHECK (autonomy_score BETWEEN 0 AND 100),
    data_reliability_score  integer     NOT NULL CHECK (data_reliability_score BETWEEN 0 AND 100),
    decision_quality_score  integer     NOT NULL CHECK (decision_quality_score BETWEEN 0 AND 100),
    risk_discipline_score   integer     NOT NULL CHECK (risk_discipline_score BETWEEN 0 AND 100),
    execution_health_score  integer     NOT NULL CHECK (execution_health_score BETWEEN 0 AND 100),
    supervisor_trust_score  integer     NOT NULL CHECK (supervisor_trust_score BETWEEN 0 AND 100),
    autonomy_tier           text        NOT NULL CHECK (autonomy_tier IN
                                ('LOCKED', 'SUPERVISED', 'LIMITED_AUTONOMY', 'FULL_AUTONOMY')),
    breakdown               jsonb       NOT NULL,
    last_updated_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX autonomy_scores_tier_idx ON autonomy_scores (autonomy_tier);
