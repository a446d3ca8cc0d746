//! Parameter sweeps and walk-forward as jobs (issue 15 part 5). A request is checked like a
//! backtest's plus its parameter space (`domain::backtest::sweep`: unknown params, bad ranges
//! and more child backtests than [`LabConfig::max_sweep_backtests`] are refused naming the
//! field; nothing is written), then stored as a parent job of kind [`SWEEP`] with one
//! ordinary `backtest` child job per combination and window, in one transaction.
//!
//! The worker that claims the parent loads the range's bars once (through the one call path),
//! then claims the parent's QUEUED children one by one (`jobs::claim_child`, SKIP LOCKED) and
//! runs each over its window of those bars; other workers (any node) may claim children too
//! through the ordinary queue. The parent's progress is its finished children over all of
//! them; it SUCCEEDS when every child has ended (FAILED when none succeeded). Cancelling the
//! parent cancels its QUEUED and RUNNING children (`PARENT_CANCELLED`). The ranking and the
//! walk-forward outcome are computed on read from the children's stored metrics.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use super::RuntimeHandle;
use super::backtests::{self, BACKTEST, BacktestError, BacktestRequest, JOB_TIMEOUT_SECONDS};
use super::bar_history;
use super::jobs::{self, JobContext, JobDone, JobFailure, Progress};
use crate::domain::{
    backtest::{
        evidence::ResultsThresholds,
        sweep::{self, ChildFigures, Figures, FoldResult, RankRow, SortKey, SweepMode, Window},
        walk_forward::{self, WalkForward},
    },
    backtest_metrics::Metrics,
    strategy_config::FieldError,
};
use crate::error_code::ErrorCode;
use crate::integrations::{bars, http::CallContext};
use crate::store::{
    backtests as store_backtests,
    cme_holidays::load_trading_calendar,
    jobs::{self as job_store, JobError, JobRun, JobStatus, NewJob, TransitionDetails},
    sweeps::{self as store, ChildCounts, NewChild, NewSweep, Sweep},
};

/// Kind of the parent job of a sweep (payload `{"sweep_id": …}`).
pub const SWEEP: &str = "sweep";

/// The lab's bounds and the PAPER → SHADOW evidence thresholds.
#[derive(Debug, Clone)]
pub struct LabConfig {
    /// Most child backtests one sweep may create (combinations × windows).
    pub max_sweep_backtests: u64,
    /// What PAPER → SHADOW asks of a bot's PAPER trades and SHADOW → LIVE of its SHADOW ones.
    pub paper: ResultsThresholds,
}

impl Default for LabConfig {
    fn default() -> Self {
        LabConfig {
            max_sweep_backtests: 1_000,
            paper: ResultsThresholds::default(),
        }
    }
}

