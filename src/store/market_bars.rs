//! `market_bars`: bars fetched from market-data providers, cached per series (provider, root,
//! contract, timeframe) and bar start; each row names the listed contract it came from
//! (`domain::contracts`). The one place a `domain::bars::Bar` becomes a row and back: prices
//! are `numeric` (the decoder's exact on-tick `Decimal`s), volume a `numeric` count.
//! `market_bar_coverage` records which ranges of a series were asked of the provider, so a
//! backtest fetches only the gaps ([`gaps`], [`mark_covered`]) and reads the rest ([`range`]).

use chrono::{DateTime, Utc};
use rust_decimal::{Decimal, prelude::ToPrimitive};
use sqlx::PgPool;

use crate::domain::{
    bars::Bar,
    contracts::{Contract, Segment},
    instruments::Symbol,
    timeframe::Timeframe,
};

/// The series a bar belongs to: the cache key without the bar's start.
#[derive(Debug, Clone, Copy)]
pub struct Series<'a> {
    pub provider_id: &'a str,
    /// The root (`ES`), the `symbol` column.
    pub symbol: Symbol,
    /// The listed contract the bars came from (`ESZ26`), the `contract` column.
    pub contract: Contract,
    pub timeframe: Timeframe,
}

/// The newest cached bar of a symbol, with where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct LatestBar {
    pub provider_id: String,
    pub timeframe: Timeframe,
    pub bar: Bar,
}

#[derive(sqlx::FromRow)]
struct Row {
    provider_id: String,
    timeframe: Timeframe,
    ts: DateTime<Utc>,
    open: Decimal,
    high: Decimal,
    low: Decimal,
    close: Decimal,
    volume: Decimal,
}

fn decode_error(what: String) -> sqlx::Error {
    sqlx::Error::Decode(what.into())
}

impl TryFrom<Row> for LatestBar {
    type Error = sqlx::Error;
    fn try_from(r: Row) -> Result<Self, sqlx::Error> {
        let volume = r
            .volume
            .to_u64()
            .ok_or_else(|| decode_error(format!("market_bars.volume {}", r.volume)))?;
        Ok(LatestBar {
            provider_id: r.provider_id,
            timeframe: r.timeframe,
            bar: Bar {
                ts_open: r.ts,
                open: r.open,
                high: r.high,
                low: r.low,
                close: r.close,
                volume,
            },
        })
    }
}

