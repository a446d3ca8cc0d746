//! Historical OHLCV from a market-data provider, cached in `market_bars`. Each vendor request
//! is a usage event (status OK/ERROR, action `bars.fetch`): the proof that data is used.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use databento::dbn::Schema;

use super::{
    http::CallContext,
    outcome::Failure,
    providers::{ProviderClient, databento as dbn_client, market_data::massive_futures_aggregates},
};
use crate::domain::{
    bars::{self as domain_bars, Bar},
    contracts::{Contract, Segment, front_segments},
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

/// One bars request for a root (`instrument`, whose tick grid the decoder snaps prices onto):
/// of one listed `contract`, or with `None` the front-month series, cut at each roll
/// (`domain::contracts`) and each piece asked of the vendor as its own contract. A vendor is
/// never asked for a bare root.
#[derive(Debug, Clone)]
pub struct BarsRequest {
    pub instrument: Symbol,
    pub contract: Option<Contract>,
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

/// The first day a provider's bars client can serve (a range ending before it has no data):
/// Databento's CME Globex dataset `GLBX.MDP3` begins 2010-06-06. Massive's futures aggregates
/// are given the same bound (their earliest date is not in the vendor notes we hold); a range
/// inside history the vendor lacks still fails the job with `DATA_UNAVAILABLE`.
pub fn history_start(_provider_id: &str) -> DateTime<Utc> {
    DateTime::from_timestamp(1_275_782_400, 0).unwrap_or_default()
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

/// The vendors a series may be read from, in order of preference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeedRoute {
    pub primary: &'static str,
    /// `None`: only one market-data provider is configured, nothing to fail over to.
    pub secondary: Option<&'static str>,
}

/// The runners' route: the first configured of [`PROVIDERS`] and, to fail over to, the next.
pub fn feed_route(integrations: &super::Integrations) -> Option<FeedRoute> {
    let mut configured = PROVIDERS
        .into_iter()
        .filter(|p| integrations.client(p).is_some());
    Some(FeedRoute {
        primary: configured.next()?,
        secondary: configured.next(),
    })
}

/// Whether an intraday bar starting at `ts` has ended by `to`: a bar still forming at `to`
/// (Polygon sends the partial bucket) is not passed off as complete.
fn ends_by(ts: DateTime<Utc>, tf: Timeframe, to: DateTime<Utc>) -> bool {
    ts.checked_add_signed(tf.duration())
        .is_some_and(|end| end <= to)
}

/// The pieces of a request, each with the contract the vendor is asked for.
pub fn segments(request: &BarsRequest) -> Vec<Segment> {
    match request.contract {
        Some(contract) if request.from < request.to => vec![Segment {
            contract,
            from: request.from,
            to: request.to,
        }],
        Some(_) => Vec::new(),
        None => front_segments(request.instrument, request.from, request.to),
    }
}

/// Fetches the bars that lie in `[from, to)` with the provider's client and caches them with
/// the contract each came from; returns them oldest first, prices on the instrument's tick
/// grid (snapped by the decoders). One vendor request (or page chain) per contract piece.
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
        timeframe,
        to,
        ctx,
        ..
    } = *request;
    let provider_id = client.id();
    if !supports(provider_id) {
        return Err(BarsError::Unsupported(provider_id.to_owned()));
    }
    let mut out = Vec::new();
    for Segment {
        contract,
        from,
        to: piece_to,
    } in segments(request)
    {
        let bars: Vec<Bar> = match provider_id {
            "polygon" => {
                massive_futures_aggregates(client, &contract, timeframe, from, piece_to, ctx)
                    .await
                    .map_err(BarsError::Provider)?
            }
            _ => {
                let (schema, aggregate) = databento_schema(timeframe);
                let bars = dbn_client::ohlcv(client, &contract, schema, from, piece_to, ctx)
                    .await
                    .map_err(BarsError::Provider)?;
                if aggregate {
                    domain_bars::aggregate(&bars, timeframe, from, piece_to)
                } else {
                    bars
                }
            }
        };
        let bars: Vec<Bar> = bars
            .into_iter()
            .filter(|b| {
                b.ts_open >= from
                    && b.ts_open < piece_to
                    && (timeframe == Timeframe::D1 || ends_by(b.ts_open, timeframe, to))
            })
            .collect();
        let series = Series {
            provider_id,
            symbol: instrument,
            contract,
            timeframe,
        };
        market_bars::upsert_many(pool, series, &bars).await?;
        out.extend(bars);
    }
    Ok(out)
}

/// Stored bars of `symbol`'s front-month series in `[from, to)` (cut at the rolls), one per
/// bar start from the first of [`PROVIDERS`] that has it, oldest first, starts after `after`.
pub async fn stored_front_series(
    pool: &PgPool,
    symbol: Symbol,
    timeframe: Timeframe,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    after: Option<DateTime<Utc>>,
    limit: i64,
) -> Result<Vec<market_bars::StoredBar>, sqlx::Error> {
    let segments = front_segments(symbol, from, to);
    market_bars::front_series(pool, symbol, timeframe, &segments, &PROVIDERS, after, limit).await
}
