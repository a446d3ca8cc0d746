//! The Jobs supervisor and its bounded pool of worker actors (SPEC §2 job FSM).
//!
//! A worker claims the oldest QUEUED job of a kind it runs (`jobs::claim`, `FOR UPDATE SKIP
//! LOCKED`, so any number of workers and nodes share one queue and never run one job twice),
//! runs it under the trace id it was created with, and ends it SUCCEEDED (`COMPLETED`) or
//! FAILED (the failure's code). While it runs, the job reports progress; every
//! `heartbeat_every` the worker writes the heartbeat and progress when there was a report
//! (`PROGRESS` live event) and checks the job is still RUNNING: a job cancelled by an operator
//! or timed out by the scheduler's sweep (no report within `timeout_seconds`) is dropped there.
//! A worker that crashes is restarted by the supervisor; its first act is to fail the job
//! it held (`JOB_WORKER_CRASHED`), so no job is left RUNNING behind a dead worker (a node that
//! dies whole leaves its jobs to the heartbeat sweep: TIMEOUT).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef};
use serde::Deserialize;
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use super::RuntimeHandle;
use super::bar_history::{self, BarHistoryError, BarHistoryRequest};
use crate::domain::{instruments::Symbol, timeframe::Timeframe};
use crate::error_code::ErrorCode;
use crate::integrations::{bars, http::CallContext};
use crate::store::jobs::{self, JobError, JobRun, JobStatus, NewJob, TransitionDetails};
use crate::trace::TraceId;

/// Kind of a job that ensures a range of bar history is stored (payload [`BarHistoryJob`]).
pub const BAR_HISTORY: &str = "bar_history";

/// The kinds this node's workers run.
pub const KINDS: [&str; 3] = [
    BAR_HISTORY,
    super::backtests::BACKTEST,
    super::sweeps::SWEEP,
];

#[derive(Debug, Clone)]
pub struct JobsConfig {
    /// Workers in the pool: at most this many jobs run at once on this node.
    pub workers: usize,
    /// How often an idle worker looks for a job (a job submitted here wakes it at once).
    pub poll_every: Duration,
    /// How often a busy worker writes its job's heartbeat and checks it is still RUNNING.
    pub heartbeat_every: Duration,
}

impl Default for JobsConfig {
    fn default() -> Self {
        Self {
            workers: 2,
            poll_every: Duration::from_millis(500),
            heartbeat_every: Duration::from_secs(1),
        }
    }
}

/// Drills (tests, operations): what the next claimed job does instead of its work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobFault {
    /// The worker actor fails while holding the job.
    Crash,
    /// The job stops reporting (its heartbeat goes stale).
    Hang,
}

/// What the handle and the workers share.
#[derive(Default)]
pub struct JobsShared {
    pub(super) wake: tokio::sync::Notify,
    pub(super) fault: Mutex<Option<JobFault>>,
    /// Jobs claimed by this node's workers since start.
    pub claimed: AtomicU64,
}

impl JobsShared {
    fn take_fault(&self) -> Option<JobFault> {
        match self.fault.lock() {
            Ok(mut f) => f.take(),
            Err(p) => p.into_inner().take(),
        }
    }
}

/// A job's progress as its work reports it; read by the worker's heartbeat.
#[derive(Default)]
pub struct Progress {
    pct: AtomicUsize,
    reports: AtomicU64,
}

impl Progress {
    /// `pct` of the job is done (0–100; never goes back). Cheap: call it as often as useful.
    pub fn report(&self, pct: usize) {
        self.pct.fetch_max(pct.min(100), Ordering::Relaxed);
        self.reports.fetch_add(1, Ordering::Relaxed);
    }

    fn read(&self) -> (u64, i16) {
        let pct = i16::try_from(self.pct.load(Ordering::Relaxed)).unwrap_or(100);
        (self.reports.load(Ordering::Relaxed), pct)
    }
}

/// Why a job failed: a code (from the catalog) and a message for the operator.
#[derive(Debug, Clone, PartialEq)]
pub struct JobFailure {
    pub code: ErrorCode,
    pub message: String,
}

