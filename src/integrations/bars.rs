//! Historical OHLCV from a market-data provider, cached in `market_bars`. Each vendor request
//! is a usage event (status OK/ERROR, action `bars.fetch`): the proof that data is used.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use super::{
    http::CallContext,
    outcome::Failure,
    providers::{
        ProviderClient,
        market_data::{Bar, polygon_aggregates},
    },
};
use crate::domain::timeframe::Timeframe;
use crate::store::market_bars::{self, MarketBar};

/// Polygon's `(multiplier, timespan)` for a timeframe.
const fn polygon_span(tf: Timeframe) -> (u32, &'static str) {
    match tf {
        Timeframe::S1 => (1, "second"),
        Timeframe::M1 => (1, "minute"),
        Timeframe::M5 => (5, "minute"),
        Timeframe::M15 => (15, "minute"),
        Timeframe::H1 => (1, "hour"),
        Timeframe::D1 => (1, "day"),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BarsError {
    #[error("{0} has no bars client")]
    Unsupported(String),
    #[error("{0} does not serve {1} bars")]
    UnsupportedTimeframe(String, &'static str),
    #[error("{}: {}", .0.code, .0.message)]
    Provider(Failure),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Whether `provider_id` has a bars client.
pub fn supports(provider_id: &str) -> bool {
    matches!(provider_id, "polygon" | "databento")
}

/// Fetches bars in `[from, to)` with the provider's client and caches them; returns them
/// oldest first. Called by the provider's ProviderActor (`RuntimeHandle::fetch_bars`), so its
/// circuit breaker applies.
pub async fn fetch_bars(
    client: &ProviderClient,
    pool: &PgPool,
    symbol: &str,
    timeframe: Timeframe,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    ctx: CallContext,
) -> Result<Vec<MarketBar>, BarsError> {
    let provider_id = client.id();
    let bars: Vec<Bar> = match provider_id {
        "polygon" => polygon_aggregates(
            client,
            symbol,
            polygon_span(timeframe).0,
            polygon_span(timeframe).1,
            &from.timestamp_millis().to_string(),
            // Polygon's `to` is inclusive.
            &(to.timestamp_millis() - 1).to_string(),
            ctx,
        )
        .await
        .map_err(BarsError::Provider)?,
        "databento" => {
            let schema = match timeframe {
                Timeframe::M1 => databento::dbn::Schema::Ohlcv1M,
                Timeframe::H1 => databento::dbn::Schema::Ohlcv1H,
                Timeframe::D1 => databento::dbn::Schema::Ohlcv1D,
                other => {
                    return Err(BarsError::UnsupportedTimeframe(
                        provider_id.to_owned(),
                        other.as_str(),
                    ));
                }
            };
            super::providers::databento::ohlcv(client, symbol, schema, from, to, ctx)
                .await
                .map_err(BarsError::Provider)?
        }
        other => return Err(BarsError::Unsupported(other.to_owned())),
    };
    let rows: Vec<MarketBar> = bars
        .into_iter()
        .filter(|b| b.ts >= from && b.ts < to)
        .map(|b| MarketBar {
            provider_id: provider_id.to_owned(),
            symbol: symbol.to_owned(),
            timeframe: timeframe.as_str().to_owned(),
            ts: b.ts,
            open: b.open,
            high: b.high,
            low: b.low,
            close: b.close,
            volume: b.volume,
        })
        .collect();
    market_bars::upsert_many(pool, &rows).await?;
    Ok(rows)
}
