//! Running a backtest job: its bars through the one call path, the blocking run (stopped when
//! the job is dropped), and the results with their hash written with SUCCEEDED.

use std::ops::ControlFlow;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use crate::domain::{
    backtest::{
        self, BacktestSpec, EquityPoint, FillModel, SimTrade,
        request::{self as rules, MAX_CURVE_POINTS},
    },
    backtest_metrics::{self, DrawdownPoint, Metrics},
    news::{self, NewsSnapshot},
    risk::{AutonomyTier, RiskLimits},
    strategy_filters::{FilterData, StrategyFilters},
};
use crate::error_code::ErrorCode;
use crate::integrations::{bars, http::CallContext};
use crate::runtime::RuntimeHandle;
use crate::runtime::bar_history::{self, BarHistoryRequest};
use crate::runtime::jobs::{JobContext, JobDone, JobFailure};
use crate::store::{
    backtests::{self as store, Backtest, Results},
    cme_holidays::load_trading_calendar,
    jobs::{JobError, TransitionDetails},
};

use super::parse_strategy;

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

/// The work of a [`BACKTEST`](super::BACKTEST) job.
pub(in crate::runtime) async fn run_job(ctx: &JobContext) -> Result<JobDone, JobFailure> {
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
pub(in crate::runtime) async fn refresh_estimates(
    rt: &RuntimeHandle,
    pool: &PgPool,
    provider: &str,
) {
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
pub(in crate::runtime) async fn execute(
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
