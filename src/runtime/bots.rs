//! The Bots supervisor's policy and its runners.
//!
//! - [`BotRunner`]: one per started bot. On every bar tick of its timeframe it runs one
//!   evaluation ([`super::evaluator`]); it beats its heartbeat on ticks and on a liveness
//!   interval, and can be told to fail or hang (fault injection for tests and drills). A tick
//!   that arrives while a newer one is already queued is skipped (counted), so a slow runner
//!   catches up on the newest bar instead of falling further behind. While a LIVE order of
//!   its bot is open at a broker whose stream reports order and fill events, each such event
//!   wakes it to book the fills then (`RunnerMsg::BrokerUpdate`), not at its next bar.
//! - While Postgres is unreachable (`super::db_ready`, one signal for all runners) a runner
//!   neither fails nor evaluates: it starts without loading, skips its ticks, and (re)loads
//!   from the ledger at the first tick after the database is back.
//! - [`BotsSink`]: turns the Bots supervisor's events into runner state: every failure (a
//!   restart that fails to start included) is reported to the bot's breaker actor (a sibling of the runner under Bots, so neither's
//!   restart touches the other); once the breaker is OPEN restarts are refused (the runner is
//!   removed and left in ERROR, or KILLED for a LIVE bot); a runner that stays stuck (misses
//!   its heartbeat again after a restart, or ignores its stop) is killed and latched.
//!
//! Reports are cast, and what depends on their result runs after them in the breaker actor
//! (`sink::after_failure`); a (re)start asks the breaker in order, so it sees every failure
//! reported before it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};

use ractor::{Actor, ActorCell, ActorProcessingErr, ActorRef, SpawnErr};
use tokio::sync::broadcast;
use tradeplane_actors::{Backoff, ChildSpec, Restart, Shutdown, SupervisorMsg};
use uuid::Uuid;

mod sink;
mod tick_fanout;

pub use sink::BotsSink;
pub use tick_fanout::{TickFanout, TickSubscription};

use super::evaluator::{BotEvaluator, LoadError, Outcome, Trading};
use super::events::bot_scope;
use super::registry::{Registry, RunnerShared};
use super::scheduler::BarTick;
use crate::domain::{bot::BotStatus, timeframe::Timeframe};
use crate::store::system_events::{NewSystemEvent, Severity};

/// Supervision settings of each runner.
#[derive(Debug, Clone)]
pub struct RunnerConfig {
    /// Liveness beat interval (besides bar ticks).
    pub beat_every: Duration,
    /// Silent longer than this → treated as failed.
    pub heartbeat_timeout: Duration,
    /// Time a runner gets to stop before it is killed.
    pub shutdown_timeout: Duration,
    /// Restart backoff; its base must be non-zero so a refusal (breaker open) always reaches
    /// the supervisor before the restart timer.
    pub backoff: Backoff,
    /// Consecutive heartbeat timeouts (without a healthy beat between) that kill the runner.
    pub stuck_kill_after: u32,
    /// How long the runner beats for an evaluation still in flight. An evaluation waits on
    /// calls that are each time-boxed (a broker's pacing and answer, a slow vendor): that is
    /// not a stuck runner, and a LIVE runner killed for it would be latched. One still running
    /// past this bound stops being beaten for, and the heartbeat timeout calls it stuck.
    pub evaluation_limit: Duration,
    /// An instance is healthy (its breaker permit succeeds, closing a HALF_OPEN breaker) at
    /// its first bar tick, or after beating this long (slow timeframes).
    pub healthy_after: Duration,
}

impl Default for RunnerConfig {
    fn default() -> Self {
        Self {
            beat_every: Duration::from_secs(1),
            heartbeat_timeout: Duration::from_secs(10),
            shutdown_timeout: Duration::from_secs(5),
            backoff: Backoff::exponential(Duration::from_millis(500), Duration::from_secs(60)),
            stuck_kill_after: 2,
            healthy_after: Duration::from_secs(30),
            // Longer than the slowest bounded evaluation: the market-data call box (60 s).
            evaluation_limit: Duration::from_secs(75),
        }
    }
}

/// Faults a runner can be told to simulate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// The current instance fails (returns an error from its handler).
    Fail(String),
    /// The current instance blocks in a handler for this long (ignores stop requests).
    Hang(Duration),
    /// Every instance stops beating until re-armed or unmuted (a stuck runner).
    Mute(bool),
}

