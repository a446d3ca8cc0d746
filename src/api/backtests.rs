//! `/api/backtests`: queue a backtest (a job of kind `backtest`), list them, read one with its
//! results. Every rule lives in `runtime::backtests`; this file only reads shapes.

mod bars;
mod sweeps;

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
use crate::runtime::backtests::{self as runner, BacktestError, BacktestRequest};
use crate::runtime::sweeps::create_bot_from_result;
use crate::store::bots::Bot;
use crate::store::{
    audit_log::{NewAuditEntry, Outcome},
    backtests::{self, Backtest, BacktestFilter, BacktestTrade},
    jobs::JobRun,
};

pub use bars::{BacktestBars, BacktestBarsQuery, Candle};
pub use sweeps::{CreateSweep, SweepQuery, SweepQueued, SweepsQuery};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_backtests, create_backtest))
        .routes(routes!(get_backtest))
        .routes(routes!(bars::backtest_bars))
        .routes(routes!(sweeps::list_sweeps, sweeps::create_sweep))
        .routes(routes!(sweeps::get_sweep))
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
        create_bot_from_result(&state.runtime, &state.pool, id, name, Some(&me.email)).await?;
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
