//! `market_bars`: bars fetched from market-data providers, cached by provider, symbol,
//! timeframe and bar start.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct MarketBar {
    pub provider_id: String,
    pub symbol: String,
    pub timeframe: String,
    pub ts: DateTime<Utc>,
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub close: f64,
    pub volume: f64,
}

/// Inserts or refreshes bars in one statement.
pub async fn upsert_many(pool: &PgPool, bars: &[MarketBar]) -> Result<u64, sqlx::Error> {
    if bars.is_empty() {
        return Ok(0);
    }
    let col = |f: fn(&MarketBar) -> f64| bars.iter().map(f).collect::<Vec<f64>>();
    let done = sqlx::query(
        "INSERT INTO market_bars (provider_id, symbol, timeframe, ts, open, high, low, close, volume) \
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::float8[], \
                              $6::float8[], $7::float8[], $8::float8[], $9::float8[]) \
         ON CONFLICT (provider_id, symbol, timeframe, ts) DO UPDATE SET open = EXCLUDED.open, \
         high = EXCLUDED.high, low = EXCLUDED.low, close = EXCLUDED.close, volume = EXCLUDED.volume, \
         fetched_at = now()",
    )
    .bind(bars.iter().map(|b| b.provider_id.clone()).collect::<Vec<_>>())
    .bind(bars.iter().map(|b| b.symbol.clone()).collect::<Vec<_>>())
    .bind(bars.iter().map(|b| b.timeframe.clone()).collect::<Vec<_>>())
    .bind(bars.iter().map(|b| b.ts).collect::<Vec<_>>())
    .bind(col(|b| b.open))
    .bind(col(|b| b.high))
    .bind(col(|b| b.low))
    .bind(col(|b| b.close))
    .bind(col(|b| b.volume))
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

/// Cached bars in `[from, to)`, oldest first.
pub async fn range(
    pool: &PgPool,
    provider_id: &str,
    symbol: &str,
    timeframe: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<MarketBar>, sqlx::Error> {
    sqlx::query_as(
        "SELECT provider_id, symbol, timeframe, ts, open, high, low, close, volume FROM market_bars \
         WHERE provider_id = $1 AND symbol = $2 AND timeframe = $3 AND ts >= $4 AND ts < $5 ORDER BY ts",
    )
    .bind(provider_id)
    .bind(symbol)
    .bind(timeframe)
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await
}

/// The newest cached bar of a symbol (any provider or timeframe): the mark for open PnL.
pub async fn latest(pool: &PgPool, symbol: &str) -> Result<Option<MarketBar>, sqlx::Error> {
    sqlx::query_as(
        "SELECT provider_id, symbol, timeframe, ts, open, high, low, close, volume FROM market_bars \
         WHERE symbol = $1 ORDER BY ts DESC LIMIT 1",
    )
    .bind(symbol)
    .fetch_optional(pool)
    .await
}