pub enum RunnerMsg {
    Tick(BarTick),
    Beat,
    /// The bot's settings changed: re-read them before the next evaluation.
    Reload,
    /// A broker's stream reported an order or fill change (sent only while the bot awaits a
    /// LIVE fill): book what it brought now.
    BrokerUpdate,
    Fail(String),
    Hang(Duration),
}

/// What a runner needs besides its own identity.
#[derive(Clone)]
pub struct RunnerDeps {
    pub registry: Arc<Registry>,
    pub handle: super::RuntimeHandle,
    pub trading: Arc<Trading>,
}

pub struct RunnerArgs {
    pub bot_id: Uuid,
    pub timeframe: Timeframe,
    pub shared: Arc<RunnerShared>,
    pub deps: RunnerDeps,
    /// The scheduler's ticks (read by the runtime's one [`TickFanout`] task).
    pub ticks: broadcast::Sender<BarTick>,
    pub beat_every: Duration,
    pub healthy_after: Duration,
    pub evaluation_limit: Duration,
}

pub struct BotRunner;

pub struct RunnerState {
    bot_id: Uuid,
    shared: Arc<RunnerShared>,
    registry: Arc<Registry>,
    handle: super::RuntimeHandle,
    trading: Arc<Trading>,
    /// `None` while the database is down (loaded at the first tick after it is back).
    evaluator: Option<BotEvaluator>,
    timeframe: Timeframe,
    /// Newest tick boundary forwarded (ms since the epoch); older queued ticks are skipped.
    newest_tick: Arc<AtomicI64>,
    healthy_reported: bool,
    started: std::time::Instant,
    healthy_after: Duration,
    beat_every: Duration,
    evaluation_limit: Duration,
    /// This runner's place in the tick fan-out (dropped: no more ticks).
    tick_subscription: TickSubscription,
    /// Forwards the brokers' stream updates while `awaiting_fill` (none: no broker streams).
    broker_updates: Option<tokio::task::JoinHandle<()>>,
    /// The evaluator holds an open LIVE order (set after each evaluation and update).
    awaiting_fill: Arc<AtomicBool>,
    /// Stream updates seen (awaited or not): one during an evaluation that left an order
    /// open is synced right after it (it was not forwarded while nothing was awaited).
    updates_seen: Arc<AtomicU64>,
    beat_timer: tokio::task::JoinHandle<()>,
}

impl RunnerState {
    fn report_healthy(&mut self) {
        if !self.healthy_reported {
            self.healthy_reported = true;
            self.registry.runner_healthy(self.bot_id);
        }
    }
}