/// A sweep request: a backtest request (its strategy is the base the combinations start
/// from) plus the space to sweep.
#[derive(Debug, Clone)]
pub struct SweepRequest {
    pub base: BacktestRequest,
    /// `{name: {"values": […]} | {"min", "max", "step"}}`.
    pub params: Value,
    pub mode: Option<String>,
    /// Random mode: how many combinations to draw.
    pub samples: Option<u64>,
    pub seed: Option<u64>,
    pub walk_forward: Option<Value>,
    /// The sort key in-sample optimisation picks by (default `net_pnl`).
    pub objective: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    #[error(transparent)]
    Backtest(#[from] BacktestError),
    #[error("no sweep with id {0}")]
    NotFound(Uuid),
}

impl From<sqlx::Error> for SweepError {
    fn from(e: sqlx::Error) -> Self {
        SweepError::Backtest(BacktestError::Database(e))
    }
}

fn invalid(e: FieldError) -> SweepError {
    SweepError::Backtest(BacktestError::Invalid(e))
}

fn invalid_field(field: &str, problem: impl Into<String>) -> SweepError {
    invalid(FieldError {
        field: field.to_owned(),
        problem: problem.into(),
    })
}

/// Checks `req` and queues the sweep: its parent job and every child backtest job in one
/// transaction, announced on the live stream. Any refusal writes nothing.
pub async fn submit(
    rt: &RuntimeHandle,
    pool: &PgPool,
    req: SweepRequest,
    by: Option<&str>,
) -> Result<(Sweep, JobRun), SweepError> {
    let checked = backtests::check(rt, pool, &req.base).await?;
    if !checked.filters.is_empty() {
        return Err(invalid_field(
            "strategy.filters",
            "are not replayed by sweeps yet: backtest the filtered strategy on its own, or sweep it without filters",
        ));
    }
    let max = rt.lab_config().max_sweep_backtests;
    let raw = req
        .params
        .as_object()
        .ok_or_else(|| invalid_field("params", "must be an object of parameter ranges"))?;
    let ranges = sweep::parse_ranges(raw).map_err(invalid)?;
    let space = sweep::parse_space(checked.strategy.kind(), &ranges).map_err(invalid)?;
    let mode = match req.mode.as_deref() {
        None | Some("grid") => SweepMode::Grid,
        Some("random") => SweepMode::Random,
        Some(_) => return Err(invalid_field("mode", "must be grid or random")),
    };
    let objective = match req.objective.as_deref() {
        None => SortKey::NetPnl,
        Some(raw) => SortKey::parse(raw).ok_or_else(|| {
            invalid_field(
                "objective",
                "must be one of net_pnl, profit_factor, trades, max_drawdown, sharpe",
            )
        })?,
    };
    let wf: Option<WalkForward> = req
        .walk_forward
        .as_ref()
        .map(|raw| {
            serde_json::from_value(raw.clone()).map_err(|e| {
                invalid_field(
                    "walk_forward",
                    format!("must be {{folds, out_of_sample_pct}}: {e}"),
                )
            })
        })
        .transpose()?;
    let windows_per_combination = wf.map_or(1, |w| 2 * u64::from(w.folds));
    let (asked, field) = match mode {
        SweepMode::Grid => (space.grid_size(), "params"),
        SweepMode::Random => {
            let samples = req
                .samples
                .filter(|&n| n > 0)
                .ok_or_else(|| invalid_field("samples", "is required above 0 in random mode"))?;
            (samples.min(space.grid_size()), "samples")
        }
    };
    let total = asked.saturating_mul(windows_per_combination);
    if total > max {
        return Err(invalid_field(
            field,
            format!(
                "the sweep would run {total} backtests ({asked} combinations × {windows_per_combination} windows); at most {max} are allowed: narrow the ranges, raise the steps, sample fewer or use fewer folds"
            ),
        ));
    }
    let seed = req.seed.unwrap_or(0);
    let picked = sweep::pick(&space, mode, req.samples.unwrap_or(0), seed);
    let mut combos = Vec::new();
    let mut skipped = 0i32;
    for index in picked {
        let combination = space.combination(index);
        match sweep::apply(&checked.strategy, &combination) {
            Ok(strategy) => combos.push(strategy),
            Err(_) => skipped += 1,
        }
    }
    if combos.is_empty() {
        return Err(invalid_field(
            "params",
            "no combination is a valid strategy (e.g. every `fast` is at least its `slow`)",
        ));
    }
    let warmup = combos
        .iter()
        .map(|s| i64::from(s.warmup_bars()))
        .max()
        .unwrap_or(1);
    let folds = match &wf {
        Some(w) => Some(
            walk_forward::splits(w, checked.timeframe, req.base.from, req.base.to, warmup + 1)
                .map_err(invalid)?,
        ),
        None => None,
    };
    let windows: Vec<(Window, Option<i32>, _, _)> = match &folds {
        None => vec![(Window::Full, None, req.base.from, req.base.to)],
        Some(folds) => folds
            .iter()
            .flat_map(|f| {
                let k = i32::try_from(f.index).ok();
                [
                    (Window::InSample, k, f.is_from, f.is_to),
                    (Window::OutOfSample, k, f.is_to, f.oos_to),
                ]
            })
            .collect(),
    };
    let mut children = Vec::with_capacity(combos.len() * windows.len());
    for (i, strategy) in combos.iter().enumerate() {
        for &(window, fold, from, to) in &windows {
            children.push(NewChild {
                backtest: checked.new_backtest(strategy, req.base.bot_id, from, to, by),
                combination: i32::try_from(i).unwrap_or(i32::MAX),
                fold,
                window: window.as_str(),
            });
        }
    }
    let base_params = serde_json::to_value(&checked.strategy)
        .ok()
        .and_then(|v| v.get("params").cloned())
        .unwrap_or(Value::Null);
    let id = Uuid::now_v7();
    let new = NewSweep {
        bot_id: req.base.bot_id,
        strategy_kind: checked.strategy.kind().to_owned(),
        base_params,
        space: serde_json::to_value(&space.axes).unwrap_or(Value::Null),
        mode: match mode {
            SweepMode::Grid => "grid".into(),
            SweepMode::Random => "random".into(),
        },
        samples: req.samples.map(|n| i32::try_from(n).unwrap_or(i32::MAX)),
        seed: (mode == SweepMode::Random).then_some(seed as i64),
        walk_forward: req.walk_forward.clone().filter(|_| wf.is_some()),
        folds: folds.as_ref().and_then(|f| serde_json::to_value(f).ok()),
        objective: serde_json::to_value(objective)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_else(|| "net_pnl".into()),
        symbol: checked.symbol,
        timeframe: checked.timeframe,
        from: req.base.from,
        to: req.base.to,
        combinations: i32::try_from(combos.len()).unwrap_or(i32::MAX),
        skipped,
        created_by: by.map(str::to_owned),
    };
    let parent = NewJob {
        kind: SWEEP.into(),
        timeout_seconds: JOB_TIMEOUT_SECONDS,
        bot_id: req.base.bot_id,
        payload: json!({ "sweep_id": id }),
    };
    let bot_id = req.base.bot_id;
    let (row, run) = store::create(pool, id, new, parent, children, |bt| {
        backtests::backtest_job(bt, bot_id)
    })
    .await?;
    jobs::announce(rt, &run);
    Ok((row, run))
}

/// A sweep as served: the sweep, its children by status, the ranking (sorted as asked) and,
/// for a walk-forward, each fold's chosen combination with its out-of-sample figures.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SweepView {
    pub sweep: Sweep,
    pub children: ChildCounts,
    /// One row per combination: `params` (the swept ones), `in_sample` and `out_of_sample`
    /// figures (`{net_pnl, profit_factor, trades, max_drawdown_pct, sharpe}`; null until
    /// every window of that kind succeeded) and `backtest_ids`.
    #[schema(value_type = Vec<Object>)]
    pub ranking: Vec<RankRow>,
    /// What the ranking is sorted by and in which order.
    pub sort: SortKey,
    pub descending: bool,
    /// Walk-forward only: per fold, the best in-sample combination by the objective and its
    /// out-of-sample figures.
    #[schema(value_type = Option<Vec<Object>>)]
    pub walk_forward: Option<Vec<FoldResult>>,
    /// The chosen combinations' out-of-sample figures over every fold, combined.
    #[schema(value_type = Option<Object>)]
    pub walk_forward_out_of_sample: Option<Figures>,
}

