//! The scheduler: a bar clock emitting one tick per bar boundary per timeframe, measuring its
//! own lag, plus the periodic work of the runtime (job timeout sweep, heartbeat flush). It
//! never awaits Postgres: the sweep runs in its own task, the flush is a notification.
//!
//! Boundaries and lag are read from the runtime's [`Clock`]: each timeframe waits with
//! [`Clock::sleep_until`] for its next boundary, then the scheduler reads the clock again. A
//! clock that jumps (a manual clock in tests, a wall-clock step, a suspended process) gets one
//! tick for the first boundary it passed, the ones it skipped counted in `missed_ticks`, and
//! the next boundary is taken from the new time; a clock set back waits until it reaches the
//! boundary it was waiting for. No boundary is ticked twice or out of order.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};
use ractor::{Actor, ActorProcessingErr, ActorRef};
use serde::Serialize;
use serde_json::json;
use sqlx::PgPool;
use tokio::sync::broadcast;
use utoipa::ToSchema;

use super::ownership::Leadership;
use super::registry::Registry;
use super::telemetry::TelemetryHandle;
use crate::clock::Clock;
use crate::store::jobs;
use crate::store::system_events::{NewSystemEvent, Severity};

use crate::domain::timeframe::Timeframe;

/// One bar boundary reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BarTick {
    pub timeframe: Timeframe,
    /// The boundary (start of the new bar).
    pub bar_at: SystemTime,
    /// When the clock actually fired.
    pub fired_at: SystemTime,
}

#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    pub timeframes: Vec<Timeframe>,
    /// Lag above this is LAGGING.
    pub lagging_after: Duration,
    /// No tick for this long is STALLED.
    pub stalled_after: Duration,
    pub job_sweep_every: Duration,
    pub heartbeat_flush_every: Duration,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        Self {
            timeframes: Timeframe::ALL.to_vec(),
            lagging_after: Duration::from_millis(250),
            stalled_after: Duration::from_secs(3),
            job_sweep_every: Duration::from_secs(5),
            heartbeat_flush_every: Duration::from_secs(5),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LoopHealth {
    /// No tick yet (just started, or the scheduler is not running).
    Unknown,
    Ok,
    Lagging,
    Stalled,
}

/// What the status endpoint reads (a lock-free-enough snapshot: one short mutex, no await).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SchedulerHealth {
    pub loop_health: LoopHealth,
    pub last_tick_at: Option<DateTime<Utc>>,
    /// Lag of the last tick (fired − boundary), milliseconds.
    pub last_lag_ms: Option<u64>,
    /// Largest lag seen since start, milliseconds.
    pub max_lag_ms: u64,
    pub ticks: u64,
    /// Bar boundaries skipped because the clock fired more than a bar late.
    pub missed_ticks: u64,
    pub last_job_sweep_at: Option<DateTime<Utc>>,
    pub jobs_timed_out: u64,
}

#[derive(Debug, Default)]
struct HealthState {
    last_tick: Option<SystemTime>,
    last_lag: Option<Duration>,
    max_lag: Duration,
    ticks: u64,
    missed: u64,
    last_sweep: Option<SystemTime>,
    timed_out: u64,
}

/// Shared between the scheduler actor (writes) and readers.
#[derive(Debug)]
pub struct SchedulerShared {
    state: Mutex<HealthState>,
    lagging_after: Duration,
    stalled_after: Duration,
    sweeping: AtomicBool,
    clock: Clock,
}

impl SchedulerShared {
    pub fn new(config: &SchedulerConfig, clock: Clock) -> Self {
        Self {
            state: Mutex::new(HealthState::default()),
            lagging_after: config.lagging_after,
            stalled_after: config.stalled_after,
            sweeping: AtomicBool::new(false),
            clock,
        }
    }

    fn now(&self) -> SystemTime {
        self.clock.now().into()
    }

