-- Every AI action's prompt and answer (truncated), kept for audit: what the LLM was shown,
-- what it said, who answered, and a refusal when none could.
CREATE TABLE ai_interactions (
    id uuid PRIMARY KEY,
    created_at timestamptz NOT NULL,
    action text NOT NULL,
    bot_id uuid REFERENCES bots (id) ON DELETE CASCADE,
    status text NOT NULL CHECK (status IN ('OK', 'REFUSED')),
    provider_id text,
    model text,
    error_code text,
    prompt text NOT NULL,
    answer text,
    cited_trace_ids jsonb NOT NULL DEFAULT '[]',
    attempts jsonb NOT NULL DEFAULT '[]',
    input_tokens bigint,
    output_tokens bigint,
    cost_usd numeric,
    trace_id text NOT NULL
);

CREATE INDEX ai_interactions_bot_created ON ai_interactions (bot_id, created_at DESC);
-- AI Ops reads every action's outcomes over a window.
CREATE INDEX ai_interactions_created ON ai_interactions (created_at);