fn figures(metrics: &Value) -> Option<Figures> {
    let m: Metrics = serde_json::from_value(metrics.clone()).ok()?;
    Some(Figures {
        net_pnl: m.net_pnl,
        profit_factor: m.profit_factor,
        trades: m.trades,
        max_drawdown_pct: m.max_drawdown_pct,
        sharpe: m.sharpe,
    })
}

/// One sweep with its ranking sorted by `sort` (default: the objective), descending unless
/// `descending` is false.
pub async fn view(
    pool: &PgPool,
    id: Uuid,
    sort: Option<SortKey>,
    descending: Option<bool>,
) -> Result<SweepView, SweepError> {
    let sweep = store::get(pool, id)
        .await?
        .ok_or(SweepError::NotFound(id))?;
    let counts = store::child_counts(pool, sweep.job_id).await?;
    let axes: Vec<String> = serde_json::from_value::<Vec<(String, Value)>>(sweep.space.clone())
        .map(|a| a.into_iter().map(|(n, _)| n).collect())
        .unwrap_or_default();
    let children: Vec<ChildFigures> = store::children(pool, id)
        .await?
        .into_iter()
        .map(|c| ChildFigures {
            backtest_id: c.id,
            combination: u32::try_from(c.combination).unwrap_or(0),
            fold: c.fold.and_then(|f| u32::try_from(f).ok()),
            window: Window::parse(&c.window).unwrap_or(Window::Full),
            params: axes
                .iter()
                .filter_map(|n| Some((n.clone(), c.strategy_params.get(n)?.clone())))
                .collect::<BTreeMap<_, _>>(),
            figures: if c.status == JobStatus::Succeeded {
                c.metrics.as_ref().and_then(figures)
            } else {
                None
            },
        })
        .collect();
    let objective = SortKey::parse(&sweep.objective).unwrap_or(SortKey::NetPnl);
    let sort = sort.unwrap_or(objective);
    let descending = descending.unwrap_or(true);
    let mut ranking = sweep::ranking(&children);
    sweep::rank(&mut ranking, sort, descending);
    let (walk_forward, walk_forward_out_of_sample) = if sweep.walk_forward.is_some() {
        let folds = sweep::walk_forward(&children, objective);
        let oos: Option<Vec<Figures>> = folds.iter().map(|f| f.out_of_sample.clone()).collect();
        let expected = sweep
            .folds
            .as_ref()
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        let total = oos
            .filter(|o| o.len() == expected)
            .and_then(|o| Figures::combine(&o));
        (Some(folds), total)
    } else {
        (None, None)
    };
    Ok(SweepView {
        sweep,
        children: counts,
        ranking,
        sort,
        descending,
        walk_forward,
        walk_forward_out_of_sample,
    })
}