    pub fn health(&self) -> SchedulerHealth {
        let s = match self.state.lock() {
            Ok(s) => s,
            Err(p) => p.into_inner(),
        };
        let loop_health = match (s.last_tick, s.last_lag) {
            (None, _) | (_, None) => LoopHealth::Unknown,
            (Some(last), Some(lag)) => {
                let since = self.now().duration_since(last).unwrap_or_default();
                if since > self.stalled_after {
                    LoopHealth::Stalled
                } else if lag > self.lagging_after {
                    LoopHealth::Lagging
                } else {
                    LoopHealth::Ok
                }
            }
        };
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        SchedulerHealth {
            loop_health,
            last_tick_at: s.last_tick.map(DateTime::<Utc>::from),
            last_lag_ms: s.last_lag.map(ms),
            max_lag_ms: ms(s.max_lag),
            ticks: s.ticks,
            missed_ticks: s.missed,
            last_job_sweep_at: s.last_sweep.map(DateTime::<Utc>::from),
            jobs_timed_out: s.timed_out,
        }
    }

    fn record_tick(&self, fired: SystemTime, lag: Duration, missed: u64) {
        crate::observability::tick_lag(lag);
        if let Ok(mut s) = self.state.lock() {
            s.last_tick = Some(fired);
            s.last_lag = Some(lag);
            s.max_lag = s.max_lag.max(lag);
            s.ticks += 1;
            s.missed += missed;
        }
    }

    fn record_sweep(&self, timed_out: u64) {
        if let Ok(mut s) = self.state.lock() {
            s.last_sweep = Some(self.now());
            s.timed_out += timed_out;
        }
    }
}

pub struct SchedulerArgs {
    pub config: SchedulerConfig,
    pub shared: Arc<SchedulerShared>,
    pub ticks: broadcast::Sender<BarTick>,
    pub pool: PgPool,
    pub registry: Arc<Registry>,
    pub telemetry: TelemetryHandle,
    /// The job timeout sweep runs on the cluster's leader only.
    pub leadership: Leadership,
}

pub enum SchedulerMsg {
    Bar(Timeframe, SystemTime),
    SweepJobs,
    FlushHeartbeats,
}

pub struct Scheduler;

pub struct SchedulerState {
    args: SchedulerArgs,
    timers: Vec<ractor::concurrency::JoinHandle<()>>,
    /// Each timeframe's wait for its next boundary.
    bars: HashMap<Timeframe, ractor::concurrency::JoinHandle<()>>,
}

/// Sends `Bar(tf, boundary)` when the clock reaches the first boundary after `now`.
fn schedule_bar(
    myself: &ActorRef<SchedulerMsg>,
    clock: &Clock,
    tf: Timeframe,
    now: SystemTime,
) -> ractor::concurrency::JoinHandle<()> {
    let at = tf.next_boundary(now);
    let (myself, clock) = (myself.clone(), clock.clone());
    tokio::spawn(async move {
        clock.sleep_until(at.into()).await;
        // The scheduler stopped: nothing to tick.
        let _ = myself.cast(SchedulerMsg::Bar(tf, at));
    })
}

impl Actor for Scheduler {
    type Msg = SchedulerMsg;
    type State = SchedulerState;
    type Arguments = SchedulerArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: SchedulerArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        let clock = &args.shared.clock;
        let now = args.shared.now();
        let bars = args
            .config
            .timeframes
            .iter()
            .map(|tf| (*tf, schedule_bar(&myself, clock, *tf, now)))
            .collect();
        let timers = vec![
            ractor::time::send_interval(args.config.job_sweep_every, myself.get_cell(), || {
                SchedulerMsg::SweepJobs
            }),
            ractor::time::send_interval(
                args.config.heartbeat_flush_every,
                myself.get_cell(),
                || SchedulerMsg::FlushHeartbeats,
            ),
        ];
        Ok(SchedulerState { args, timers, bars })
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            SchedulerMsg::Bar(tf, bar_at) => {
                let fired = state.args.shared.now();
                let lag = fired.duration_since(bar_at).unwrap_or_default();
                let missed = lag.as_secs() / tf.seconds();
                state.args.shared.record_tick(fired, lag, missed);
                // No receiver (no runner) is fine.
                let _ = state.args.ticks.send(BarTick {
                    timeframe: tf,
                    bar_at,
                    fired_at: fired,
                });
                let next = schedule_bar(&myself, &state.args.shared.clock, tf, fired);
                state.bars.insert(tf, next);
            }
            SchedulerMsg::SweepJobs => {
                let shared = state.args.shared.clone();
                if !state.args.leadership.is_leader()
                    || shared.sweeping.swap(true, Ordering::AcqRel)
                {
                    return Ok(());
                }
                let pool = state.args.pool.clone();
                let telemetry = state.args.telemetry.clone();
                tokio::spawn(async move {
                    sweep_jobs(&pool, &telemetry, &shared).await;
                    shared.sweeping.store(false, Ordering::Release);
                });
            }
            SchedulerMsg::FlushHeartbeats => state.args.registry.request_heartbeat_flush(),
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        for t in state
            .timers
            .drain(..)
            .chain(state.bars.drain().map(|(_, t)| t))
        {
            t.abort();
        }
        Ok(())
    }
}

