//! `/api/backtests`: queue a backtest (a job of kind `backtest`), list them, read one with its
//! results. Every rule lives in `runtime::backtests`; this file only reads shapes.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::{
    ApiError, ApiJson, ApiOk, ApiPath, ApiQuery, ApiResult, AppState,
    auth::{CurrentUser, audit},
    envelope::{Envelope, ErrorEnvelope},
    pagination::{PageBody, PageParams},
};
use crate::domain::backtest::sweep::SortKey;
use crate::runtime::backtests::{self as runner, BacktestError, BacktestRequest};
use crate::runtime::sweeps::{self as sweeps, SweepError, SweepRequest, SweepView};
use crate::store::bots::Bot;
use crate::store::page::TimeRange;
use crate::store::sweeps::Sweep;
use crate::store::{
    audit_log::{NewAuditEntry, Outcome},
    backtests::{self, Backtest, BacktestFilter, BacktestTrade},
    jobs::JobRun,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_backtests, create_backtest))
        .routes(routes!(get_backtest))
        .routes(routes!(backtest_bars))
        .routes(routes!(list_sweeps, create_sweep))
        .routes(routes!(get_sweep))
        .routes(routes!(create_bot_from_backtest))
}

impl From<BacktestError> for ApiError {
    fn from(err: BacktestError) -> Self {
        match err {
            BacktestError::Invalid(e) => ApiError::validation(&e.field, e.problem),
            BacktestError::BotNotFound(id) => super::bots::not_found(id),
            BacktestError::NotFound(id) => ApiError::new(err.code())
                .message(format!("No backtest with id {id} exists."))
                .details(json!({ "backtest_id": id })),
            BacktestError::DataUnavailable { field, ref message } => ApiError::new(err.code())
                .message(message.clone())
                .details(json!({ "field": field })),
            BacktestError::Database(e) => e.into(),
        }
    }
}

/// How simulated orders fill.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FillInput {
    /// Ticks against every fill (default 1, at most 100).
    pub slippage_ticks: Option<u32>,
    /// USD per contract per fill, as a decimal string or number (default 2.25).
    #[schema(value_type = Option<String>)]
    pub commission_per_side: Option<Value>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateBacktest {
    /// Test this bot as it is now (its strategy, params and risk limits; its symbol and
    /// timeframe unless given). Exclusive with `strategy`.
    pub bot_id: Option<Uuid>,
    /// `{kind, params}` as a bot's (required without `bot_id`).
    #[schema(value_type = Option<Object>)]
    pub strategy: Option<Value>,
    /// Required without `bot_id`.
    pub symbol: Option<String>,
    /// Required without `bot_id`.
    pub timeframe: Option<String>,
    /// Start of the range (inclusive, RFC 3339).
    pub from: DateTime<Utc>,
    /// End of the range (exclusive, RFC 3339): not in the future, at most 1,100,000 bars.
    pub to: DateTime<Utc>,
    pub fill: Option<FillInput>,
    /// USD, decimal string or number (default 100000).
    #[schema(value_type = Option<String>)]
    pub starting_capital: Option<Value>,
    /// Any subset of the risk limits, over the bot's (or the timeframe's desk defaults);
    /// refused by field name (`risk.<field>`).
    #[schema(value_type = Option<crate::domain::risk::RiskLimitsPatch>)]
    pub risk: Option<Value>,
}

/// A decimal given as a string or a JSON number.
fn money(field: &str, raw: Option<&Value>) -> Result<Option<Decimal>, ApiError> {
    let text = match raw {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(_) => {
            return Err(ApiError::validation(
                field,
                "must be a decimal string or number",
            ));
        }
    };
    text.trim()
        .parse::<Decimal>()
        .map(Some)
        .map_err(|_| ApiError::validation(field, "must be a decimal string or number"))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BacktestQueued {
    pub backtest: Backtest,
    /// The QUEUED job that runs it (`GET /api/jobs/{id}`, `POST /api/jobs/{id}/cancel`).
    pub job: JobRun,
}

/// Queues a backtest: checks it (each refusal names its field and writes nothing), stores it
/// with a QUEUED job of kind `backtest` in one transaction, and answers 202.
#[utoipa::path(
    post,
    path = "/api/backtests",
    tag = "backtests",
    security(("session" = ["operator"])),
    request_body = CreateBacktest,
    responses(
        (status = 202, body = Envelope<BacktestQueued>),
        (status = 404, description = "`BOT_NOT_FOUND`", body = ErrorEnvelope),
        (status = 422, description = "`VALIDATION_FAILED`; `details.field` names the field (inverted, future or oversized range, unknown params, symbol, timeframe, fill, capital)", body = ErrorEnvelope),
        (status = 503, description = "`DATA_UNAVAILABLE`: no bars provider, or the range is wholly before its history; `DATABASE_UNAVAILABLE`", body = ErrorEnvelope),
    )
)]
async fn create_backtest(
    State(state): State<AppState>,
    CurrentUser(me): CurrentUser,
    ApiJson(body): ApiJson<CreateBacktest>,
) -> ApiResult<BacktestQueued> {
    let (slippage_ticks, commission) = match &body.fill {
        Some(f) => (
            f.slippage_ticks,
            money("fill.commission_per_side", f.commission_per_side.as_ref())?,
        ),
        None => (None, None),
    };
    let request = BacktestRequest {
        bot_id: body.bot_id,
        strategy: body.strategy,
        symbol: body.symbol,
        timeframe: body.timeframe,
        from: body.from,
        to: body.to,
        slippage_ticks,
        commission_per_side: commission,
        starting_capital: money("starting_capital", body.starting_capital.as_ref())?,
        risk: body.risk,
    };
    let (backtest, job) =
        runner::submit(&state.runtime, &state.pool, request, Some(&me.email)).await?;
    audit(
        &state,
        NewAuditEntry::new(
            me.actor(),
            "backtest.create",
            Outcome::Success,
            state.clock.now(),
        )
        .target(format!("backtest:{}", backtest.id))
        .metadata(json!({ "job_id": job.id, "bot_id": backtest.bot_id })),
    )
    .await;
    Ok(ApiOk::with_status(
        StatusCode::ACCEPTED,
        BacktestQueued { backtest, job },
    ))
}