fn failure(code: ErrorCode, message: impl Into<String>) -> JobFailure {
    JobFailure::new(code, message)
}

fn pct(c: &ChildCounts) -> usize {
    usize::try_from(c.finished() * 100 / c.total.max(1)).unwrap_or(100)
}

/// The work of a [`SWEEP`] job: load the bars once, run the queued children, wait for the rest.
pub(super) async fn run_job(ctx: &JobContext) -> Result<JobDone, JobFailure> {
    let db = |e: sqlx::Error| failure(ErrorCode::DatabaseUnavailable, e.to_string());
    let sweep = store::by_job(&ctx.pool, ctx.job.id)
        .await
        .map_err(db)?
        .ok_or_else(|| failure(ErrorCode::SweepNotFound, "no sweep for this job"))?;
    let route = bars::feed_route(&ctx.rt.integrations()).ok_or_else(|| {
        failure(
            ErrorCode::DataUnavailable,
            "no market-data provider with bars is configured",
        )
    })?;
    let progress = ctx.progress.clone();
    // One vendor's bars for every child: the primary's, or the secondary's when it fails.
    let routed = bar_history::ensure_routed_bars(
        &ctx.rt,
        &ctx.pool,
        route,
        sweep.symbol,
        sweep.timeframe,
        (sweep.from, sweep.to),
        CallContext {
            bot_id: sweep.bot_id,
            run_id: Some(ctx.job.id),
        },
        |_, _| progress.report(0),
    )
    .await
    .map_err(JobFailure::from)?;
    let (history, provider) = (routed.history, routed.provider);
    let calendar = Arc::new(load_trading_calendar(&ctx.pool).await.map_err(db)?);
    let bars = Arc::new(history.bars);
    let worker = ctx.job.claimed_by.clone().unwrap_or_default();
    // This worker runs the queued children one at a time (others may take some too).
    while let Some((child, trace)) =
        job_store::claim_child(&ctx.pool, &[BACKTEST], ctx.job.id, &worker)
            .await
            .map_err(db)?
    {
        ctx.rt.bus().publish_job(&child, Some("CLAIMED"));
        trace
            .scope(run_child(
                ctx,
                &child,
                bars.clone(),
                calendar.clone(),
                provider,
            ))
            .await
            .map_err(db)?;
        let counts = store::child_counts(&ctx.pool, ctx.job.id)
            .await
            .map_err(db)?;
        ctx.progress.report(pct(&counts));
    }
    // Children another worker took: wait for them to end.
    let counts = loop {
        let counts = store::child_counts(&ctx.pool, ctx.job.id)
            .await
            .map_err(db)?;
        ctx.progress.report(pct(&counts));
        if counts.finished() >= counts.total {
            break counts;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    if counts.succeeded == 0 {
        return Err(failure(
            ErrorCode::DataUnavailable,
            format!(
                "none of the sweep's {} backtests succeeded ({} failed, {} cancelled, {} timed out); read a child's error under GET /api/backtests?sweep_id={}",
                counts.total, counts.failed, counts.cancelled, counts.timed_out, sweep.id
            ),
        ));
    }
    backtests::refresh_estimates(&ctx.rt, &ctx.pool, provider).await;
    Ok(JobDone::Result(json!({
        "sweep_id": sweep.id,
        "provider": provider,
        "children": counts,
    })))
}

/// Runs one claimed child over its window of the shared bars and ends its job (SUCCEEDED with
/// its results, FAILED with the failure's code, or nothing if it was cancelled meanwhile).
async fn run_child(
    ctx: &JobContext,
    child: &JobRun,
    bars: Arc<Vec<crate::domain::bars::Bar>>,
    calendar: Arc<crate::domain::calendar::HolidayCalendar>,
    provider: &'static str,
) -> Result<(), sqlx::Error> {
    let outcome = match store_backtests::by_job(&ctx.pool, child.id).await? {
        Some(bt) => {
            // The child is a job of its own: heartbeaten with its progress while it runs, and
            // dropped when it stops being RUNNING (cancelled, timed out), as any worker does.
            let progress = Arc::new(Progress::default());
            let reports = progress.clone();
            let work = backtests::execute(
                &ctx.pool,
                &ctx.rt,
                &bt,
                bars,
                Some((bt.from, bt.to)),
                calendar,
                provider,
                Default::default(),
                move |pct| reports.report(pct),
            );
            tokio::select! {
                done = work => done,
                _ = jobs::watch(&ctx.rt, &ctx.pool, ctx.heartbeat_every, child, &progress) => {
                    Ok(JobDone::Dropped)
                }
            }
        }
        None => Err(failure(
            ErrorCode::BacktestNotFound,
            format!("no backtest for job {}", child.id),
        )),
    };
    match outcome {
        Ok(JobDone::Finished(run)) => {
            ctx.rt.bus().publish_job(&run, Some("COMPLETED"));
        }
        Ok(JobDone::Result(_) | JobDone::Dropped) => {}
        Err(f) => {
            let details = TransitionDetails {
                metadata: Some(json!({ "worker": child.claimed_by, "parent_id": ctx.job.id })),
                error: Some(f.message.clone()),
                error_code: Some(f.code.as_str().into()),
                ..Default::default()
            };
            match job_store::transition(
                &ctx.pool,
                child.id,
                JobStatus::Running,
                JobStatus::Failed,
                f.code.as_str(),
                details,
            )
            .await
            {
                Ok(run) => {
                    ctx.rt.bus().publish_job(&run, Some(f.code.as_str()));
                }
                Err(JobError::Db(e)) => return Err(e),
                Err(_) => {}
            }
        }
    }
    Ok(())
}

/// After its parent was cancelled: cancels the QUEUED and RUNNING children and publishes them.
pub async fn cancel_children(
    rt: &RuntimeHandle,
    pool: &PgPool,
    parent: &JobRun,
    by: &str,
) -> Result<usize, sqlx::Error> {
    if parent.kind != SWEEP {
        return Ok(0);
    }
    let cancelled = store::cancel_children(pool, parent.id, by).await?;
    for run in &cancelled {
        rt.bus().publish_job(run, Some("PARENT_CANCELLED"));
    }
    Ok(cancelled.len())
}

/// "Create bot from this result": a LAB bot (STOPPED) with the backtest's strategy, params,
/// symbol, timeframe and risk limits, its profit variables synced and the backtest linked to
/// it as its evidence, in one transaction; the LAB → PAPER gate then reads that backtest as
/// the bot's own while the bot keeps those params. Only a SUCCEEDED backtest qualifies.
pub async fn create_bot_from_result(
    rt: &RuntimeHandle,
    pool: &PgPool,
    backtest_id: Uuid,
    name: Option<String>,
    by: Option<&str>,
) -> Result<crate::store::bots::Bot, BacktestError> {
    use crate::store::bots::{self, BotWriteError, NewBot};
    let bt = store_backtests::get(pool, backtest_id)
        .await?
        .ok_or(BacktestError::NotFound(backtest_id))?;
    if bt.status != JobStatus::Succeeded {
        return Err(BacktestError::Invalid(FieldError {
            field: "id".into(),
            problem: format!(
                "the backtest is {}; only a SUCCEEDED backtest can become a bot",
                bt.status.as_str()
            ),
        }));
    }
    let raw = json!({ "kind": bt.strategy_kind, "params": bt.strategy_params });
    let strategy = backtests::parse_strategy(&raw).map_err(BacktestError::Invalid)?;
    let id = bt.id.simple().to_string();
    let name = name.unwrap_or_else(|| {
        format!(
            "{}-{}-{}-{}",
            bt.strategy_kind,
            bt.symbol.as_str(),
            bt.timeframe.as_str(),
            &id[id.len() - 8..]
        )
    });
    let now = rt.clock().now();
    let mut tx = pool.begin().await?;
    let bot = bots::insert(
        &mut *tx,
        NewBot {
            name,
            symbol: bt.symbol,
            timeframe: bt.timeframe,
            stage: crate::domain::risk::Stage::Lab,
            strategy: serde_json::to_value(&strategy).unwrap_or(raw),
            risk_limits: bt.risk_limits.clone(),
            created_by: by.map(str::to_owned),
        },
        now,
    )
    .await
    .map_err(|e| match e {
        BotWriteError::NameTaken => BacktestError::Invalid(FieldError {
            field: "name".into(),
            problem: "is already used by another bot".into(),
        }),
        BotWriteError::Db(e) => BacktestError::Database(e),
    })?;
    crate::store::profit_variables::sync_bot(&mut *tx, bot.id, strategy.variables(), now).await?;
    store_backtests::link_evidence(&mut tx, bot.id, bt.id, by).await?;
    tx.commit().await?;
    Ok(bot)
}
