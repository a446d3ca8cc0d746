//! Backtests as jobs (issue 15 parts 3–4): a request is checked (every refusal names its field;
//! nothing is written), stored with a QUEUED job of kind [`BACKTEST`] in one transaction, and
//! run by a job worker: the bars of the range through the one call path (`ensure_bars`:
//! fetched gaps are usage events naming the job), then `domain::backtest::run_until` on a
//! blocking thread, stopped within 1 % of the bars when the job is cancelled or times out, then
//! the metrics, curves, trades and hashes written with the job's SUCCEEDED transition.

use std::ops::ControlFlow;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use super::RuntimeHandle;
use super::bar_history::{self, BarHistoryRequest};
use super::jobs::{self, JobContext, JobDone, JobFailure};
use crate::domain::{
    backtest::{
        self, BacktestSpec, EquityPoint, FillModel, SimTrade,
        request::{self as rules, MAX_CURVE_POINTS},
    },
    backtest_metrics::{self, DrawdownPoint, Metrics},
    instruments::Symbol,
    news::{self, NewsSnapshot},
    risk::{AutonomyTier, RiskLimits, RiskLimitsPatch},
    strategy_config::{FieldError, StrategyConfig},
    strategy_filters::{FilterData, StrategyFilters},
    timeframe::Timeframe,
};
use crate::error_code::ErrorCode;
use crate::integrations::{bars, http::CallContext};
use crate::store::{
    backtests::{self as store, Backtest, NewBacktest, Results},
    bots,
    cme_holidays::load_trading_calendar,
    jobs::{JobError, JobRun, NewJob, TransitionDetails},
};

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

/// A strategy as a bot stores it, refused by field name.
pub fn parse_strategy(raw: &Value) -> Result<StrategyConfig, FieldError> {
    let kind = raw.get("kind").and_then(Value::as_str);
    let config: StrategyConfig = serde_json::from_value(raw.clone()).map_err(|e| match kind {
        Some("sma_crossover" | "donchian_breakout" | "rsi_mean_reversion") => FieldError {
            field: "strategy.params".into(),
            problem: format!("is not valid: {e}"),
        },
        _ => FieldError {
            field: "strategy.kind".into(),
            problem: "must be one of sma_crossover, donchian_breakout, rsi_mean_reversion".into(),
        },
    })?;
    config.validate()?;
    Ok(config)
}

/// The entry filters of a strategy value. A macro filter cannot be replayed (the FRED values
/// an evaluation saw are not kept per evaluation), so a backtest with one is refused.
fn filters_of(raw: &Value) -> Result<StrategyFilters, BacktestError> {
    let filters = StrategyFilters::from_strategy(raw).map_err(BacktestError::Invalid)?;
    if filters.macro_filter.is_some() {
        return Err(BacktestError::invalid(
            "strategy.filters.macro_filter",
            "cannot be backtested: the FRED values past evaluations would have read are not replayed; remove the macro filter to backtest the strategy (the economic calendar filter is replayed)",
        ));
    }
    Ok(filters)
}

/// sha256 of the canonical `{kind, params}`: equal for equal strategies however their JSON
/// was spelled (key order, defaulted fields).
pub fn strategy_hash(strategy: &StrategyConfig) -> String {
    rules::content_hash(strategy)
}

/// What the inputs hash covers: everything that shapes the run except the bars.
#[derive(Serialize)]
struct Inputs<'a> {
    strategy: &'a StrategyConfig,
    symbol: Symbol,
    timeframe: Timeframe,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    fill: &'a FillModel,
    starting_capital: Decimal,
    risk_limits: &'a RiskLimits,
    /// Entry filters, left out when there are none (earlier hashes stay valid).
    #[serde(skip_serializing_if = "StrategyFilters::is_empty")]
    filters: &'a StrategyFilters,
}

