-- What was asked of a provider per bar series (provider, root, listed contract, timeframe):
-- the ranges whose bars are all in market_bars (a range with no bars, a weekend or a halt, is
-- covered too, so it is not asked again). Ranges of one series are merged on write; gaps =
-- requested range minus their union.
CREATE TABLE market_bar_coverage (
    provider_id  text        NOT NULL,
    symbol       text        NOT NULL,
    contract     text        NOT NULL,
    timeframe    text        NOT NULL,
    covered      tstzrange   NOT NULL CHECK (NOT isempty(covered) AND NOT lower_inf(covered) AND NOT upper_inf(covered)),
    updated_at   timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX market_bar_coverage_series_idx ON market_bar_coverage (provider_id, symbol, contract, timeframe);