impl Actor for BotRunner {
    type Msg = RunnerMsg;
    type State = RunnerState;
    type Arguments = RunnerArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: RunnerArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        let RunnerArgs {
            bot_id,
            timeframe,
            shared,
            deps,
            ticks,
            beat_every,
            healthy_after,
            evaluation_limit,
        } = args;
        shared.beat();
        // Bar ticks of this runner's timeframe become messages (so a blocked runner misses
        // them), from now on: those that come while it loads wait in its mailbox.
        let newest_tick = Arc::new(AtomicI64::new(i64::MIN));
        let subscription = deps.trading.tick_fanout.subscribe(
            &ticks,
            timeframe,
            myself.clone(),
            newest_tick.clone(),
        );
        // Down database: start anyway and wait for it (no failed start, no restart).
        let evaluator = if deps.trading.db.is_ready() {
            load(&deps.trading, &deps.registry, bot_id, timeframe).await?
        } else {
            None
        };
        let awaiting_fill = Arc::new(AtomicBool::new(
            evaluator
                .as_ref()
                .is_some_and(BotEvaluator::awaits_live_fill),
        ));
        let updates_seen = Arc::new(AtomicU64::new(0));
        let broker_updates = forward_broker_updates(
            deps.trading.brokers.stream_updates(),
            (awaiting_fill.clone(), updates_seen.clone()),
            myself.clone(),
        );
        let beat_timer = beat_when_silent(beat_every, shared.clone(), myself.get_cell());
        Ok(RunnerState {
            bot_id,
            shared,
            registry: deps.registry,
            handle: deps.handle,
            trading: deps.trading,
            evaluator,
            timeframe,
            newest_tick,
            healthy_reported: false,
            started: std::time::Instant::now(),
            healthy_after,
            beat_every,
            evaluation_limit,
            tick_subscription: subscription,
            broker_updates,
            awaiting_fill,
            updates_seen,
            beat_timer,
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            RunnerMsg::Tick(tick) => {
                state.shared.tick();
                state.shared.beat();
                state.report_healthy();
                if epoch_ms(tick.bar_at) < state.newest_tick.load(Ordering::Acquire) {
                    state.trading.skipped_ticks.fetch_add(1, Ordering::Relaxed);
                    return Ok(());
                }
                let trading = &state.trading;
                // The database down is said first: the node then also loses its presence and
                // fences, but the wait names the cause.
                if !trading.db.is_ready() {
                    trading.db.count_wait();
                    return Ok(());
                }
                // Self-fencing: only while this node holds the bot's lease and can trust it.
                let Some(fence) = trading.ownership.fence(state.bot_id) else {
                    return Ok(());
                };
                let boundary = DateTime::<Utc>::from(tick.bar_at);
                if state.evaluator.is_none() {
                    state.evaluator = Box::pin(load(
                        trading,
                        &state.registry,
                        state.bot_id,
                        state.timeframe,
                    ))
                    .await?;
                }
                let Some(evaluator) = state.evaluator.as_mut() else {
                    trading.db.count_wait();
                    return Ok(());
                };
                let seen = state.updates_seen.load(Ordering::Acquire);
                // Boxed: the evaluation's future is large, and this handler's future (moved by
                // the actor's loop at every message) would otherwise hold it inline.
                let evaluation =
                    Box::pin(evaluator.on_bar(trading, &state.handle, boundary, &fence));
                let outcome = match beating_while(
                    &state.shared,
                    state.beat_every,
                    state.evaluation_limit,
                    evaluation,
                )
                .await
                {
                    Ok(outcome) => outcome,
                    Err(err) => return state.evaluation_failed(&fence, err),
                };
                let awaiting = evaluator.awaits_live_fill();
                state.awaiting_fill.store(awaiting, Ordering::Release);
                if awaiting && state.updates_seen.load(Ordering::Acquire) != seen {
                    let _ = myself.send_message(RunnerMsg::BrokerUpdate);
                }
                state.shared.evaluated();
                state.shared.beat();
                // Gated by risk → SUSPENDED (running, not trading); nothing to do is not gated.
                match outcome {
                    Outcome::Suppressed { gate_blocked } => {
                        state.handle.set_gated(state.bot_id, gate_blocked);
                    }
                    Outcome::Decided => state.handle.set_gated(state.bot_id, false),
                    Outcome::Killed => {}
                }
            }
            RunnerMsg::Reload => {
                if let Some(evaluator) = state.evaluator.as_mut()
                    && let Err(err) = Box::pin(evaluator.reload(&state.trading)).await
                {
                    match err {
                        LoadError::Db(e) if state.trading.db.check(&state.trading.pool, &e) => {
                            state.evaluator = None;
                        }
                        other => return Err(other.into()),
                    }
                }
            }
            RunnerMsg::BrokerUpdate => {
                let Some(fence) = state.trading.ownership.fence(state.bot_id) else {
                    return Ok(());
                };
                if !state.trading.db.is_ready() {
                    return Ok(());
                }
                let Some(evaluator) = state.evaluator.as_mut() else {
                    return Ok(());
                };
                let update = Box::pin(evaluator.on_broker_update(&state.trading, &fence));
                let (every, limit) = (state.beat_every, state.evaluation_limit);
                if let Err(err) = beating_while(&state.shared, every, limit, update).await {
                    return state.evaluation_failed(&fence, err);
                }
                state
                    .awaiting_fill
                    .store(evaluator.awaits_live_fill(), Ordering::Release);
            }
            RunnerMsg::Beat => {
                state.shared.beat();
                if state.started.elapsed() >= state.healthy_after {
                    state.report_healthy();
                }
            }
            RunnerMsg::Fail(reason) => return Err(Box::new(super::InjectedFailure(reason))),
            RunnerMsg::Hang(d) => tokio::time::sleep(d).await,
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        state.tick_subscription.cancel();
        if let Some(updates) = &state.broker_updates {
            updates.abort();
        }
        state.beat_timer.abort();
        Ok(())
    }
}

impl RunnerState {
    /// An evaluation's (or update's) database error: another node owns the bot now (nothing
    /// was written; stop, not fail), or the database is down (reloaded from the ledger once it
    /// is back: what was written before the outage is what counts), or a failure.
    fn evaluation_failed(
        &mut self,
        fence: &crate::store::bot_leases::Fence,
        err: sqlx::Error,
    ) -> Result<(), ActorProcessingErr> {
        if crate::store::bot_leases::is_stale(&err) {
            tracing::warn!(bot = %self.bot_id, epoch = fence.epoch, "stale lease: stopping this node's runner");
            self.trading.ownership.lost(self.bot_id, fence.epoch);
            self.handle.release_runner(self.bot_id);
            return Ok(());
        }
        if self.trading.db.check(&self.trading.pool, &err) {
            self.evaluator = None;
            self.trading.db.count_wait();
            return Ok(());
        }
        Err(err.into())
    }
}

/// Forwards every change of the brokers' stream updates to the runner while it awaits a LIVE
/// fill (changes coalesce: a burst of events is one sync). `None` when no broker streams.
fn forward_broker_updates(
    mut updates: Vec<tokio::sync::watch::Receiver<u64>>,
    (awaiting_fill, seen): (Arc<AtomicBool>, Arc<AtomicU64>),
    runner: ActorRef<RunnerMsg>,
) -> Option<tokio::task::JoinHandle<()>> {
    if updates.is_empty() {
        return None;
    }
    Some(tokio::spawn(async move {
        loop {
            let changed =
                futures::future::select_all(updates.iter_mut().map(|rx| Box::pin(rx.changed())))
                    .await
                    .0;
            if changed.is_err() {
                break;
            }
            seen.fetch_add(1, Ordering::AcqRel);
            if awaiting_fill.load(Ordering::Acquire)
                && runner.send_message(RunnerMsg::BrokerUpdate).is_err()
            {
                break;
            }
        }
    }))
}

/// Loads the bot's evaluator; `None` when the database turned out to be unreachable (the
/// readiness signal is down then, and the runner waits for it).
async fn load(
    trading: &Trading,
    registry: &Registry,
    bot_id: Uuid,
    timeframe: Timeframe,
) -> Result<Option<BotEvaluator>, LoadError> {
    let loaded = BotEvaluator::load(
        trading,
        bot_id,
        Uuid::now_v7(),
        timeframe,
        registry.clock().now(),
    )
    .await;
    match loaded {
        Ok(evaluator) => Ok(Some(evaluator)),
        Err(LoadError::Db(err)) if trading.db.check(&trading.pool, &err) => Ok(None),
        Err(err) => Err(err),
    }
}

fn epoch_ms(t: std::time::SystemTime) -> i64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Stands in for a runner whose restart is refused: stops at once with a normal reason, so
/// the (transient) child is forgotten rather than restarted.
struct Refused;

impl Actor for Refused {
    type Msg = ();
    type State = ();
    type Arguments = ();