fn parse_symbol(raw: &str) -> Result<Symbol, BacktestError> {
    Symbol::parse(raw).ok_or_else(|| {
        BacktestError::invalid("symbol", format!("must be one of {}", Symbol::names()))
    })
}

fn parse_timeframe(raw: &str) -> Result<Timeframe, BacktestError> {
    serde_json::from_value(Value::String(raw.to_owned()))
        .map_err(|_| BacktestError::invalid("timeframe", "must be one of 1s, 1m, 5m, 15m, 1h, 1d"))
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

/// A request's inputs, checked.
#[derive(Debug, Clone)]
pub(super) struct Checked {
    pub strategy: StrategyConfig,
    /// Entry filters replayed with the run (the economic calendar, the news gate; a macro
    /// filter is refused).
    pub filters: StrategyFilters,
    pub symbol: Symbol,
    pub timeframe: Timeframe,
    pub limits: RiskLimits,
    pub fill: FillModel,
    pub capital: Decimal,
}

impl Checked {
    /// The backtest row of `strategy` over `[from, to)` with these inputs, hashed.
    pub fn new_backtest(
        &self,
        strategy: &StrategyConfig,
        bot_id: Option<Uuid>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        by: Option<&str>,
    ) -> NewBacktest {
        let inputs_hash = rules::content_hash(&Inputs {
            strategy,
            symbol: self.symbol,
            timeframe: self.timeframe,
            from,
            to,
            fill: &self.fill,
            starting_capital: self.capital,
            risk_limits: &self.limits,
            filters: &self.filters,
        });
        let params = serde_json::to_value(strategy)
            .ok()
            .and_then(|v| v.get("params").cloned())
            .unwrap_or(Value::Null);
        NewBacktest {
            bot_id,
            strategy_kind: strategy.kind().to_owned(),
            strategy_params: params,
            strategy_hash: strategy_hash(strategy),
            symbol: self.symbol,
            timeframe: self.timeframe,
            from,
            to,
            slippage_ticks: i32::try_from(self.fill.slippage_ticks).unwrap_or(i32::MAX),
            commission_per_side: self.fill.commission_per_contract,
            starting_capital: self.capital,
            risk_limits: serde_json::to_value(&self.limits).unwrap_or(Value::Null),
            inputs_hash,
            created_by: by.map(str::to_owned),
        }
    }
}

/// Every rule of a request (see [`submit`]); writes nothing.
pub(super) async fn check(
    rt: &RuntimeHandle,
    pool: &PgPool,
    req: &BacktestRequest,
) -> Result<Checked, BacktestError> {
    let now = rt.clock().now();
    let filters;
    let (strategy, symbol, timeframe, limits) = match req.bot_id {
        Some(id) => {
            if req.strategy.is_some() {
                return Err(BacktestError::invalid(
                    "strategy",
                    "give either `bot_id` (the bot's own strategy is tested) or `strategy`, not both",
                ));
            }
            let bot = bots::get(pool, id)
                .await?
                .ok_or(BacktestError::BotNotFound(id))?;
            filters = filters_of(&bot.strategy)?;
            let strategy = parse_strategy(&bot.strategy).map_err(|e| {
                BacktestError::invalid(
                    "bot_id",
                    format!(
                        "the bot's stored strategy is unusable: {} {}",
                        e.field, e.problem
                    ),
                )
            })?;
            let symbol = req.symbol.as_deref().map(parse_symbol).transpose()?;
            let timeframe = req.timeframe.as_deref().map(parse_timeframe).transpose()?;
            let timeframe = timeframe.unwrap_or(bot.timeframe);
            let limits = RiskLimits::from_stored(&bot.risk_limits, timeframe).map_err(|e| {
                BacktestError::invalid("bot_id", format!("the bot's risk limits are unusable: {e}"))
            })?;
            (strategy, symbol.unwrap_or(bot.symbol), timeframe, limits)
        }
        None => {
            let raw = req.strategy.as_ref().ok_or_else(|| {
                BacktestError::invalid("strategy", "is required (or give `bot_id`)")
            })?;
            filters = filters_of(raw)?;
            let strategy = parse_strategy(raw).map_err(BacktestError::Invalid)?;
            let symbol = parse_symbol(
                req.symbol
                    .as_deref()
                    .ok_or_else(|| BacktestError::invalid("symbol", "is required"))?,
            )?;
            let timeframe = parse_timeframe(
                req.timeframe
                    .as_deref()
                    .ok_or_else(|| BacktestError::invalid("timeframe", "is required"))?,
            )?;
            (
                strategy,
                symbol,
                timeframe,
                RiskLimits::defaults_for(timeframe),
            )
        }
    };
    let limits = match &req.risk {
        Some(raw) => limits.merged(&RiskLimitsPatch::parse(raw).map_err(|e| {
            let field = if e.field.is_empty() {
                "risk".to_owned()
            } else {
                format!("risk.{}", e.field)
            };
            BacktestError::invalid(&field, e.problem)
        })?),
        None => limits,
    };
    rules::check_range(timeframe, req.from, req.to, now).map_err(BacktestError::Invalid)?;
    let default_fill = crate::domain::execution::SimParams::default();
    let fill = FillModel {
        slippage_ticks: req.slippage_ticks.unwrap_or(default_fill.slippage_ticks),
        commission_per_contract: req
            .commission_per_side
            .unwrap_or(default_fill.commission_per_contract),
    };
    rules::check_fill(&fill).map_err(BacktestError::Invalid)?;
    let capital = req.starting_capital.unwrap_or(DEFAULT_STARTING_CAPITAL);
    rules::check_capital(capital).map_err(BacktestError::Invalid)?;
    let provider =
        bars::feed_provider(&rt.integrations()).ok_or_else(|| BacktestError::DataUnavailable {
            field: "symbol",
            message: "No market-data provider with bars (databento or polygon) is configured."
                .into(),
        })?;
    let start = bars::history_start(provider);
    if req.to <= start {
        return Err(BacktestError::DataUnavailable {
            field: "to",
            message: format!(
                "{provider} has no bars before {}; the range {} – {} is wholly outside its history.",
                start.date_naive(),
                req.from.to_rfc3339(),
                req.to.to_rfc3339()
            ),
        });
    }
    Ok(Checked {
        strategy,
        filters,
        symbol,
        timeframe,
        limits,
        fill,
        capital,
    })
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BacktestJob {
    backtest_id: Uuid,
    /// The run's entry filters (absent: none).
    #[serde(default)]
    filters: Option<StrategyFilters>,
}

/// What the results hash covers: the inputs' hash and every stored result.
#[derive(Serialize)]
struct Canonical<'a> {
    inputs_hash: &'a str,
    provider_id: &'a str,
    bars: usize,
    metrics: &'a Metrics,
    trades: &'a [SimTrade],
    equity_curve: &'a [EquityPoint],
    drawdown_curve: &'a [DrawdownPoint],
    no_trade_counts: &'a std::collections::BTreeMap<String, u64>,
    killed: &'a Option<backtest::Killed>,
}

/// Sets the flag when dropped: a worker that drops the job's work (cancel, timeout) stops the
/// blocking run at its next progress report.
struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

fn failure(code: ErrorCode, message: impl Into<String>) -> JobFailure {
    JobFailure::new(code, message)
}

/// The work of a [`BACKTEST`] job.
pub(super) async fn run_job(ctx: &JobContext) -> Result<JobDone, JobFailure> {
    let p: BacktestJob = serde_json::from_value(ctx.job.payload.clone())
        .map_err(|e| failure(ErrorCode::ValidationFailed, format!("payload: {e}")))?;
    let db = |e: sqlx::Error| failure(ErrorCode::DatabaseUnavailable, e.to_string());
    let bt = store::get(&ctx.pool, p.backtest_id)
        .await
        .map_err(db)?
        .ok_or_else(|| {
            failure(
                ErrorCode::BacktestNotFound,
                format!("no backtest {}", p.backtest_id),
            )
        })?;
    let route = bars::feed_route(&ctx.rt.integrations()).ok_or_else(|| {
        failure(
            ErrorCode::DataUnavailable,
            "no market-data provider with bars is configured",
        )
    })?;
    // Progress: bars 0–20 %, the run 20–95 %, the write to 100 %.
    let progress = ctx.progress.clone();
    // One vendor's bars: the primary's, or the secondary's when the primary fails.
    let routed = bar_history::ensure_routed_bars(
        &ctx.rt,
        &ctx.pool,
        route,
        bt.symbol,
        bt.timeframe,
        (bt.from, bt.to),
        CallContext {
            bot_id: bt.bot_id,
            run_id: Some(ctx.job.id),
        },
        |done, total| progress.report(done * 20 / total.max(1)),
    )
    .await
    .map_err(JobFailure::from)?;
    let (history, provider) = (routed.history, routed.provider);
    if history.bars.is_empty() {
        return Err(failure(
            ErrorCode::DataUnavailable,
            format!(
                "{provider} has no {} {} bars from {} to {}: the range holds no trading (a weekend, a holiday) or lies outside the vendor's history.",
                bt.symbol.as_str(),
                bt.timeframe.as_str(),
                bt.from.to_rfc3339(),
                bt.to.to_rfc3339()
            ),
        ));
    }
    let calendar = load_trading_calendar(&ctx.pool).await.map_err(db)?;
    let progress = ctx.progress.clone();
    let done = execute(
        &ctx.pool,
        &ctx.rt,
        &bt,
        Arc::new(history.bars),
        None,
        Arc::new(calendar),
        provider,
        p.filters.unwrap_or_default(),
        move |pct| progress.report(20 + pct * 75 / 100),
    )
    .await?;
    if matches!(done, JobDone::Finished(_)) && bt.sweep_id.is_none() {
        // Detached: the SUCCEEDED transition has committed, so the worker's watch may drop
        // this future at its next await (it sees the job no longer RUNNING); the refresh
        // must not be dropped with it.
        let (rt, pool) = (ctx.rt.clone(), ctx.pool.clone());
        tokio::spawn(async move { refresh_estimates(&rt, &pool, provider).await });
    }
    Ok(done)
}

/// Profit variables' contribution estimates from the bots' realized results (after a run
/// that may have changed them); a failure is logged, the run's results stand.
pub(super) async fn refresh_estimates(rt: &RuntimeHandle, pool: &PgPool, provider: &str) {
    let now = rt.clock().now();
    let since = now - chrono::Duration::days(30);
    if let Err(err) =
        crate::store::profit_variables::refresh_estimates(pool, provider, since, now).await
    {
        tracing::warn!(error = %err, "profit variable estimates not refreshed");
    }
}

/// Runs backtest `bt` over `bars` (the whole slice, or only the bars inside `window` when
/// given: a sweep shares one load of bars among its children) on a blocking thread and writes
/// its results with the job's SUCCEEDED transition. `progress` gets the run's percent (0–100).
/// A job that stopped being RUNNING (cancel, timeout) drops the work: the thread stops at its
/// next progress report once this future is dropped.
#[allow(clippy::too_many_arguments)]
pub(super) async fn execute(
    pool: &PgPool,
    rt: &RuntimeHandle,
    bt: &Backtest,
    bars: Arc<Vec<crate::domain::bars::Bar>>,
    window: Option<(DateTime<Utc>, DateTime<Utc>)>,
    calendar: Arc<crate::domain::calendar::HolidayCalendar>,
    provider: &'static str,
    filters: StrategyFilters,
    progress: impl Fn(usize) + Send + 'static,
) -> Result<JobDone, JobFailure> {
    let db = |e: sqlx::Error| failure(ErrorCode::DatabaseUnavailable, e.to_string());
    // The calendar filter replays the stored calendar, which must cover the whole range.
    let mut filter_data = FilterData::default();
    if filters
        .economic_calendar
        .as_ref()
        .is_some_and(|c| c.enabled)
    {
        let (from, to) = window.unwrap_or((bt.from, bt.to));
        filter_data.calendar = Some(
            crate::store::macro_data::calendar_for_replay(pool, from, to)
                .await
                .map_err(db)?
                .ok_or_else(|| {
                    failure(
                        ErrorCode::EconomicCalendarStale,
                        format!(
                            "The stored economic calendar does not cover {} to {}: the economic_calendar filter cannot be replayed. The calendar is fetched ahead only (TRADEPLANE_ECONOMIC_CALENDAR_DAYS), so backtest a range it covers, or remove the filter.",
                            from.to_rfc3339(),
                            to.to_rfc3339()
                        ),
                    )
                })?,
        );
    }
    // The news gate replays the stored classified headlines, which must cover the whole range
    // (fetched without a gap past the live gate's staleness bound, every headline classified).
    let mut news = NewsSnapshot::default();
    if let Some(gate) = &filters.news_gate {
        let (from, to) = window.unwrap_or((bt.from, bt.to));
        let span = chrono::Duration::minutes(i64::from(gate.window_minutes));
        let history = crate::store::news::history(pool, from, to, span)
            .await
            .map_err(db)?;
        if let Some(why) = news::replay_gap(&history, from, to, rt.news_fetch_stale()) {
            return Err(failure(
                ErrorCode::NewsHistoryIncomplete,
                format!(
                    "The stored news does not cover {} to {}: {why}. The news_gate filter cannot be replayed; headlines are fetched only while a news-gated bot runs, so backtest a range the gate was polling, or remove the filter.",
                    from.to_rfc3339(),
                    to.to_rfc3339()
                ),
            ));
        }
        news = NewsSnapshot::new(history.risk_off, None, None);
    }
    let raw = json!({ "kind": bt.strategy_kind, "params": bt.strategy_params });
    let strategy = parse_strategy(&raw).map_err(|e| {
        failure(
            ErrorCode::ValidationFailed,
            format!("{}: {}", e.field, e.problem),
        )
    })?;
    let limits = RiskLimits::from_stored(&bt.risk_limits, bt.timeframe)
        .map_err(|e| failure(ErrorCode::ValidationFailed, format!("risk_limits: {e}")))?;
    let mut spec = BacktestSpec {
        bot_id: bt.bot_id.unwrap_or(bt.id),
        strategy,
        filters,
        filter_data: Arc::new(filter_data),
        news: Arc::new(news),
        instrument: bt.symbol.spec(),
        timeframe: bt.timeframe,
        limits,
        fill: FillModel {
            slippage_ticks: u32::try_from(bt.slippage_ticks).unwrap_or(0),
            commission_per_contract: bt.commission_per_side,
        },
        starting_capital: bt.starting_capital,
        calendar,
        // As an unscored PAPER bot trades: full size, every gate on.
        tier: AutonomyTier::Supervised,
        // A whole range warms the strategy up on its first bars (their evaluations are
        // no-trades); a sweep's window on the bars before it (below).
        evaluate_from: None,
        roll_warmups: Default::default(),
    };
    let (start, lo, hi) = match window {
        Some((from, to)) => {
            let (from, to) = bar_history::align(bt.timeframe, from, to);
            let w = backtest::window_run(&bars, from, to, bt.timeframe, &spec.strategy);
            spec.evaluate_from = w.evaluate_from;
            (w.start, w.lo, w.end)
        }
        None => (0, 0, bars.len()),
    };
    if lo >= hi {
        return Err(failure(
            ErrorCode::DataUnavailable,
            format!(
                "no {} {} bars from {} to {}: the window holds no trading (a weekend, a holiday).",
                bt.symbol.as_str(),
                bt.timeframe.as_str(),
                bt.from.to_rfc3339(),
                bt.to.to_rfc3339()
            ),
        ));
    }
    // The rolls inside the bars run: each new contract's window warms up on its own bars from
    // before the roll (ensured like any bars, from the provider that served the run).
    let tf = bt.timeframe.duration();
    let warmups = BarHistoryRequest {
        provider: provider.to_owned(),
        instrument: bt.symbol,
        timeframe: bt.timeframe,
        from: bars[start].ts_open,
        to: bars[hi - 1].ts_open + tf,
        ctx: CallContext {
            bot_id: bt.bot_id,
            run_id: Some(bt.job_id),
        },
    };
    let need = spec.strategy.warmup_bars() as usize + 2;
    spec.roll_warmups = Arc::new(
        bar_history::ensure_roll_warmups(rt, pool, &warmups, need)
            .await
            .map_err(JobFailure::from)?,
    );
    let stop = Arc::new(AtomicBool::new(false));
    let _stop_on_drop = StopOnDrop(stop.clone());
    let inputs_hash = bt.inputs_hash.clone();
    let computed = tokio::task::spawn_blocking(move || {
        let slice = &bars[start..hi];
        let total = slice.len().max(1);
        let run = backtest::run_until(&spec, slice, &mut |done| {
            progress(done * 100 / total);
            if stop.load(Ordering::Relaxed) {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })?;
        Some(results_of(&spec, &run, provider, &inputs_hash))
    })
    .await
    .map_err(|e| {
        failure(
            ErrorCode::Internal,
            format!("the backtest run panicked: {e}"),
        )
    })?;
    let Some(results) = computed else {
        return Ok(JobDone::Dropped);
    };
    let summary = json!({
        "backtest_id": bt.id,
        "provider": provider,
        "bars": results.bars,
        "trades": results.trades.len(),
        "results_hash": results.results_hash,
    });
    let details = TransitionDetails {
        result: Some(summary),
        metadata: Some(json!({ "backtest_id": bt.id })),
        ..Default::default()
    };
    match store::complete(pool, bt, results, rt.clock().now(), details).await {
        Ok(run) => Ok(JobDone::Finished(Box::new(run))),
        Err(JobError::InvalidTransition { .. }) => Ok(JobDone::Dropped),
        Err(JobError::NotFound(id)) => Err(failure(
            ErrorCode::JobNotFound,
            format!("job {id} disappeared"),
        )),
        Err(JobError::Db(e)) => Err(db(e)),
    }
}

/// The stored results of a finished run, and their hash.
fn results_of(
    spec: &BacktestSpec,
    run: &backtest::BacktestRun,
    provider: &str,
    inputs_hash: &str,
) -> Results {
    let metrics = backtest_metrics::compute(spec.starting_capital, &run.trades, &run.equity);
    let drawdown = backtest_metrics::drawdown_curve(spec.starting_capital, &run.equity);
    let equity_curve = rules::thin(&run.equity, MAX_CURVE_POINTS);
    let drawdown_curve = rules::thin(&drawdown, MAX_CURVE_POINTS);
    let results_hash = rules::content_hash(&Canonical {
        inputs_hash,
        provider_id: provider,
        bars: run.bars_processed,
        metrics: &metrics,
        trades: &run.trades,
        equity_curve: &equity_curve,
        drawdown_curve: &drawdown_curve,
        no_trade_counts: &run.no_trades_by_code,
        killed: &run.killed,
    });
    Results {
        provider_id: provider.to_owned(),
        bars: i32::try_from(run.bars_processed).unwrap_or(i32::MAX),
        metrics: json(&metrics),
        equity_curve: json(&equity_curve),
        drawdown_curve: json(&drawdown_curve),
        no_trade_counts: json(&run.no_trades_by_code),
        killed: json(&run.killed),
        results_hash,
        trades: run.trades.clone(),
    }
}

fn json<T: Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}