// Spelled out rather than flattening `PageParams` (see api/system.rs).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BacktestsQuery {
    /// Page size, 1–500 (default 50).
    pub limit: Option<i64>,
    /// Opaque cursor from a previous page's `next_cursor`.
    pub cursor: Option<String>,
    /// Only backtests created at or after this instant (RFC 3339).
    pub from: Option<DateTime<Utc>>,
    /// Only backtests created before this instant (RFC 3339).
    pub to: Option<DateTime<Utc>>,
    /// Only this bot's backtests, and the results linked to it as its evidence ("create bot
    /// from this result", a sweep's child included).
    pub bot_id: Option<Uuid>,
    /// Only this sweep's child backtests (without it, sweep children are not listed).
    pub sweep_id: Option<Uuid>,
}

/// Backtests, newest first, with their job's status and metrics (curves only on the detail).
#[utoipa::path(
    get,
    path = "/api/backtests",
    tag = "backtests",
    params(BacktestsQuery),
    responses(
        (status = 200, body = Envelope<PageBody<Backtest>>),
        (status = 422, description = "Bad filter, limit or cursor (`VALIDATION_FAILED`)", body = ErrorEnvelope),
        (status = 503, description = "`DATABASE_UNAVAILABLE`", body = ErrorEnvelope),
    )
)]
async fn list_backtests(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<BacktestsQuery>,
) -> ApiResult<PageBody<Backtest>> {
    let paging = PageParams {
        limit: query.limit,
        cursor: query.cursor,
        from: query.from,
        to: query.to,
    }
    .validate()?;
    let filter = BacktestFilter {
        bot_id: query.bot_id,
        sweep_id: query.sweep_id,
        from: paging.from,
        to: paging.to,
    };
    let page = backtests::list(&state.pool, &filter, paging.after, paging.limit).await?;
    Ok(ApiOk::new(page.into()))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BacktestDetail {
    pub backtest: Backtest,
    /// Closed round trips in the order they closed (empty until SUCCEEDED).
    pub trades: Vec<BacktestTrade>,
}

/// One backtest: inputs and hashes, the job's status and progress, and once SUCCEEDED its
/// metrics, equity and drawdown curves, trades and no-trade counts.
#[utoipa::path(
    get,
    path = "/api/backtests/{id}",
    tag = "backtests",
    params(("id" = Uuid, Path, description = "Backtest id")),
    responses(
        (status = 200, body = Envelope<BacktestDetail>),
        (status = 404, description = "`BACKTEST_NOT_FOUND`", body = ErrorEnvelope),
        (status = 422, description = "The id is not a UUID (`VALIDATION_FAILED`)", body = ErrorEnvelope),
        (status = 503, description = "`DATABASE_UNAVAILABLE`", body = ErrorEnvelope),
    )
)]
async fn get_backtest(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<BacktestDetail> {
    let id: Uuid = id
        .parse()
        .map_err(|_| ApiError::validation("id", "is not a UUID"))?;
    let (backtest, trades) = runner::get(&state.pool, id).await?;
    Ok(ApiOk::new(BacktestDetail { backtest, trades }))
}

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
async fn backtest_bars(
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

impl From<SweepError> for ApiError {
    fn from(err: SweepError) -> Self {
        match err {
            SweepError::Backtest(e) => e.into(),
            SweepError::NotFound(id) => ApiError::new(crate::error_code::ErrorCode::SweepNotFound)
                .message(format!("No backtest sweep with id {id} exists."))
                .details(json!({ "sweep_id": id })),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSweep {
    /// The base: this bot as it is now (exclusive with `strategy`); swept params are written
    /// over its params.
    pub bot_id: Option<Uuid>,
    /// The base `{kind, params}` (required without `bot_id`).
    #[schema(value_type = Option<Object>)]
    pub strategy: Option<Value>,
    pub symbol: Option<String>,
    pub timeframe: Option<String>,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub fill: Option<FillInput>,
    #[schema(value_type = Option<String>)]
    pub starting_capital: Option<Value>,
    #[schema(value_type = Option<crate::domain::risk::RiskLimitsPatch>)]
    pub risk: Option<Value>,
    /// `{name: {"values": [...]} | {"min": n, "max": n, "step": n}}` over the strategy's
    /// declared params; unknown names and out-of-bounds ranges are refused (`params.<name>…`).
    #[schema(value_type = Object)]
    pub params: Value,
    /// `grid` (default: every combination) or `random` (`samples` of the grid, seeded).
    pub mode: Option<String>,
    pub samples: Option<u64>,
    pub seed: Option<u64>,
    /// `{folds: 1–20, out_of_sample_pct: 10–50}`: walk-forward (each combination runs on every
    /// fold's in-sample and out-of-sample window).
    #[schema(value_type = Option<Object>)]
    pub walk_forward: Option<Value>,
    /// What in-sample optimisation (and the default ranking) sorts by: `net_pnl` (default),
    /// `profit_factor`, `trades`, `max_drawdown` (ascending), `sharpe`.
    pub objective: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SweepQueued {
    pub sweep: Sweep,
    /// The QUEUED parent job (its children are `backtest` jobs with `parent_id` = its id).
    pub job: JobRun,
}

/// Queues a parameter sweep (grid or random, optionally walk-forward): a parent job of kind
/// `sweep` with one child backtest job per combination and window, in one transaction. Every
/// refusal names its field and writes nothing.
#[utoipa::path(
    post,
    path = "/api/backtests/sweeps",
    tag = "backtests",
    security(("session" = ["operator"])),
    request_body = CreateSweep,
    responses(
        (status = 202, body = Envelope<SweepQueued>),
        (status = 404, description = "`BOT_NOT_FOUND`", body = ErrorEnvelope),
        (status = 422, description = "`VALIDATION_FAILED`; `details.field` names the field (unknown params, bad ranges, more backtests than the configured maximum, folds, and every backtest field)", body = ErrorEnvelope),
        (status = 503, description = "`DATA_UNAVAILABLE`; `DATABASE_UNAVAILABLE`", body = ErrorEnvelope),
    )
)]
async fn create_sweep(
    State(state): State<AppState>,
    CurrentUser(me): CurrentUser,
    ApiJson(body): ApiJson<CreateSweep>,
) -> ApiResult<SweepQueued> {
    let (slippage_ticks, commission) = match &body.fill {
        Some(f) => (
            f.slippage_ticks,
            money("fill.commission_per_side", f.commission_per_side.as_ref())?,
        ),
        None => (None, None),
    };
    let request = SweepRequest {
        base: BacktestRequest {
            bot_id: body.bot_id,
            strategy: body.strategy,
            symbol: body.symbol,
            timeframe: body.timeframe,
            from: body.from,
            to: body.to,
            slippage_ticks,
            commission_per_side: commission,
            starting_capital: money("starting_capital", body.starting_capital.as_ref())?,
            risk: body.risk,
        },
        params: body.params,
        mode: body.mode,
        samples: body.samples,
        seed: body.seed,
        walk_forward: body.walk_forward,
        objective: body.objective,
    };
    let (sweep, job) =
        sweeps::submit(&state.runtime, &state.pool, request, Some(&me.email)).await?;
    audit(
        &state,
        NewAuditEntry::new(
            me.actor(),
            "backtest.sweep.create",
            Outcome::Success,
            state.clock.now(),
        )
        .target(format!("sweep:{}", sweep.id))
        .metadata(json!({ "job_id": job.id, "backtests": sweep.backtests })),
    )
    .await;
    Ok(ApiOk::with_status(
        StatusCode::ACCEPTED,
        SweepQueued { sweep, job },
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SweepsQuery {
    pub limit: Option<i64>,
    pub cursor: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

/// Sweeps, newest first, with their parent job's status and progress.
#[utoipa::path(
    get,
    path = "/api/backtests/sweeps",
    tag = "backtests",
    params(SweepsQuery),
    responses(
        (status = 200, body = Envelope<PageBody<Sweep>>),
        (status = 422, description = "Bad filter, limit or cursor (`VALIDATION_FAILED`)", body = ErrorEnvelope),
        (status = 503, description = "`DATABASE_UNAVAILABLE`", body = ErrorEnvelope),
    )
)]
async fn list_sweeps(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<SweepsQuery>,
) -> ApiResult<PageBody<Sweep>> {
    let paging = PageParams {
        limit: query.limit,
        cursor: query.cursor,
        from: query.from,
        to: query.to,
    }
    .validate()?;
    let page = crate::store::sweeps::list(
        &state.pool,
        TimeRange {
            from: paging.from,
            to: paging.to,
        },
        paging.after,
        paging.limit,
    )
    .await?;
    Ok(ApiOk::new(page.into()))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SweepQuery {
    /// `net_pnl`, `profit_factor`, `trades`, `max_drawdown`, `sharpe` or `oos_net_pnl`
    /// (default: the sweep's objective).
    pub sort: Option<String>,
    /// `desc` (default) or `asc`.
    pub order: Option<String>,
}

/// One sweep: its children by status, the ranking table (params, net PnL, profit factor,
/// trades, max drawdown, Sharpe; the out-of-sample figure beside the in-sample one for a
/// walk-forward), sorted as asked, and each fold's chosen combination.
#[utoipa::path(
    get,
    path = "/api/backtests/sweeps/{id}",
    tag = "backtests",
    params(("id" = Uuid, Path, description = "Sweep id"), SweepQuery),
    responses(
        (status = 200, body = Envelope<SweepView>),
        (status = 404, description = "`SWEEP_NOT_FOUND`", body = ErrorEnvelope),
        (status = 422, description = "Bad id, sort or order (`VALIDATION_FAILED`)", body = ErrorEnvelope),
        (status = 503, description = "`DATABASE_UNAVAILABLE`", body = ErrorEnvelope),
    )
)]
async fn get_sweep(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<SweepQuery>,
) -> ApiResult<SweepView> {
    let id: Uuid = id
        .parse()
        .map_err(|_| ApiError::validation("id", "is not a UUID"))?;
    let sort = query
        .sort
        .as_deref()
        .map(|s| {
            SortKey::parse(s).ok_or_else(|| {
                ApiError::validation(
                    "sort",
                    "must be one of net_pnl, profit_factor, trades, max_drawdown, sharpe, oos_net_pnl",
                )
            })
        })
        .transpose()?;
    let descending = match query.order.as_deref() {
        None => None,
        Some("desc") => Some(true),
        Some("asc") => Some(false),
        Some(_) => return Err(ApiError::validation("order", "must be asc or desc")),
    };
    Ok(ApiOk::new(
        sweeps::view(&state.pool, id, sort, descending).await?,
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateBotFromBacktest {
    /// The new bot's name (default `<kind>-<symbol>-<timeframe>-<8 hex of the backtest id>`).
    pub name: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BotFromBacktest {
    pub bot: Bot,
    /// The backtest linked to the bot as its LAB → PAPER evidence.
    pub backtest_id: Uuid,
}

/// "Create bot from this result": a LAB bot with the backtest's strategy, params, symbol,
/// timeframe and risk limits, the backtest linked as its evidence (LAB → PAPER reads it).
#[utoipa::path(
    post,
    path = "/api/backtests/{id}/bot",
    tag = "backtests",
    security(("session" = ["operator"])),
    params(("id" = Uuid, Path, description = "Backtest id (SUCCEEDED)")),
    request_body = CreateBotFromBacktest,
    responses(
        (status = 201, body = Envelope<BotFromBacktest>),
        (status = 404, description = "`BACKTEST_NOT_FOUND`", body = ErrorEnvelope),
        (status = 422, description = "`VALIDATION_FAILED`: the backtest has not SUCCEEDED (`id`), or `name` is bad or taken", body = ErrorEnvelope),
        (status = 503, description = "`DATABASE_UNAVAILABLE`", body = ErrorEnvelope),
    )
)]
async fn create_bot_from_backtest(
    State(state): State<AppState>,
    CurrentUser(me): CurrentUser,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<CreateBotFromBacktest>,
) -> ApiResult<BotFromBacktest> {
    let id: Uuid = id
        .parse()
        .map_err(|_| ApiError::validation("id", "is not a UUID"))?;
    let name = body
        .name
        .as_deref()
        .map(|n| super::hygiene::display_name("name", n, 100))
        .transpose()?;
    let bot =
        sweeps::create_bot_from_result(&state.runtime, &state.pool, id, name, Some(&me.email))
            .await?;
    audit(
        &state,
        NewAuditEntry::new(
            me.actor(),
            "bot.create_from_backtest",
            Outcome::Success,
            state.clock.now(),
        )
        .target(format!("bot:{}", bot.id))
        .metadata(json!({ "backtest_id": id, "name": bot.name })),
    )
    .await;
    Ok(ApiOk::created(BotFromBacktest {
        bot,
        backtest_id: id,
    }))
}
