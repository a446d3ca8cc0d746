-- Issue 19 §3: the economic calendar (FMP) and FRED observations the entry filters read,
-- refreshed by the leader's macro-data loop; runners read the stored copy, never the vendor.

-- One scheduled event as the vendor lists it; a refetch updates it in place.
CREATE TABLE economic_events (
    provider   text        NOT NULL,
    event      text        NOT NULL,
    country    text        NOT NULL,
    impact     text        NOT NULL,
    event_at   timestamptz NOT NULL,
    fetched_at timestamptz NOT NULL,
    PRIMARY KEY (provider, country, event, event_at)
);
CREATE INDEX economic_events_at_idx ON economic_events (event_at);

-- Every successful calendar fetch and the range it covered (freshness and coverage).
CREATE TABLE economic_calendar_fetches (
    id         uuid        PRIMARY KEY,
    provider   text        NOT NULL,
    range_from timestamptz NOT NULL,
    range_to   timestamptz NOT NULL,
    events     integer     NOT NULL,
    fetched_at timestamptz NOT NULL,
    CHECK (range_from < range_to)
);
CREATE INDEX economic_calendar_fetches_at_idx ON economic_calendar_fetches (fetched_at DESC);

-- FRED observations; `value` NULL where FRED says "." (missing).
CREATE TABLE fred_observations (
    series_id  text             NOT NULL,
    date       date             NOT NULL,
    value      double precision,
    fetched_at timestamptz      NOT NULL,
    PRIMARY KEY (series_id, date)
);

-- Variables with a value of their own (FRED series): the newest value and its date.
ALTER TABLE profit_variables
    ADD COLUMN latest_value double precision,
    ADD COLUMN value_as_of  date;