impl JobFailure {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

impl From<BarHistoryError> for JobFailure {
    fn from(e: BarHistoryError) -> Self {
        let code = match &e {
            BarHistoryError::Database(_) => ErrorCode::DatabaseUnavailable,
            BarHistoryError::Provider(_) => ErrorCode::DataUnavailable,
        };
        JobFailure::new(code, e.to_string())
    }
}

/// How a job's work ended (a failure is a [`JobFailure`]).
#[derive(Debug)]
pub enum JobDone {
    /// Done: the worker moves the job to SUCCEEDED with this result.
    Result(Value),
    /// The work moved the job to SUCCEEDED itself, in the transaction that stored what it
    /// produced.
    Finished(Box<JobRun>),
    /// The job stopped being RUNNING (cancelled, timed out) before the work could finish;
    /// nothing of it was kept.
    Dropped,
}

/// What a job's work gets: the job, the runtime (provider calls), the pool and its progress.
pub struct JobContext {
    pub job: JobRun,
    pub rt: RuntimeHandle,
    pub pool: PgPool,
    pub progress: Arc<Progress>,
    /// How often a job run inside this one (a sweep's child) is heartbeaten ([`watch`]).
    pub heartbeat_every: Duration,
}

/// Queues a job and wakes an idle worker; publishes it (`job` live event, reason `CREATED`).
pub async fn submit(rt: &RuntimeHandle, pool: &PgPool, job: NewJob) -> Result<JobRun, sqlx::Error> {
    let run = jobs::create(pool, job).await?;
    announce(rt, &run);
    Ok(run)
}

/// A job just created (committed) elsewhere: published and an idle worker woken.
pub fn announce(rt: &RuntimeHandle, run: &JobRun) {
    rt.bus().publish_job(run, Some("CREATED"));
    rt.inner.jobs.wake.notify_waiters();
}

/// An operator cancels a job: QUEUED → CANCELLED, or RUNNING → CANCELLED (its worker drops it
/// at its next heartbeat and nothing it computes is kept); a sweep's QUEUED and RUNNING
/// children are cancelled with it. A finished job → `InvalidTransition`.
pub async fn cancel(
    rt: &RuntimeHandle,
    pool: &PgPool,
    id: Uuid,
    by: &str,
) -> Result<JobRun, JobError> {
    let details = || TransitionDetails {
        metadata: Some(json!({ "by": by })),
        error: Some(format!("cancelled by {by}")),
        error_code: Some("CANCELLED_BY_OPERATOR".into()),
        ..Default::default()
    };
    let mut status = jobs::get(pool, id)
        .await?
        .ok_or(JobError::NotFound(id))?
        .status;
    // A claim may move it QUEUED → RUNNING between the read and the update: try once more.
    for _ in 0..2 {
        match jobs::transition(
            pool,
            id,
            status,
            JobStatus::Cancelled,
            "CANCELLED_BY_OPERATOR",
            details(),
        )
        .await
        {
            Ok(run) => {
                rt.bus().publish_job(&run, Some("CANCELLED_BY_OPERATOR"));
                // A sweep's children go with it.
                if let Err(err) = super::sweeps::cancel_children(rt, pool, &run, by).await {
                    tracing::error!(job = %run.id, error = %err, "could not cancel the sweep's children");
                    return Err(JobError::Db(err));
                }
                return Ok(run);
            }
            Err(JobError::InvalidTransition { actual, .. })
                if actual != status && !actual.is_terminal() =>
            {
                status = actual;
            }
            Err(e) => return Err(e),
        }
    }
    let actual = jobs::get(pool, id)
        .await?
        .ok_or(JobError::NotFound(id))?
        .status;
    Err(JobError::InvalidTransition {
        actual,
        from: status,
        to: JobStatus::Cancelled,
    })
}

/// Payload of a [`BAR_HISTORY`] job.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BarHistoryJob {
    /// One of `integrations::bars::PROVIDERS` (default: the feed provider).
    pub provider: Option<String>,
    pub symbol: Symbol,
    pub timeframe: Timeframe,
    pub from: chrono::DateTime<chrono::Utc>,
    pub to: chrono::DateTime<chrono::Utc>,
}

async fn bar_history_job(ctx: &JobContext) -> Result<Value, JobFailure> {
    let p: BarHistoryJob = serde_json::from_value(ctx.job.payload.clone())
        .map_err(|e| JobFailure::new(ErrorCode::ValidationFailed, format!("payload: {e}")))?;
    let provider = match p.provider {
        Some(id) => id,
        None => bars::feed_provider(&ctx.rt.integrations())
            .ok_or_else(|| {
                JobFailure::new(
                    ErrorCode::DataUnavailable,
                    "no market-data provider is configured",
                )
            })?
            .to_owned(),
    };
    let request = BarHistoryRequest {
        provider,
        instrument: p.symbol,
        timeframe: p.timeframe,
        from: p.from,
        to: p.to,
        ctx: CallContext {
            bot_id: ctx.job.bot_id,
            run_id: Some(ctx.job.id),
        },
    };
    let progress = ctx.progress.clone();
    let got = bar_history::ensure_bars(&ctx.rt, &ctx.pool, &request, |done, total| {
        progress.report(done * 100 / total.max(1));
    })
    .await?;
    Ok(json!({
        "provider": request.provider,
        "bars": got.bars.len(),
        "pieces_fetched": got.pieces_fetched,
        "from": got.from,
        "to": got.to,
    }))
}

