//! `backtests` + `backtest_trades`: what a backtest was asked to do, and its results. Status,
//! progress and errors are the job's (`job_runs`, joined on read). A backtest and its QUEUED
//! job are inserted in one transaction; its results and the job's SUCCEEDED transition are
//! written in another, only while the job is still RUNNING, so a cancelled or timed-out run
//! leaves nothing half-written.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::Value;
use sqlx::{PgPool, Postgres, QueryBuilder};
use utoipa::ToSchema;
use uuid::Uuid;

use super::jobs::{self, JobError, JobRun, JobStatus, NewJob, TransitionDetails};
use super::page::{Cursor, Page, TimeRange, push_window};
use crate::domain::{
    backtest::SimTrade, instruments::Symbol, side::TradeSide, timeframe::Timeframe,
};

/// A backtest to create, its inputs already checked and hashed.
#[derive(Debug, Clone)]
pub struct NewBacktest {
    pub bot_id: Option<Uuid>,
    pub strategy_kind: String,
    pub strategy_params: Value,
    pub strategy_hash: String,
    pub symbol: Symbol,
    pub timeframe: Timeframe,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub slippage_ticks: i32,
    pub commission_per_side: Decimal,
    pub starting_capital: Decimal,
    pub risk_limits: Value,
    pub inputs_hash: String,
    pub created_by: Option<String>,
}

/// A backtest with its job's state; the results are `null` until it SUCCEEDED (and the
/// curves are left out of lists).
#[derive(Debug, Clone, Serialize, sqlx::FromRow, ToSchema)]
pub struct Backtest {
    pub id: Uuid,
    pub job_id: Uuid,
    pub bot_id: Option<Uuid>,
    pub strategy_kind: String,
    #[schema(value_type = Object)]
    pub strategy_params: Value,
    /// sha256 of the canonical `{kind, params}`.
    pub strategy_hash: String,
    pub symbol: Symbol,
    pub timeframe: Timeframe,
    #[sqlx(rename = "range_from")]
    pub from: DateTime<Utc>,
    #[sqlx(rename = "range_to")]
    pub to: DateTime<Utc>,
    pub slippage_ticks: i32,
    /// USD per contract per fill.
    #[schema(value_type = String)]
    pub commission_per_side: Decimal,
    #[schema(value_type = String)]
    pub starting_capital: Decimal,
    /// The risk limits the engine ran under.
    #[schema(value_type = Object)]
    pub risk_limits: Value,
    /// sha256 of the canonical inputs (everything above that shapes the run).
    pub inputs_hash: String,
    pub created_by: Option<String>,
    pub created_at: DateTime<Utc>,
    /// The job's status, progress and failure (`DATA_UNAVAILABLE` naming the range, …).
    pub status: JobStatus,
    pub progress_pct: i16,
    pub error_code: Option<String>,
    pub error: Option<String>,
    pub completed_at: Option<DateTime<Utc>>,
    /// Where the bars came from.
    pub provider_id: Option<String>,
    /// Bars the engine processed.
    pub bars: Option<i32>,
    /// `domain::backtest_metrics::Metrics`.
    #[schema(value_type = Option<Object>)]
    pub metrics: Option<Value>,
    /// `[{ts, equity}]`, at most 2,000 points (the last of each equal bucket).
    #[schema(value_type = Option<Vec<Object>>)]
    pub equity_curve: Option<Value>,
    /// `[{ts, drawdown, drawdown_pct}]`, the same times as the equity curve.
    #[schema(value_type = Option<Vec<Object>>)]
    pub drawdown_curve: Option<Value>,
    /// Suppressed evaluations by the no-trade trace's reason code.
    #[schema(value_type = Option<Object>)]
    pub no_trade_counts: Option<Value>,
    /// `{at, reason}` when a kill trigger (daily loss, drawdown) stopped the run there, as it
    /// would have stopped the bot; `null` otherwise.
    #[schema(value_type = Option<Object>)]
    pub killed: Option<Value>,
    /// sha256 of the canonical results: the same inputs and bars give the same hash.
    pub results_hash: Option<String>,
    /// The sweep this backtest is a child of, its combination's index, its walk-forward fold
    /// and window (`FULL`, `IN_SAMPLE` or `OUT_OF_SAMPLE`); null for a backtest of its own.
    pub sweep_id: Option<Uuid>,
    pub sweep_combination: Option<i32>,
    pub sweep_fold: Option<i32>,
    pub sweep_window: Option<String>,
}

