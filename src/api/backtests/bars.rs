//! `GET /api/backtests/{id}/bars`: the stored bars over a backtest's range, merged into at most
//! `max_candles` candles for its price chart.

use axum::extract::State;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::api::{
    ApiError, ApiOk, ApiPath, ApiQuery, ApiResult, AppState,
    envelope::{Envelope, ErrorEnvelope},
};
use crate::runtime::backtests::BacktestError;
use crate::store::backtests;

/// Candles a chart may ask for at most.
const MAX_CANDLES: u32 = 10_000;
/// Candles without `max_candles`.
const DEFAULT_CANDLES: u32 = 2_000;
/// Stored bars read per round trip while thinning.
const BARS_PAGE: i64 = 50_000;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BacktestBarsQuery {
    /// At most this many candles, 1–10,000 (default 2,000): bars are merged into candles of a
    /// whole number of bars when the range holds more.
    pub max_candles: Option<u32>,
}

/// One candle of a backtest's price chart (one bar, or several merged).
#[derive(Debug, Serialize, ToSchema)]
pub struct Candle {
    /// Start of the candle.
    pub ts: DateTime<Utc>,
    #[schema(value_type = String)]
    pub open: Decimal,
    #[schema(value_type = String)]
    pub high: Decimal,
    #[schema(value_type = String)]
    pub low: Decimal,
    #[schema(value_type = String)]
    pub close: Decimal,
    /// Contracts traded (summed over the merged bars).
    pub volume: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BacktestBars {
    pub backtest_id: Uuid,
    pub symbol: crate::domain::instruments::Symbol,
    pub timeframe: crate::domain::timeframe::Timeframe,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// Seconds each candle spans (a whole number of the timeframe's bars).
    pub bucket_seconds: i64,
    /// Stored bars read over the range (before merging).
    pub source_bars: u64,
    /// The providers the bars were read from, in preference order (the backtest's own first).
    pub providers: Vec<String>,
    /// Oldest first; a span without bars (market closed) has no candle.
    pub candles: Vec<Candle>,
}

/// The front-month bars over a backtest's range as stored (what the run read), merged into at
/// most `max_candles` candles, for its price chart with entry and exit markers. Bars the run
/// has not loaded yet (QUEUED) are not there: the answer is then empty, not an error.
#[utoipa::path(
    get,
    path = "/api/backtests/{id}/bars",
    tag = "backtests",
    params(("id" = Uuid, Path, description = "Backtest id"), BacktestBarsQuery),
    responses(
        (status = 200, body = Envelope<BacktestBars>),
        (status = 404, description = "`BACKTEST_NOT_FOUND`", body = ErrorEnvelope),
        (status = 422, description = "The id is not a UUID, or `max_candles` is out of 1–10,000 (`VALIDATION_FAILED`)", body = ErrorEnvelope),
        (status = 503, description = "`DATABASE_UNAVAILABLE`", body = ErrorEnvelope),
    )
)]
pub(super) async fn backtest_bars(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<BacktestBarsQuery>,
) -> ApiResult<BacktestBars> {
    use crate::domain::bars::{Bar, Thinner, chart_bucket_seconds};
    use rust_decimal::prelude::ToPrimitive;

    let id: Uuid = id
        .parse()
        .map_err(|_| ApiError::validation("id", "is not a UUID"))?;
    let max_candles = query.max_candles.unwrap_or(DEFAULT_CANDLES);
    if !(1..=MAX_CANDLES).contains(&max_candles) {
        return Err(ApiError::validation(
            "max_candles",
            format!("must be between 1 and {MAX_CANDLES}"),
        ));
    }
    let bt = backtests::get(&state.pool, id)
        .await?
        .ok_or(BacktestError::NotFound(id))?;
    let mut providers: Vec<&str> = Vec::new();
    if let Some(own) = bt.provider_id.as_deref() {
        providers.push(own);
    }
    for p in crate::integrations::bars::PROVIDERS {
        if !providers.contains(&p) {
            providers.push(p);
        }
    }
    let bucket_seconds = chart_bucket_seconds(bt.timeframe, bt.from, bt.to, max_candles);
    let segments = crate::domain::contracts::front_segments(bt.symbol, bt.from, bt.to);
    let mut thinner = Thinner::new(bt.from, bucket_seconds);
    let mut source_bars = 0u64;
    let mut after = None;
    loop {
        let page = crate::store::market_bars::front_series(
            &state.pool,
            bt.symbol,
            bt.timeframe,
            &segments,
            &providers,
            after,
            BARS_PAGE,
        )
        .await?;
        let full = page.len() as i64 == BARS_PAGE;
        for row in &page {
            source_bars += 1;
            thinner.push(&Bar {
                ts_open: row.ts,
                open: row.open,
                high: row.high,
                low: row.low,
                close: row.close,
                volume: row.volume.to_u64().unwrap_or(0),
            });
        }
        after = page.last().map(|r| r.ts);
        if !full {
            break;
        }
    }
    let candles = thinner
        .finish()
        .into_iter()
        .map(|b| Candle {
            ts: b.ts_open,
            open: b.open,
            high: b.high,
            low: b.low,
            close: b.close,
            volume: b.volume,
        })
        .collect();
    Ok(ApiOk::new(BacktestBars {
        backtest_id: bt.id,
        symbol: bt.symbol,
        timeframe: bt.timeframe,
        from: bt.from,
        to: bt.to,
        bucket_seconds,
        source_bars,
        providers: providers.into_iter().map(str::to_owned).collect(),
        candles,
    }))
}
