//! Historical OHLCV from a market-data provider, cached in `market_bars`. Each vendor request
//! is a usage event (status OK/ERROR, action `bars.fetch`): the proof that data is used.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use databento::dbn::Schema;
use rust_decimal::Decimal;

use super::{
    http::CallContext,
    outcome::Failure,
    providers::{
        ProviderClient, databento as dbn_client,
        market_data::{Bar, polygon_aggregates},
    },
};
use crate::domain::{bars as domain_bars, timeframe::Timeframe};
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

/// Databento's schema for a timeframe, and whether its bars are aggregated locally: Databento
/// has no 5m/15m schema, so those are built from ohlcv-1m.
const fn databento_schema(tf: Timeframe) -> (Schema, bool) {
    match tf {
        Timeframe::S1 => (Schema::Ohlcv1S, false),
        Timeframe::M1 => (Schema::Ohlcv1M, false),
        Timeframe::M5 | Timeframe::M15 => (Schema::Ohlcv1M, true),
        Timeframe::H1 => (Schema::Ohlcv1H, false),
        Timeframe::D1 => (Schema::Ohlcv1D, false),
    }
}

/// A decoded bar as the cache stores it; `mantissa / 10^scale` gives exactly the float the
/// fixed-point price would (DBN prices are scale 9), whether or not the bar was aggregated.
fn vendor_bar(b: &domain_bars::Bar) -> Bar {
    let px = |d: Decimal| d.mantissa() as f64 / 10f64.powi(d.scale() as i32);
    Bar {
        ts: b.ts_open,
        open: px(b.open),
        high: px(b.high),
        low: px(b.low),
        close: px(b.close),
        volume: b.volume as f64,
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BarsError {
    #[error("{0} has no bars client")]
    Unsupported(String),
    #[error("{}: {}", .0.code, .0.message)]
    Provider(Failure),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Whether `provider_id` has a bars client.
pub fn supports(provider_id: &str) -> bool {
    matches!(provider_id, "polygon" | "databento")
}

/// Whether an intraday bar starting at `ts` has ended by `to`: a bar still forming at `to`
/// (Polygon sends the partial bucket) is not passed off as complete.
fn ends_by(ts: DateTime<Utc>, tf: Timeframe, to: DateTime<Utc>) -> bool {
    // At most 86,400 s: the cast cannot wrap.
    ts.checked_add_signed(chrono::Duration::seconds(tf.seconds() as i64))
        .is_some_and(|end| end <= to)
}

/// Fetches the bars that lie in `[from, to)` with the provider's client and caches them;
/// returns them oldest first. Intraday bars must end by `to`; 1d bars follow the vendor's
/// session and count if they start in range. 5m/15m from Databento are built from ohlcv-1m
/// (only buckets the range covers). Called by the provider's ProviderActor
/// (`RuntimeHandle::fetch_bars`), so its circuit breaker applies.
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
            let (schema, aggregate) = databento_schema(timeframe);
            let bars = dbn_client::ohlcv(client, symbol, schema, from, to, ctx)
                .await
                .map_err(BarsError::Provider)?;
            let bars = if aggregate {
                domain_bars::aggregate(&bars, timeframe, from, to)
            } else {
                bars
            };
            bars.iter().map(vendor_bar).collect()
        }
        other => return Err(BarsError::Unsupported(other.to_owned())),
    };
    let rows: Vec<MarketBar> = bars
        .into_iter()
        .filter(|b| {
            b.ts >= from
                && b.ts < to
                && (timeframe == Timeframe::D1 || ends_by(b.ts, timeframe, to))
        })
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
