//! Historical OHLCV from a market-data provider, cached in `market_bars`. Each vendor request
//! is a usage event (status OK/ERROR, action `bars.fetch`): the proof that data is used.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use databento::dbn::Schema;

use super::{
    http::CallContext,
    outcome::Failure,
    providers::{ProviderClient, databento as dbn_client, market_data::polygon_aggregates},
};
use crate::domain::{
    bars::{self as domain_bars, Bar},
    instruments::Symbol,
    timeframe::Timeframe,
};
use crate::store::market_bars::{self, Series};

/// The market-data providers with a bars client, in the order runners prefer them (SPEC §7):
/// the one list every reader of "where do bars come from" uses.
pub const PROVIDERS: [&str; 2] = ["databento", "polygon"];

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

/// One bars request: `symbol` is what the vendor is asked for (`ES`, `ES.c.0`) and keys the
/// cache; `instrument` is the contract whose tick grid the decoder snaps the prices onto.
#[derive(Debug, Clone)]
pub struct BarsRequest {
    pub instrument: Symbol,
    pub symbol: String,
    pub timeframe: Timeframe,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub ctx: CallContext,
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
    PROVIDERS.contains(&provider_id)
}

/// The provider runners read bars from: the first of [`PROVIDERS`] that is configured.
pub fn feed_provider(integrations: &super::Integrations) -> Option<&'static str> {
    PROVIDERS
        .into_iter()
        .find(|p| integrations.client(p).is_some())
}

/// Whether an intraday bar starting at `ts` has ended by `to`: a bar still forming at `to`
/// (Polygon sends the partial bucket) is not passed off as complete.
fn ends_by(ts: DateTime<Utc>, tf: Timeframe, to: DateTime<Utc>) -> bool {
    ts.checked_add_signed(tf.duration())
        .is_some_and(|end| end <= to)
}

/// Fetches the bars that lie in `[from, to)` with the provider's client and caches them;
/// returns them oldest first, prices on the instrument's tick grid (snapped by the decoders).
/// Intraday bars must end by `to`; 1d bars follow the vendor's session and count if they start
/// in range. 5m/15m from Databento are built from ohlcv-1m (only buckets the range covers).
/// Called by the provider's ProviderActor (`RuntimeHandle::fetch_bars`), so its circuit
/// breaker applies.
pub async fn fetch_bars(
    client: &ProviderClient,
    pool: &PgPool,
    request: &BarsRequest,
) -> Result<Vec<Bar>, BarsError> {
    let BarsRequest {
        instrument,
        ref symbol,
        timeframe,
        from,
        to,
        ctx,
    } = *request;
    let spec = instrument.spec();
    let provider_id = client.id();
    let bars: Vec<Bar> = match provider_id {
        "polygon" => polygon_aggregates(client, &spec, symbol, timeframe, from, to, ctx)
            .await
            .map_err(BarsError::Provider)?,
        "databento" => {
            let (schema, aggregate) = databento_schema(timeframe);
            let bars = dbn_client::ohlcv(client, &spec, symbol, schema, from, to, ctx)
                .await
                .map_err(BarsError::Provider)?;
            if aggregate {
                domain_bars::aggregate(&bars, timeframe, from, to)
            } else {
                bars
            }
        }
        other => return Err(BarsError::Unsupported(other.to_owned())),
    };
    let bars: Vec<Bar> = bars
        .into_iter()
        .filter(|b| {
            b.ts_open >= from
                && b.ts_open < to
                && (timeframe == Timeframe::D1 || ends_by(b.ts_open, timeframe, to))
        })
        .collect();
    let series = Series {
        provider_id,
        symbol,
        timeframe,
    };
    market_bars::upsert_many(pool, series, &bars).await?;
    Ok(bars)
}