    async fn pre_start(&self, myself: ActorRef<()>, _args: ()) -> Result<(), ActorProcessingErr> {
        myself.stop(Some("shutdown: restart refused".into()));
        Ok(())
    }
}

/// Awaits `work` (an evaluation) while beating the runner's heartbeat every `every`, for at
/// most `limit`: the runner is busy, not stuck, while its evaluation waits on time-boxed
/// calls; past `limit` the beats stop and the heartbeat timeout takes over.
async fn beating_while<F: std::future::Future>(
    shared: &RunnerShared,
    every: Duration,
    limit: Duration,
    work: F,
) -> F::Output {
    let start = tokio::time::Instant::now();
    let mut beats = tokio::time::interval_at(start + every, every);
    tokio::pin!(work);
    loop {
        tokio::select! {
            out = &mut work => return out,
            _ = beats.tick(), if start.elapsed() < limit => shared.beat(),
        }
    }
}

/// Sends the runner a `Beat` every `every` it has not beaten itself (a bar tick handled beats
/// too): a runner on 1 s bars gets no message beyond its ticks, one on slow bars (or stuck,
/// when the beats pile up unread) still gets its beat.
fn beat_when_silent(
    every: Duration,
    shared: Arc<RunnerShared>,
    runner: ActorCell,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut beats = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        beats.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            beats.tick().await;
            if shared.heartbeat.silent_for() < every {
                continue;
            }
            if runner.send_message(RunnerMsg::Beat).is_err() {
                return;
            }
        }
    })
}