/// The job timeout worker: RUNNING jobs with a stale heartbeat → TIMEOUT (`HEARTBEAT_TIMEOUT`),
/// one SEV-3 system event each.
pub async fn sweep_jobs(pool: &PgPool, telemetry: &TelemetryHandle, shared: &SchedulerShared) {
    match jobs::time_out_stale(pool).await {
        Ok(stale) => {
            shared.record_sweep(stale.len() as u64);
            for job in stale {
                let mut event = NewSystemEvent::new(
                    Severity::Sev3,
                    "JOB_TIMEOUT",
                    format!(
                        "job {} ({}) had no heartbeat for {} s: TIMEOUT",
                        job.id, job.kind, job.timeout_seconds
                    ),
                )
                .metadata(json!({ "job_id": job.id, "kind": job.kind, "reason_code": "HEARTBEAT_TIMEOUT" }));
                if let Some(bot) = job.bot_id {
                    event = event.bot(bot);
                }
                telemetry.system_event(event);
                telemetry.bus().publish_job(&job, Some("HEARTBEAT_TIMEOUT"));
            }
        }
        Err(err) => {
            tracing::warn!(error = %err, "job timeout sweep failed; retrying next interval")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn at(secs: u64, ms: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_millis(ms)
    }

    #[test]
    fn boundaries_are_the_next_multiple_of_the_bar() {
        // 2026-11-26T07:35:47.250Z
        let now = at(1_795_678_547, 250);
        let next = |tf: Timeframe| {
            tf.next_boundary(now)
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_secs()
        };
        assert_eq!(next(Timeframe::S1), 1_795_678_548);
        assert_eq!(next(Timeframe::M1), 1_795_678_560);
        assert_eq!(next(Timeframe::M5), 1_795_678_800);
        assert_eq!(next(Timeframe::M15), 1_795_679_100);
        assert_eq!(next(Timeframe::H1), 1_795_680_000);
        assert_eq!(next(Timeframe::D1), 1_795_737_600);
        // Exactly on a boundary: the next one, never the same instant twice.
        assert_eq!(
            Timeframe::M1.next_boundary(at(1_795_678_560, 0)),
            at(1_795_678_620, 0)
        );
    }

    #[test]
    fn timeframes_parse_their_own_names_only() {
        for tf in Timeframe::ALL {
            assert_eq!(tf.as_str().parse::<Timeframe>(), Ok(tf));
        }
        assert!("2m".parse::<Timeframe>().is_err());
    }

    #[test]
    fn health_is_unknown_before_the_first_tick_then_ok_lagging_or_stalled() {
        let clock = Clock::manual(DateTime::from(at(1_795_678_547, 250)));
        let shared = SchedulerShared::new(&SchedulerConfig::default(), clock.clone());
        assert_eq!(shared.health().loop_health, LoopHealth::Unknown);
        shared.record_tick(shared.now(), Duration::from_millis(3), 0);
        assert_eq!(shared.health().loop_health, LoopHealth::Ok);
        shared.record_tick(shared.now(), Duration::from_millis(900), 0);
        let h = shared.health();
        assert_eq!(h.loop_health, LoopHealth::Lagging);
        assert_eq!((h.last_lag_ms, h.max_lag_ms, h.ticks), (Some(900), 900, 2));
        assert_eq!(h.last_tick_at, Some(clock.now()));
        shared.record_tick(shared.now(), Duration::ZERO, 0);
        assert_eq!(shared.health().loop_health, LoopHealth::Ok);
        // No tick for longer than `stalled_after` on the clock.
        clock.advance(chrono::TimeDelta::seconds(10));
        assert_eq!(shared.health().loop_health, LoopHealth::Stalled);
    }
}
