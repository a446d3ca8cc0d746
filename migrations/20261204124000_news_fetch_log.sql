-- The news gate's fetch history (issue 19 follow-up): one row per Finnhub fetch, so a backtest
-- of a news-gated strategy can tell whether the stored headlines cover its range (fetched
-- without a gap longer than the gate's staleness bound) before it replays them.
CREATE TABLE news_fetch_log (
    at timestamptz NOT NULL,
    -- NULL: the fetch succeeded; otherwise why it failed.
    error text
);
CREATE INDEX news_fetch_log_ok ON news_fetch_log (at) WHERE error IS NULL;
