-- The bar feed's failover state per series (root × timeframe), shared by the nodes (issue 16):
-- which provider serves the series under which route and, while on the secondary, since which
-- boundary the primary has been healthy (the hysteresis streak). A restarted node, or another
-- node reading the same series, continues from this row instead of starting on the primary.
CREATE TABLE feed_sources (
    symbol        text        NOT NULL,
    timeframe     text        NOT NULL,
    -- The route the state belongs to; a row of another route (configuration changed) is ignored.
    primary_id    text        NOT NULL,
    secondary_id  text        NOT NULL CHECK (secondary_id <> primary_id),
    -- The provider serving the series: the route's primary or its secondary.
    provider_id   text        NOT NULL CHECK (provider_id IN (primary_id, secondary_id)),
    -- Only on the secondary: the first boundary of the primary's current healthy streak.
    healthy_since timestamptz CHECK (healthy_since IS NULL OR provider_id = secondary_id),
    -- The boundary whose judgement wrote the row: a write never replaces a later one.
    observed_at   timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    PRIMARY KEY (symbol, timeframe)
);
