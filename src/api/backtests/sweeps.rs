//! `/api/backtests/sweeps`: queue a parameter sweep, list sweeps, read one with its ranking.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::api::{
    ApiError, ApiJson, ApiOk, ApiPath, ApiQuery, ApiResult, AppState,
    auth::{CurrentUser, audit},
    envelope::{Envelope, ErrorEnvelope},
    pagination::{PageBody, PageParams},
};
use crate::domain::backtest::sweep::SortKey;
use crate::runtime::backtests::BacktestRequest;
use crate::runtime::sweeps::{self as sweeps, SweepError, SweepRequest, SweepView};
use crate::store::page::TimeRange;
use crate::store::sweeps::Sweep;
use crate::store::{
    audit_log::{NewAuditEntry, Outcome},
    jobs::JobRun,
};

use super::{FillInput, money};

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
pub(super) async fn create_sweep(
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
pub(super) async fn list_sweeps(
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
pub(super) async fn get_sweep(
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