/// Sends `TerminateChild` to the Bots supervisor without waiting for the answer.
pub fn terminate_runner(bots_name: &str, bot_id: Uuid) {
    if let Some(cell) = ractor::registry::where_is(bots_name) {
        let sup: ActorRef<SupervisorMsg> = cell.into();
        let (tx, _rx) = ractor::concurrency::oneshot();
        let _ = sup.cast(SupervisorMsg::TerminateChild(bot_scope(bot_id), tx.into()));
    }
}

/// The child spec of one runner. Its start function (initial start and every restart) asks
/// for admission: a killed bot or an OPEN breaker gets a [`Refused`] stand-in.
pub fn runner_spec(
    deps: RunnerDeps,
    bot_id: Uuid,
    timeframe: Timeframe,
    shared: Arc<RunnerShared>,
    ticks: broadcast::Sender<BarTick>,
    config: &RunnerConfig,
) -> ChildSpec {
    let beat_every = config.beat_every;
    let healthy_after = config.healthy_after;
    let evaluation_limit = config.evaluation_limit;
    let heartbeat = shared.heartbeat.clone();
    ChildSpec::new(bot_scope(bot_id), move |sup: ActorCell| {
        let deps = deps.clone();
        let shared = shared.clone();
        let ticks = ticks.clone();
        async move {
            if admit(&deps.registry, bot_id).await {
                let args = RunnerArgs {
                    bot_id,
                    timeframe,
                    shared,
                    deps,
                    ticks,
                    beat_every,
                    healthy_after,
                    evaluation_limit,
                };
                Actor::spawn_linked(None, BotRunner, args, sup)
                    .await
                    .map(|(r, _)| r.get_cell())
            } else {
                Actor::spawn_linked(None, Refused, (), sup)
                    .await
                    .map(|(r, _)| r.get_cell())
            }
        }
    })
    .restart(Restart::Transient)
    .shutdown(Shutdown::Timeout(config.shutdown_timeout))
    .backoff(config.backoff)
    .heartbeat(heartbeat, config.heartbeat_timeout)
}

/// Whether a (re)start of this runner may proceed; takes its breaker permit from the breaker
/// actor, after the failures reported before (with no backoff the supervisor restarts at once).
async fn admit(registry: &Registry, bot_id: Uuid) -> bool {
    let (held, breaker, needs_permit) = registry.with_slot(bot_id, |slot| {
        (slot.held(), slot.breaker.clone(), slot.permit.is_none())
    });
    let admitted = if held || !needs_permit {
        None
    } else {
        Some(breaker.admit_in_order(super::BREAKER_CALL_TIMEOUT).await)
    };
    let refused = registry.with_slot(bot_id, |slot| {
        // Held meanwhile (the failure that opened the breaker refused or killed it already).
        if slot.held() {
            return Some(false);
        }
        match admitted {
            None => None,
            Some(Ok(p)) => {
                slot.permit.get_or_insert(p);
                None
            }
            Some(Err(open)) => {
                slot.refused = true;
                slot.status = BotStatus::Error;
                slot.last_error = Some(format!(
                    "restart refused: circuit breaker {:?}, retry after {} ms",
                    open.state,
                    open.retry_after.as_millis()
                ));
                Some(true)
            }
        }
    });
    registry.mark_breaker(bot_id);
    registry.mark_bot(bot_id);
    match refused {
        None => true,
        Some(report) => {
            if report {
                registry.event(
                    NewSystemEvent::new(
                        Severity::Sev2,
                        "BOT_RESTART_REFUSED",
                        format!("bot {bot_id}: restart refused, circuit breaker open"),
                    )
                    .bot(bot_id),
                );
            }
            false
        }
    }
}

/// Spawns the Bots supervisor under `parent` with its registered name.
pub async fn spawn_bots(
    name: String,
    spec: tradeplane_actors::SupervisorSpec,
    sink: tradeplane_actors::SharedSink,
    parent: ActorCell,
) -> Result<ActorCell, SpawnErr> {
    tradeplane_actors::Supervisor::spawn(Some(name), spec, sink, Some(parent))
        .await
        .map(|(r, _)| r.get_cell())
}
