//! `feed_sources`: the bar feed's failover state per series (root × timeframe), shared by the
//! nodes. `runtime::feed` loads a series' row once per boundary and writes it when its state
//! changes; a write carries the boundary it judged and never replaces a later one.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::domain::{instruments::Symbol, timeframe::Timeframe};

/// One series' recorded state.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct FeedSourceRow {
    pub primary_id: String,
    pub secondary_id: String,
    /// The provider serving the series (`primary_id` or `secondary_id`).
    pub provider_id: String,
    pub healthy_since: Option<DateTime<Utc>>,
    /// The boundary whose judgement wrote the row.
    pub observed_at: DateTime<Utc>,
}

/// The recorded state of `symbol` × `timeframe`, if any.
pub async fn get(
    pool: &PgPool,
    symbol: Symbol,
    timeframe: Timeframe,
) -> Result<Option<FeedSourceRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT primary_id, secondary_id, provider_id, healthy_since, observed_at \
         FROM feed_sources WHERE symbol = $1 AND timeframe = $2",
    )
    .bind(symbol)
    .bind(timeframe)
    .fetch_optional(pool)
    .await
}

/// Records the state of `symbol` × `timeframe` unless a later boundary's is already recorded;
/// `true` when written.
pub async fn record(
    pool: &PgPool,
    symbol: Symbol,
    timeframe: Timeframe,
    row: &FeedSourceRow,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO feed_sources (symbol, timeframe, primary_id, secondary_id, provider_id, \
                                   healthy_since, observed_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         ON CONFLICT (symbol, timeframe) DO UPDATE SET primary_id = EXCLUDED.primary_id, \
           secondary_id = EXCLUDED.secondary_id, provider_id = EXCLUDED.provider_id, \
           healthy_since = EXCLUDED.healthy_since, observed_at = EXCLUDED.observed_at, \
           updated_at = EXCLUDED.updated_at \
         WHERE feed_sources.observed_at <= EXCLUDED.observed_at",
    )
    .bind(symbol)
    .bind(timeframe)
    .bind(&row.primary_id)
    .bind(&row.secondary_id)
    .bind(&row.provider_id)
    .bind(row.healthy_since)
    .bind(row.observed_at)
    .bind(now)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}