/// The work of one job, by kind (a worker claims only [`KINDS`]).
async fn run_kind(ctx: &JobContext) -> Result<JobDone, JobFailure> {
    match ctx.job.kind.as_str() {
        BAR_HISTORY => bar_history_job(ctx).await.map(JobDone::Result),
        super::backtests::BACKTEST => super::backtests::run_job(ctx).await,
        super::sweeps::SWEEP => super::sweeps::run_job(ctx).await,
        other => Err(JobFailure::new(
            ErrorCode::ValidationFailed,
            format!("no worker runs jobs of kind {other}"),
        )),
    }
}

pub enum WorkerMsg {
    /// Look for a job (and run it).
    Poll,
}

#[derive(Clone)]
pub struct WorkerArgs {
    /// `<node>/<runtime id>/<n>`: what `claimed_by` names.
    pub id: String,
    pub pool: PgPool,
    pub rt: RuntimeHandle,
    pub config: JobsConfig,
}

pub struct JobWorker;

/// Why a running job stopped before its work ended.
pub(super) enum Dropped {
    NoLongerRunning(JobStatus),
    Gone,
}

/// Heartbeats `job` (its progress as `progress` reports it) every `every` while it runs;
/// returns when it is no longer RUNNING (cancelled, timed out), so its work can be dropped.
pub(super) async fn watch(
    rt: &RuntimeHandle,
    pool: &PgPool,
    every: Duration,
    job: &JobRun,
    progress: &Progress,
) -> Dropped {
    let mut seen = 0;
    let mut last_pct = 0;
    loop {
        tokio::time::sleep(every).await;
        let (reports, pct) = progress.read();
        if reports != seen {
            seen = reports;
            match jobs::report_progress(pool, job.id, pct).await {
                Ok(Some(stored)) => {
                    if stored != last_pct {
                        last_pct = stored;
                        let mut now = job.clone();
                        now.progress_pct = stored;
                        rt.bus().publish_job(&now, None);
                    }
                    continue;
                }
                Ok(None) => {}
                Err(err) => {
                    tracing::warn!(job = %job.id, error = %err, "heartbeat write failed");
                    continue;
                }
            }
        }
        match jobs::get(pool, job.id).await {
            Ok(Some(j)) if j.status == JobStatus::Running => {}
            Ok(Some(j)) => return Dropped::NoLongerRunning(j.status),
            Ok(None) => return Dropped::Gone,
            Err(err) => tracing::warn!(job = %job.id, error = %err, "job status read failed"),
        }
    }
}

impl JobWorker {
    /// Fails what a previous incarnation of this worker left RUNNING (it crashed mid-job).
    async fn recover(args: &WorkerArgs) {
        let held = match jobs::running_claimed_by(&args.pool, &args.id).await {
            Ok(held) => held,
            Err(err) => {
                tracing::error!(worker = %args.id, error = %err, "could not read the jobs this worker held");
                return;
            }
        };
        for job in held {
            let details = TransitionDetails {
                metadata: Some(json!({ "worker": args.id, "attempt": job.attempts })),
                error: Some(format!("worker {} crashed while running this job", args.id)),
                error_code: Some(ErrorCode::JobWorkerCrashed.as_str().into()),
                ..Default::default()
            };
            let code = ErrorCode::JobWorkerCrashed.as_str();
            // Under the job's own trace id, like the rest of its events.
            let trace = match jobs::trace_of(&args.pool, job.id).await {
                Ok(Some(t)) => t,
                _ => TraceId::generate(),
            };
            let failed = trace.scope(jobs::transition(
                &args.pool,
                job.id,
                JobStatus::Running,
                JobStatus::Failed,
                code,
                details,
            ));
            match failed.await {
                Ok(run) => {
                    tracing::warn!(job = %run.id, worker = %args.id, "job failed: its worker crashed");
                    args.rt.bus().publish_job(&run, Some(code));
                }
                Err(err) => {
                    tracing::warn!(job = %job.id, error = %err, "crashed worker's job already moved on")
                }
            }
        }
    }

