-- The news gate (issue 19): Finnhub market-news headlines, each classified once by an LLM
-- (risk_on | risk_off | neutral; NULL until classified), and the gate's shared status (one
-- row) so every node's runners see whether fetching and classification are keeping up.
CREATE TABLE news_headlines (
    provider_id text NOT NULL,
    headline_id bigint NOT NULL,
    headline text NOT NULL,
    source text NOT NULL DEFAULT '',
    category text NOT NULL DEFAULT 'general',
    published_at timestamptz NOT NULL,
    fetched_at timestamptz NOT NULL,
    class text CHECK (class IN ('risk_on', 'risk_off', 'neutral')),
    classified_at timestamptz,
    model text,
    trace_id text,
    PRIMARY KEY (provider_id, headline_id),
    CHECK ((class IS NULL) = (classified_at IS NULL))
);

-- The gate reads risk-off headlines by publication time; the classifier the unclassified ones.
CREATE INDEX news_headlines_published ON news_headlines (published_at DESC);
CREATE INDEX news_headlines_unclassified ON news_headlines (fetched_at) WHERE class IS NULL;

CREATE TABLE news_gate_status (
    id boolean PRIMARY KEY DEFAULT true CHECK (id),
    last_fetch_at timestamptz,
    last_fetch_ok_at timestamptz,
    last_fetch_error text,
    last_classify_at timestamptz,
    last_classify_ok_at timestamptz,
    -- Set when the latest classification attempt failed; cleared by the next success.
    classify_error_code text,
    classify_error text
);
INSERT INTO news_gate_status (id) VALUES (true);