/// Inserts or refreshes the bars of one series in one statement (idempotent per bar start).
pub async fn upsert_many(
    pool: &PgPool,
    series: Series<'_>,
    bars: &[Bar],
) -> Result<u64, sqlx::Error> {
    if bars.is_empty() {
        return Ok(0);
    }
    let col = |f: fn(&Bar) -> Decimal| bars.iter().map(f).collect::<Vec<Decimal>>();
    let done = sqlx::query(
        "INSERT INTO market_bars (provider_id, symbol, contract, timeframe, ts, open, high, low, close, volume) \
         SELECT $1::text, $2::text, $3::text, $4::text, * FROM UNNEST($5::timestamptz[], $6::numeric[], \
                                          $7::numeric[], $8::numeric[], $9::numeric[], $10::numeric[]) \
         ON CONFLICT (provider_id, symbol, timeframe, ts, contract) DO UPDATE SET open = EXCLUDED.open, \
         high = EXCLUDED.high, low = EXCLUDED.low, close = EXCLUDED.close, volume = EXCLUDED.volume, \
         fetched_at = now()",
    )
    .bind(series.provider_id)
    .bind(series.symbol)
    .bind(series.contract.code())
    .bind(series.timeframe)
    .bind(bars.iter().map(|b| b.ts_open).collect::<Vec<_>>())
    .bind(col(|b| b.open))
    .bind(col(|b| b.high))
    .bind(col(|b| b.low))
    .bind(col(|b| b.close))
    .bind(col(|b| Decimal::from(b.volume)))
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

/// The newest cached bar of a symbol (any provider or timeframe): the mark for open PnL.
pub async fn latest(pool: &PgPool, symbol: &str) -> Result<Option<LatestBar>, sqlx::Error> {
    let row: Option<Row> = sqlx::query_as(
        "SELECT provider_id, timeframe, ts, open, high, low, close, volume FROM market_bars \
         WHERE symbol = $1 ORDER BY ts DESC LIMIT 1",
    )
    .bind(symbol)
    .fetch_optional(pool)
    .await?;
    row.map(LatestBar::try_from).transpose()
}

/// The newest stored bar of `contract` at `timeframe` that opened at or before `at` (any
/// provider): the price a flatten without a runner fills against, and a restored position's
/// mark. Never another contract's bar: after a roll the new front contract trades at another
/// price (a position on the old one priced at it would book a made-up PnL).
pub async fn latest_at(
    pool: &PgPool,
    contract: Contract,
    timeframe: Timeframe,
    at: DateTime<Utc>,
) -> Result<Option<LatestBar>, sqlx::Error> {
    let row: Option<Row> = sqlx::query_as(
        "SELECT provider_id, timeframe, ts, open, high, low, close, volume FROM market_bars \
         WHERE symbol = $1 AND contract = $4 AND timeframe = $2 AND ts <= $3 \
         ORDER BY ts DESC LIMIT 1",
    )
    .bind(contract.root)
    .bind(timeframe)
    .bind(at)
    .bind(contract.code())
    .fetch_optional(pool)
    .await?;
    row.map(LatestBar::try_from).transpose()
}

/// One stored bar with its source and contract (the API's view).
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct StoredBar {
    pub provider_id: String,
    pub contract: String,
    pub ts: DateTime<Utc>,
    pub open: Decimal,
    pub high: Decimal,
    pub low: Decimal,
    pub close: Decimal,
    pub volume: Decimal,
}

/// The front-month series of `symbol` at `timeframe`: for each piece of `segments` (a range
/// cut at the rolls, `domain::contracts::front_segments`) the bars of that piece's contract,
/// one per bar start, from the first provider of `providers` that has it. Oldest first, bar
/// starts after `after`, at most `limit` rows.
pub async fn front_series(
    pool: &PgPool,
    symbol: Symbol,
    timeframe: Timeframe,
    segments: &[Segment],
    providers: &[&str],
    after: Option<DateTime<Utc>>,
    limit: i64,
) -> Result<Vec<StoredBar>, sqlx::Error> {
    sqlx::query_as(
        "SELECT DISTINCT ON (b.ts) b.provider_id, b.contract, b.ts, b.open, b.high, b.low, \
                b.close, b.volume \
         FROM market_bars b \
         JOIN UNNEST($3::text[], $4::timestamptz[], $5::timestamptz[]) AS s(contract, from_ts, to_ts) \
           ON b.contract = s.contract AND b.ts >= s.from_ts AND b.ts < s.to_ts \
         WHERE b.symbol = $1 AND b.timeframe = $2 AND b.provider_id = ANY($6::text[]) \
           AND ($7::timestamptz IS NULL OR b.ts > $7) \
         ORDER BY b.ts, array_position($6::text[], b.provider_id) \
         LIMIT $8",
    )
    .bind(symbol)
    .bind(timeframe)
    .bind(segments.iter().map(|s| s.contract.code()).collect::<Vec<_>>())
    .bind(segments.iter().map(|s| s.from).collect::<Vec<_>>())
    .bind(segments.iter().map(|s| s.to).collect::<Vec<_>>())
    .bind(providers)
    .bind(after)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// The cached bars of a series that start in `[from, to)`, oldest first.
pub async fn range(
    pool: &PgPool,
    series: Series<'_>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<Bar>, sqlx::Error> {
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT provider_id, timeframe, ts, open, high, low, close, volume FROM market_bars \
         WHERE provider_id = $1 AND symbol = $2 AND contract = $6 AND timeframe = $3 AND ts >= $4 AND ts < $5 \
         ORDER BY ts",
    )
    .bind(series.provider_id)
    .bind(series.symbol)
    .bind(series.timeframe)
    .bind(from)
    .bind(to)
    .bind(series.contract.code())
    .fetch_all(pool)
    .await?;
    rows.into_iter()
        .map(|r| LatestBar::try_from(r).map(|l| l.bar))
        .collect()
}

/// The parts of `[from, to)` not yet covered for the series, oldest first (all of it when
/// nothing is; none when `from >= to`).
pub async fn gaps(
    pool: &PgPool,
    series: Series<'_>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<(DateTime<Utc>, DateTime<Utc>)>, sqlx::Error> {
    if from >= to {
        return Ok(Vec::new());
    }
    sqlx::query_as(
        "SELECT lower(g), upper(g) FROM unnest( \
             tstzmultirange(tstzrange($4, $5)) - COALESCE( \
                 (SELECT range_agg(covered) FROM market_bar_coverage \
                  WHERE provider_id = $1 AND symbol = $2 AND contract = $6 AND timeframe = $3 \
                    AND covered && tstzrange($4, $5)), \
                 '{}'::tstzmultirange)) AS g \
         ORDER BY 1",
    )
    .bind(series.provider_id)
    .bind(series.symbol)
    .bind(series.timeframe)
    .bind(from)
    .bind(to)
    .bind(series.contract.code())
    .fetch_all(pool)
    .await
}

/// Records that every bar of the series in `[from, to)` is stored, merging the range with
/// the ones it overlaps or touches (one row per contiguous covered stretch). Writers of one
/// series are serialised by an advisory lock.
pub async fn mark_covered(
    pool: &PgPool,
    series: Series<'_>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    if from >= to {
        return Ok(());
    }
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1 || '/' || $2 || '/' || $3 || '/' || $4, 0))")
        .bind(series.provider_id)
        .bind(series.symbol)
        .bind(series.timeframe)
        .bind(series.contract.code())
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "WITH gone AS ( \
             DELETE FROM market_bar_coverage \
             WHERE provider_id = $1 AND symbol = $2 AND contract = $6 AND timeframe = $3 \
               AND (covered && tstzrange($4, $5) OR covered -|- tstzrange($4, $5)) \
             RETURNING covered) \
         INSERT INTO market_bar_coverage (provider_id, symbol, contract, timeframe, covered) \
         SELECT $1, $2, $6, $3, range_merge( \
             COALESCE(range_agg(covered), '{}'::tstzmultirange) + tstzmultirange(tstzrange($4, $5))) \
         FROM gone",
    )
    .bind(series.provider_id)
    .bind(series.symbol)
    .bind(series.timeframe)
    .bind(from)
    .bind(to)
    .bind(series.contract.code())
    .execute(&mut *tx)
    .await?;
    tx.commit().await
}