/// One closed round trip of a backtest.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, ToSchema)]
pub struct BacktestTrade {
    pub seq: i32,
    pub side: TradeSide,
    pub qty: i32,
    pub entry_ts: DateTime<Utc>,
    #[schema(value_type = String)]
    pub entry_price: Decimal,
    pub exit_ts: DateTime<Utc>,
    #[schema(value_type = String)]
    pub exit_price: Decimal,
    #[schema(value_type = String)]
    pub gross_pnl: Decimal,
    #[schema(value_type = String)]
    pub commission: Decimal,
    #[schema(value_type = String)]
    pub net_pnl: Decimal,
}

/// A finished run's results, as stored.
#[derive(Debug, Clone)]
pub struct Results {
    pub provider_id: String,
    pub bars: i32,
    pub metrics: Value,
    pub equity_curve: Value,
    pub drawdown_curve: Value,
    pub no_trade_counts: Value,
    pub killed: Value,
    pub results_hash: String,
    pub trades: Vec<SimTrade>,
}

const SELECT: &str = "SELECT * FROM (SELECT b.id, b.job_id, b.bot_id, b.strategy_kind, \
     b.strategy_params, b.strategy_hash, b.symbol, b.timeframe, b.range_from, b.range_to, \
     b.slippage_ticks, b.commission_per_side, b.starting_capital, b.risk_limits, b.inputs_hash, \
     b.created_by, b.created_at, j.status, j.progress_pct, j.error_code, j.error, \
     b.completed_at, b.provider_id, b.bars, b.metrics, b.sweep_id, b.sweep_combination, \
     b.sweep_fold, b.sweep_window, ";

const WITH_CURVES: &str = "b.equity_curve, b.drawdown_curve, b.no_trade_counts, b.killed, b.results_hash \
     FROM backtests b JOIN job_runs j ON j.id = b.job_id) x WHERE true";

const WITHOUT_CURVES: &str = "NULL::jsonb AS equity_curve, NULL::jsonb AS drawdown_curve, \
     b.no_trade_counts, b.killed, b.results_hash FROM backtests b JOIN job_runs j ON j.id = b.job_id) x \
     WHERE true";

/// Inserts the backtest and its QUEUED job (`job`, whose payload names the backtest) in one
/// transaction.
pub async fn create(
    pool: &PgPool,
    id: Uuid,
    new: NewBacktest,
    job: NewJob,
) -> Result<(Backtest, JobRun), sqlx::Error> {
    let mut tx = pool.begin().await?;
    let run = jobs::create_in(&mut tx, job).await?;
    sqlx::query(
        "INSERT INTO backtests (id, job_id, bot_id, strategy_kind, strategy_params, strategy_hash, \
             symbol, timeframe, range_from, range_to, slippage_ticks, commission_per_side, \
             starting_capital, risk_limits, inputs_hash, created_by) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
    )
    .bind(id)
    .bind(run.id)
    .bind(new.bot_id)
    .bind(&new.strategy_kind)
    .bind(&new.strategy_params)
    .bind(&new.strategy_hash)
    .bind(new.symbol)
    .bind(new.timeframe)
    .bind(new.from)
    .bind(new.to)
    .bind(new.slippage_ticks)
    .bind(new.commission_per_side)
    .bind(new.starting_capital)
    .bind(&new.risk_limits)
    .bind(&new.inputs_hash)
    .bind(&new.created_by)
    .execute(&mut *tx)
    .await?;
    let row: Backtest = sqlx::query_as(&format!("{SELECT}{WITH_CURVES} AND id = $1"))
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok((row, run))
}

pub async fn get(pool: &PgPool, id: Uuid) -> Result<Option<Backtest>, sqlx::Error> {
    sqlx::query_as(&format!("{SELECT}{WITH_CURVES} AND id = $1"))
        .bind(id)
        .fetch_optional(pool)
        .await
}

/// The backtest a job runs.
pub async fn by_job(pool: &PgPool, job_id: Uuid) -> Result<Option<Backtest>, sqlx::Error> {
    sqlx::query_as(&format!("{SELECT}{WITH_CURVES} AND job_id = $1"))
        .bind(job_id)
        .fetch_optional(pool)
        .await
}

