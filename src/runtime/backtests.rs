//! Backtests as jobs (issue 15 parts 3–4): a request is checked (every refusal names its field;
//! nothing is written), stored with a QUEUED job of kind [`BACKTEST`] in one transaction, and
//! run by a job worker: the bars of the range through the one call path (`ensure_bars`:
//! fetched gaps are usage events naming the job), then `domain::backtest::run_until` on a
//! blocking thread, stopped within 1 % of the bars when the job is cancelled or times out, then
//! the metrics, curves, trades and hashes written with the job's SUCCEEDED transition.

mod check;
mod run;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use super::RuntimeHandle;
use super::jobs;
use crate::domain::strategy_config::FieldError;
use crate::error_code::ErrorCode;
use crate::store::{
    backtests::{self as store, Backtest},
    jobs::{JobRun, NewJob},
};

pub(super) use check::check;
pub use check::{parse_strategy, strategy_hash};
pub(super) use run::{execute, refresh_estimates, run_job};

/// Kind of a job that runs one backtest (payload `{"backtest_id": …}`).
pub const BACKTEST: &str = "backtest";

/// A backtest job with no progress report for this long times out (`HEARTBEAT_TIMEOUT`).
pub const JOB_TIMEOUT_SECONDS: i32 = 300;

/// Starting capital when the request names none, USD.
pub const DEFAULT_STARTING_CAPITAL: Decimal = Decimal::from_parts(100_000, 0, 0, false, 0);

/// A request as it arrives (only shapes are checked by the caller; every rule is here).
#[derive(Debug, Clone, Default)]
pub struct BacktestRequest {
    /// Test this bot as it is now: its strategy, params and risk limits (and its symbol and
    /// timeframe unless given). Exclusive with `strategy`.
    pub bot_id: Option<Uuid>,
    /// `{kind, params}`, as a bot's.
    pub strategy: Option<Value>,
    pub symbol: Option<String>,
    pub timeframe: Option<String>,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub slippage_ticks: Option<u32>,
    pub commission_per_side: Option<Decimal>,
    pub starting_capital: Option<Decimal>,
    /// Any subset of the risk limits, over the bot's (or the timeframe's defaults).
    pub risk: Option<Value>,
}

#[derive(Debug, thiserror::Error)]
pub enum BacktestError {
    /// A field is wrong (`VALIDATION_FAILED`, `details.field`).
    #[error("{}: {}", .0.field, .0.problem)]
    Invalid(FieldError),
    #[error("no bot with id {0}")]
    BotNotFound(Uuid),
    #[error("no backtest with id {0}")]
    NotFound(Uuid),
    /// The range cannot have bars (`DATA_UNAVAILABLE`): no provider, or before its history.
    #[error("{message}")]
    DataUnavailable {
        field: &'static str,
        message: String,
    },
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

impl BacktestError {
    fn invalid(field: &str, problem: impl Into<String>) -> Self {
        BacktestError::Invalid(FieldError {
            field: field.to_owned(),
            problem: problem.into(),
        })
    }

    pub fn code(&self) -> ErrorCode {
        match self {
            BacktestError::Invalid(_) => ErrorCode::ValidationFailed,
            BacktestError::BotNotFound(_) => ErrorCode::BotNotFound,
            BacktestError::NotFound(_) => ErrorCode::BacktestNotFound,
            BacktestError::DataUnavailable { .. } => ErrorCode::DataUnavailable,
            BacktestError::Database(e) => crate::store::error_code(e),
        }
    }
}

/// Checks `req` and queues it: the backtest row and its QUEUED job in one transaction,
/// announced on the live stream. Any refusal writes nothing.
pub async fn submit(
    rt: &RuntimeHandle,
    pool: &PgPool,
    req: BacktestRequest,
    by: Option<&str>,
) -> Result<(Backtest, JobRun), BacktestError> {
    let checked = check(rt, pool, &req).await?;
    let new = checked.new_backtest(&checked.strategy, req.bot_id, req.from, req.to, by);
    let id = Uuid::now_v7();
    let mut job = backtest_job(id, req.bot_id);
    if !checked.filters.is_empty() {
        job.payload["filters"] = serde_json::to_value(&checked.filters).unwrap_or(Value::Null);
    }
    let (row, run) = store::create(pool, id, new, job).await?;
    jobs::announce(rt, &run);
    Ok((row, run))
}

/// The QUEUED job that runs backtest `id`.
pub(super) fn backtest_job(id: Uuid, bot_id: Option<Uuid>) -> NewJob {
    NewJob {
        kind: BACKTEST.into(),
        timeout_seconds: JOB_TIMEOUT_SECONDS,
        bot_id,
        payload: json!({ "backtest_id": id }),
    }
}

/// One backtest with its trades (none until it SUCCEEDED).
pub async fn get(
    pool: &PgPool,
    id: Uuid,
) -> Result<(Backtest, Vec<store::BacktestTrade>), BacktestError> {
    let row = store::get(pool, id)
        .await?
        .ok_or(BacktestError::NotFound(id))?;
    let trades = store::trades(pool, id).await?;
    Ok((row, trades))
}
