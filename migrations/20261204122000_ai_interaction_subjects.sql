-- AI actions about something other than a bot (issue 19): a backtest review names the backtest
-- or sweep it reviewed and keeps the checks it computed (without the LLM) beside the prompt and
-- answer, so the audit row shows what the summary was written from.
ALTER TABLE ai_interactions
    ADD COLUMN subject_kind text CHECK (subject_kind IN ('backtest', 'sweep')),
    ADD COLUMN subject_id uuid,
    ADD COLUMN findings jsonb,
    ADD CONSTRAINT ai_interactions_subject CHECK ((subject_kind IS NULL) = (subject_id IS NULL));

CREATE INDEX ai_interactions_subject_created ON ai_interactions (subject_kind, subject_id, created_at DESC)
    WHERE subject_id IS NOT NULL;