    /// Runs one claimed job to its end (or until it is cancelled / timed out).
    async fn run(args: &WorkerArgs, job: JobRun) -> Result<(), ActorProcessingErr> {
        args.rt.bus().publish_job(&job, Some("CLAIMED"));
        let fault = args.rt.inner.jobs.take_fault();
        if fault == Some(JobFault::Crash) {
            return Err(Box::new(super::InjectedFailure(format!(
                "injected crash while running job {}",
                job.id
            ))));
        }
        let progress = Arc::new(Progress::default());
        let ctx = JobContext {
            job: job.clone(),
            rt: args.rt.clone(),
            pool: args.pool.clone(),
            progress: progress.clone(),
            heartbeat_every: args.config.heartbeat_every,
        };
        let work = async {
            if fault == Some(JobFault::Hang) {
                std::future::pending::<()>().await;
            }
            run_kind(&ctx).await
        };
        let outcome = tokio::select! {
            // The work first: a job whose work has just ended (its final transition
            // committed) reports that, even when the watch sees it ended in the same poll.
            biased;
            r = work => r,
            dropped = watch(&args.rt, &args.pool, args.config.heartbeat_every, &job, &progress) => {
                match dropped {
                    Dropped::NoLongerRunning(status) => tracing::info!(job = %job.id, status = status.as_str(), "job stopped while running; its work is dropped"),
                    Dropped::Gone => tracing::warn!(job = %job.id, "job row disappeared while running"),
                }
                return Ok(());
            }
        };
        let (to, code, details) = match outcome {
            Ok(JobDone::Result(result)) => (
                JobStatus::Succeeded,
                "COMPLETED",
                TransitionDetails {
                    result: Some(result),
                    metadata: Some(json!({ "worker": args.id })),
                    ..Default::default()
                },
            ),
            Ok(JobDone::Finished(run)) => {
                args.rt.bus().publish_job(&run, Some("COMPLETED"));
                return Ok(());
            }
            Ok(JobDone::Dropped) => {
                tracing::info!(job = %job.id, "job ended elsewhere; its work was dropped");
                return Ok(());
            }
            Err(f) => (
                JobStatus::Failed,
                f.code.as_str(),
                TransitionDetails {
                    metadata: Some(json!({ "worker": args.id })),
                    error: Some(f.message.clone()),
                    error_code: Some(f.code.as_str().into()),
                    ..Default::default()
                },
            ),
        };
        match jobs::transition(&args.pool, job.id, JobStatus::Running, to, code, details).await {
            Ok(run) => {
                args.rt.bus().publish_job(&run, Some(code));
            }
            // Cancelled or timed out at the last moment: its result is not kept.
            Err(JobError::InvalidTransition { actual, .. }) => {
                tracing::info!(job = %job.id, status = actual.as_str(), "job ended elsewhere; result dropped");
            }
            Err(err) => return Err(Box::new(err)),
        }
        Ok(())
    }

    /// Waits for a wake-up or the poll interval, then asks for a poll.
    fn poll_later(myself: &ActorRef<WorkerMsg>, args: &WorkerArgs) {
        let me = myself.clone();
        let rt = args.rt.clone();
        let every = args.config.poll_every;
        tokio::spawn(async move {
            tokio::select! {
                () = rt.inner.jobs.wake.notified() => {}
                () = tokio::time::sleep(every) => {}
            }
            let _ = me.send_message(WorkerMsg::Poll);
        });
    }
}

impl Actor for JobWorker {
    type Msg = WorkerMsg;
    type State = WorkerArgs;
    type Arguments = WorkerArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: WorkerArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        Self::recover(&args).await;
        myself.send_message(WorkerMsg::Poll)?;
        Ok(args)
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        args: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let WorkerMsg::Poll = msg;
        match jobs::claim(&args.pool, &KINDS, &args.id).await {
            Ok(Some((job, trace))) => {
                args.rt.inner.jobs.claimed.fetch_add(1, Ordering::Relaxed);
                trace.scope(Self::run(args, job)).await?;
                // There may be more: look again at once.
                myself.send_message(WorkerMsg::Poll)?;
            }
            Ok(None) => Self::poll_later(&myself, args),
            Err(err) => {
                tracing::warn!(worker = %args.id, error = %err, "job claim failed; retrying");
                Self::poll_later(&myself, args);
            }
        }
        Ok(())
    }
}