pub async fn trades(pool: &PgPool, id: Uuid) -> Result<Vec<BacktestTrade>, sqlx::Error> {
    sqlx::query_as(
        "SELECT seq, side, qty, entry_ts, entry_price, exit_ts, exit_price, gross_pnl, \
         commission, net_pnl FROM backtest_trades WHERE backtest_id = $1 ORDER BY seq",
    )
    .bind(id)
    .fetch_all(pool)
    .await
}

#[derive(Debug, Default, Clone)]
pub struct BacktestFilter {
    /// The bot's own backtests plus those linked to it as evidence (`bot_backtest_evidence`).
    pub bot_id: Option<Uuid>,
    /// Only this sweep's children (without it, sweep children are left out of lists).
    pub sweep_id: Option<Uuid>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

/// Newest first, without curves; `after` continues from a previous page's cursor.
pub async fn list(
    pool: &PgPool,
    filter: &BacktestFilter,
    after: Option<Cursor>,
    limit: i64,
) -> Result<Page<Backtest>, sqlx::Error> {
    let mut q = QueryBuilder::<Postgres>::new(format!("{SELECT}{WITHOUT_CURVES}"));
    match (filter.bot_id, filter.sweep_id) {
        (Some(bot), Some(sweep)) => {
            q.push(" AND bot_id = ").push_bind(bot);
            q.push(" AND sweep_id = ").push_bind(sweep)
        }
        // A bot's own backtests and the results linked to it as its evidence (a sweep child
        // it was created from included).
        (Some(bot), None) => q
            .push(" AND ((bot_id = ")
            .push_bind(bot)
            .push(" AND sweep_id IS NULL) OR id IN (SELECT backtest_id FROM bot_backtest_evidence WHERE bot_id = ")
            .push_bind(bot)
            .push("))"),
        (None, Some(sweep)) => q.push(" AND sweep_id = ").push_bind(sweep),
        (None, None) => q.push(" AND sweep_id IS NULL"),
    };
    push_window(
        &mut q,
        TimeRange {
            from: filter.from,
            to: filter.to,
        },
        after,
        limit,
    );
    let rows: Vec<Backtest> = q.build_query_as().fetch_all(pool).await?;
    Ok(Page::from_rows(rows, limit, |b| Cursor {
        created_at: b.created_at,
        id: b.id,
    }))
}

/// Stores `results` and moves the job RUNNING → SUCCEEDED (`result`: its summary) in one
/// transaction. A job no longer RUNNING (cancelled, timed out) refuses it and nothing is
/// written: `InvalidTransition`.
pub async fn complete(
    pool: &PgPool,
    backtest: &Backtest,
    results: Results,
    completed_at: DateTime<Utc>,
    details: TransitionDetails,
) -> Result<JobRun, JobError> {
    let mut tx = pool.begin().await?;
    // The job row first: a concurrent cancel waits for this transaction or wins before it.
    let run = match jobs::transition_in(
        &mut tx,
        backtest.job_id,
        JobStatus::Running,
        JobStatus::Succeeded,
        "COMPLETED",
        details,
    )
    .await
    {
        Ok(run) => run,
        Err(e) => {
            tx.rollback().await?;
            return Err(e);
        }
    };
    sqlx::query(
        "UPDATE backtests SET completed_at = $2, provider_id = $3, bars = $4, metrics = $5, \
             equity_curve = $6, drawdown_curve = $7, no_trade_counts = $8, results_hash = $9, \
             killed = $10 \
         WHERE id = $1",
    )
    .bind(backtest.id)
    .bind(completed_at)
    .bind(&results.provider_id)
    .bind(results.bars)
    .bind(&results.metrics)
    .bind(&results.equity_curve)
    .bind(&results.drawdown_curve)
    .bind(&results.no_trade_counts)
    .bind(&results.results_hash)
    .bind(&results.killed)
    .execute(&mut *tx)
    .await?;
    if !results.trades.is_empty() {
        let n = results.trades.len();
        let mut seq = Vec::with_capacity(n);
        let mut side = Vec::with_capacity(n);
        let mut qty = Vec::with_capacity(n);
        let mut entry_ts = Vec::with_capacity(n);
        let mut entry_price = Vec::with_capacity(n);
        let mut exit_ts = Vec::with_capacity(n);
        let mut exit_price = Vec::with_capacity(n);
        let mut gross = Vec::with_capacity(n);
        let mut commission = Vec::with_capacity(n);
        let mut net = Vec::with_capacity(n);
        for (i, t) in results.trades.iter().enumerate() {
            seq.push(i32::try_from(i).unwrap_or(i32::MAX));
            side.push(t.side.as_str());
            qty.push(i32::try_from(t.qty).unwrap_or(i32::MAX));
            entry_ts.push(t.entry_ts);
            entry_price.push(t.entry_price);
            exit_ts.push(t.exit_ts);
            exit_price.push(t.exit_price);
            gross.push(t.gross_pnl);
            commission.push(t.commission);
            net.push(t.net_pnl);
        }
        sqlx::query(
            "INSERT INTO backtest_trades (backtest_id, seq, side, qty, entry_ts, entry_price, \
                 exit_ts, exit_price, gross_pnl, commission, net_pnl) \
             SELECT $1, * FROM UNNEST($2::int[], $3::text[], $4::int[], $5::timestamptz[], \
                 $6::numeric[], $7::timestamptz[], $8::numeric[], $9::numeric[], $10::numeric[], \
                 $11::numeric[])",
        )
        .bind(backtest.id)
        .bind(seq)
        .bind(side)
        .bind(qty)
        .bind(entry_ts)
        .bind(entry_price)
        .bind(exit_ts)
        .bind(exit_price)
        .bind(gross)
        .bind(commission)
        .bind(net)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(run)
}

/// The newest SUCCEEDED backtest of `bot_id` (or linked to it as its evidence: the result it
/// was created from) with this strategy hash, symbol and timeframe: the evidence the LAB →
/// PAPER gate reads.
pub async fn latest_evidence(
    pool: &PgPool,
    bot_id: Uuid,
    strategy_hash: &str,
    symbol: Symbol,
    timeframe: Timeframe,
) -> Result<Option<Backtest>, sqlx::Error> {
    sqlx::query_as(&format!(
        "{SELECT}{WITHOUT_CURVES} AND (bot_id = $1 OR id IN \
             (SELECT backtest_id FROM bot_backtest_evidence WHERE bot_id = $1)) \
         AND strategy_hash = $2 AND symbol = $3 AND timeframe = $4 AND status = 'SUCCEEDED' ORDER BY completed_at DESC, id DESC LIMIT 1"
    ))
    .bind(bot_id)
    .bind(strategy_hash)
    .bind(symbol)
    .bind(timeframe)
    .fetch_optional(pool)
    .await
}

/// Links `backtest_id` to `bot_id` as its evidence (idempotent), inside the caller's
/// transaction (the bot and its link land together).
pub async fn link_evidence(
    tx: &mut sqlx::Transaction<'_, Postgres>,
    bot_id: Uuid,
    backtest_id: Uuid,
    by: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO bot_backtest_evidence (bot_id, backtest_id, linked_by) VALUES ($1, $2, $3) \
         ON CONFLICT DO NOTHING",
    )
    .bind(bot_id)
    .bind(backtest_id)
    .bind(by)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The metrics of the SUCCEEDED sibling of a walk-forward child: the same sweep, combination
/// and fold, the other `window`.
pub async fn sweep_sibling_metrics(
    pool: &PgPool,
    sweep_id: Uuid,
    combination: i32,
    fold: i32,
    window: &str,
) -> Result<Option<Value>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT b.metrics FROM backtests b JOIN job_runs j ON j.id = b.job_id \
         WHERE b.sweep_id = $1 AND b.sweep_combination = $2 AND b.sweep_fold = $3 \
           AND b.sweep_window = $4 AND j.status = 'SUCCEEDED' AND b.metrics IS NOT NULL",
    )
    .bind(sweep_id)
    .bind(combination)
    .bind(fold)
    .bind(window)
    .fetch_optional(pool)
    .await
}

/// Distinct parameter sets (`strategy_hash`) of `kind` on `symbol` at `timeframe` backtested
/// (sweep children included) up to `until`: how many combinations were tried.
pub async fn distinct_strategies_tried(
    pool: &PgPool,
    kind: &str,
    symbol: Symbol,
    timeframe: Timeframe,
    until: DateTime<Utc>,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT count(DISTINCT strategy_hash) FROM backtests \
         WHERE strategy_kind = $1 AND symbol = $2 AND timeframe = $3 AND created_at <= $4",
    )
    .bind(kind)
    .bind(symbol)
    .bind(timeframe)
    .bind(until)
    .fetch_one(pool)
    .await
}
