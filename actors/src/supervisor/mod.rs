//! OTP-style supervisor on ractor.
//!
//! The supervisor is a ractor actor whose children are linked to it; ractor reports every
//! child exit as a supervision event, and this module turns those events into OTP restarts:
//! strategy, restart type, intensity/period (meltdown → escalate by failing), per-child
//! backoff (a timer message, never a sleep), ordered shutdown with per-child timeouts, and
//! heartbeat checks. Every action is reported to a [`SupervisionEventSink`].

mod backoff;
mod intensity;
mod shutdown;
mod spec;

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use ractor::concurrency::JoinHandle;
use ractor::rpc::CallResult;
use ractor::{
    Actor, ActorCell, ActorId, ActorProcessingErr, ActorRef, RpcReplyPort, SpawnErr,
    SupervisionEvent as RactorEvent,
};

pub use backoff::Backoff;
pub use spec::{
    ChildSpec, HeartbeatSpec, Kind, Restart, Shutdown, StartFn, Strategy, SupervisorSpec,
};

use crate::clock::Clock;
use crate::events::{EventKind, SharedSink, SupervisionEvent};
use crate::watchdog::HEARTBEAT_TIMEOUT;
use intensity::Intensity;
use shutdown::{Stopped, stop_all_concurrently, stop_child};

/// Errors returned by supervisor requests, and the error a supervisor fails with on meltdown.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SupervisorError {
    #[error("child id `{0}` already exists")]
    AlreadyExists(String),
    #[error("no child with id `{0}`")]
    NotFound(String),
    #[error("supervisor is at its limit of {0} children")]
    MaxChildren(usize),
    #[error("child `{id}` failed to start: {error}")]
    StartFailed { id: String, error: String },
    #[error("meltdown: {restarts} restarts within {period:?} (intensity {intensity})")]
    Meltdown {
        restarts: usize,
        intensity: u32,
        period: Duration,
    },
    #[error("supervisor did not answer: {0}")]
    Unavailable(String),
}

/// Where a child is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChildStatus {
    Running,
    /// Ended; a restart is scheduled (backoff) or awaits a sibling group restart.
    RestartPending,
    /// Ended and not to be restarted (a transient child that exited normally, kept by a
    /// static supervisor).
    Stopped,
}

/// One row of `WhichChildren`.
#[derive(Debug, Clone)]
pub struct ChildInfo {
    pub id: String,
    pub status: ChildStatus,
    pub restarts: u32,
    /// The running instance, to message it (`None` unless `Running`).
    pub cell: Option<ActorCell>,
}

/// Messages a supervisor accepts.
pub enum SupervisorMsg {
    /// Add and start a child (appended after the existing ones).
    StartChild(ChildSpec, RpcReplyPort<Result<(), SupervisorError>>),
    /// Stop a child per its shutdown policy and forget it.
    TerminateChild(String, RpcReplyPort<Result<(), SupervisorError>>),
    /// All children in start order.
    WhichChildren(RpcReplyPort<Vec<ChildInfo>>),
    /// One child by id.
    Child(String, RpcReplyPort<Option<ChildInfo>>),
    /// Shut down the children (reverse start order) and exit normally.
    Shutdown,
    /// Timer-driven work; sent by the supervisor to itself.
    Internal(Internal),
}

/// Opaque timer messages.
pub struct Internal(Tick);

enum Tick {
    /// Start these (seq, generation) children if still pending in that generation.
    Restart(Vec<(u64, u64)>),
    CheckHeartbeats,
    /// A restart attempt of this child failed to start: count it as a new failure.
    Retry {
        seq: u64,
        generation: u64,
    },
    /// Kill the child if this instance (seq, generation) is still alive.
    EnsureDead {
        seq: u64,
        generation: u64,
        after: Duration,
    },
}

/// Start arguments of the supervisor actor.
pub struct SupervisorArgs {
    pub spec: SupervisorSpec,
    pub sink: SharedSink,
}

/// The supervisor actor. Spawn it with [`Supervisor::spawn`].
#[derive(Debug, Default, Clone, Copy)]
pub struct Supervisor;

struct Child {
    spec: ChildSpec,
    cell: Option<ActorCell>,
    status: ChildStatus,
    /// Bumped whenever a new instance starts or the child is terminated, so stale timer
    /// messages are ignored.
    generation: u64,
    restarts: u32,
    /// Consecutive restarts, for backoff; reset only when the instance that just ended had
    /// run for `backoff.reset_after` (a failed start never resets it).
    streak: u32,
    started_at: Instant,
    /// How long the instance that just ended had run; `None` after a failed start.
    last_uptime: Option<Duration>,
    heartbeat_stop_sent: bool,
}

/// Supervisor state (opaque).
pub struct SupervisorState {
    name: String,
    strategy: Strategy,
    kind: Kind,
    heartbeat_check: Duration,
    intensity_limit: u32,
    period: Duration,
    intensity: Intensity,
    // Keyed by start sequence number: iteration order is start order, and a restarted child
    // keeps its place (rest_for_one relies on this).
    children: BTreeMap<u64, Child>,
    by_id: HashMap<String, u64>,
    by_actor: HashMap<ActorId, u64>,
    next_seq: u64,
    sink: SharedSink,
    clock: Clock,
    heartbeat_timer: Option<JoinHandle<()>>,
}

impl Supervisor {
    /// Spawns a supervisor and starts its children in order. If a child fails to start, the
    /// ones already started are shut down (reverse order) and spawning fails.
    ///
    /// `name` registers the supervisor in ractor's global registry (must be unique in the
    /// process); `None` leaves it unnamed and events use its actor id as source.
    pub async fn spawn(
        name: Option<String>,
        spec: SupervisorSpec,
        sink: SharedSink,
        parent: Option<ActorCell>,
    ) -> Result<(ActorRef<SupervisorMsg>, JoinHandle<()>), SpawnErr> {
        let args = SupervisorArgs { spec, sink };
        match parent {
            Some(parent) => Actor::spawn_linked(name, Supervisor, args, parent).await,
            None => Actor::spawn(name, Supervisor, args).await,
        }
    }

    /// A [`ChildSpec`] that runs a nested supervisor (shutdown `Infinity`, as OTP advises).
    pub fn child_spec(id: impl Into<String>, spec: SupervisorSpec, sink: SharedSink) -> ChildSpec {
        ChildSpec::new(id, move |parent| {
            let spec = spec.clone();
            let sink = sink.clone();
            async move {
                Supervisor::spawn(None, spec, sink, Some(parent))
                    .await
                    .map(|(r, _)| r.get_cell())
            }
        })
        .shutdown(Shutdown::Infinity)
    }

    /// Adds and starts a child.
    pub async fn start_child(
        sup: &ActorRef<SupervisorMsg>,
        spec: ChildSpec,
    ) -> Result<(), SupervisorError> {
        flatten(call(sup, |r| SupervisorMsg::StartChild(spec, r), None).await)
    }

    /// Stops a child per its shutdown policy and removes it.
    pub async fn terminate_child(
        sup: &ActorRef<SupervisorMsg>,
        id: impl Into<String>,
    ) -> Result<(), SupervisorError> {
        let id = id.into();
        flatten(call(sup, |r| SupervisorMsg::TerminateChild(id, r), None).await)
    }

    /// Lists the children in start order.
    pub async fn which_children(
        sup: &ActorRef<SupervisorMsg>,
        timeout: Duration,
    ) -> Result<Vec<ChildInfo>, SupervisorError> {
        call(sup, SupervisorMsg::WhichChildren, Some(timeout)).await
    }

    /// Looks up one child.
    pub async fn child(
        sup: &ActorRef<SupervisorMsg>,
        id: impl Into<String>,
        timeout: Duration,
    ) -> Result<Option<ChildInfo>, SupervisorError> {
        let id = id.into();
        call(sup, |r| SupervisorMsg::Child(id, r), Some(timeout)).await
    }
}

async fn call<T>(
    sup: &ActorRef<SupervisorMsg>,
    msg: impl FnOnce(RpcReplyPort<T>) -> SupervisorMsg,
    timeout: Option<Duration>,
) -> Result<T, SupervisorError>
where
    T: Send + 'static,
{
    match sup.call(msg, timeout).await {
        Ok(CallResult::Success(v)) => Ok(v),
        Ok(CallResult::Timeout) => Err(SupervisorError::Unavailable("timeout".into())),
        Ok(CallResult::SenderError) => Err(SupervisorError::Unavailable("no reply".into())),
        Err(e) => Err(SupervisorError::Unavailable(e.to_string())),
    }
}

fn flatten(r: Result<Result<(), SupervisorError>, SupervisorError>) -> Result<(), SupervisorError> {
    r.and_then(|inner| inner)
}

/// A plain stop, "normal" and "shutdown"/"shutdown…" are normal exits (OTP: normal,
/// shutdown, {shutdown, _}); anything else, including "killed", is abnormal.
fn is_normal_exit(reason: Option<&str>) -> bool {
    match reason {
        None => true,
        Some(r) => r == "normal" || r.starts_with("shutdown"),
    }
}

impl SupervisorState {
    fn emit(&self, kind: EventKind) {
        self.sink
            .emit(SupervisionEvent::new(self.name.clone(), kind, &self.clock));
    }

    fn is_dynamic(&self) -> bool {
        matches!(self.kind, Kind::Dynamic { .. })
    }

    fn info(child: &Child) -> ChildInfo {
        ChildInfo {
            id: child.spec.id.clone(),
            status: child.status,
            restarts: child.restarts,
            cell: child.cell.clone(),
        }
    }

    /// Starts a new child at the end of the start order.
    async fn add_child(
        &mut self,
        myself: &ActorCell,
        spec: ChildSpec,
    ) -> Result<(), SupervisorError> {
        if self.by_id.contains_key(&spec.id) {
            return Err(SupervisorError::AlreadyExists(spec.id));
        }
        if let Kind::Dynamic {
            max_children: Some(max),
        } = self.kind
            && self.children.len() >= max
        {
            return Err(SupervisorError::MaxChildren(max));
        }
        if let Some(hb) = &spec.heartbeat {
            hb.heartbeat.beat();
        }
        let cell = (spec.start)(myself.clone()).await.map_err(|e| {
            let error = e.to_string();
            self.emit(EventKind::ChildStartFailed {
                child: spec.id.clone(),
                error: error.clone(),
            });
            SupervisorError::StartFailed {
                id: spec.id.clone(),
                error,
            }
        })?;
        let seq = self.next_seq;
        self.next_seq += 1;
        let id = spec.id.clone();
        let wants_heartbeat = spec.heartbeat.is_some();
        self.by_actor.insert(cell.get_id(), seq);
        self.by_id.insert(id.clone(), seq);
        self.children.insert(
            seq,
            Child {
                spec,
                cell: Some(cell),
                status: ChildStatus::Running,
                generation: 0,
                restarts: 0,
                streak: 0,
                started_at: Instant::now(),
                last_uptime: None,
                heartbeat_stop_sent: false,
            },
        );
        self.emit(EventKind::ChildStarted { child: id });
        if wants_heartbeat {
            self.ensure_heartbeat_timer(myself);
        }
        Ok(())
    }

    fn ensure_heartbeat_timer(&mut self, myself: &ActorCell) {
        if self.heartbeat_timer.is_none() {
            self.heartbeat_timer = Some(ractor::time::send_interval(
                self.heartbeat_check,
                myself.clone(),
                || SupervisorMsg::Internal(Internal(Tick::CheckHeartbeats)),
            ));
        }
    }

    fn forget(&mut self, seq: u64) {
        if let Some(child) = self.children.remove(&seq) {
            self.by_id.remove(&child.spec.id);
            if let Some(cell) = child.cell {
                self.by_actor.remove(&cell.get_id());
            }
            if self.is_dynamic() {
                self.emit(EventKind::ChildRemoved {
                    child: child.spec.id,
                });
            }
        }
    }

    /// Stops one running child per its policy, reporting how it ended. Its exit event is
    /// ignored afterwards (it is no longer in `by_actor`).
    async fn stop_one(&mut self, seq: u64) {
        let Some(child) = self.children.get_mut(&seq) else {
            return;
        };
        child.generation += 1;
        let Some(cell) = child.cell.take() else {
            return;
        };
        let policy = child.spec.shutdown;
        let id = child.spec.id.clone();
        self.by_actor.remove(&cell.get_id());
        let how = stop_child(&cell, policy).await;
        self.report_stopped(id, how);
    }

    fn report_stopped(&self, child: String, how: Stopped) {
        match how {
            Stopped::Gracefully => self.emit(EventKind::ChildShutdown { child }),
            Stopped::Killed { after } => self.emit(EventKind::ChildKilled { child, after }),
        }
    }

    /// Stops every child: reverse start order one by one (static), or all at once (dynamic).
    async fn stop_all(&mut self) {
        if self.is_dynamic() {
            let mut batch = Vec::new();
            let mut ids = Vec::new();
            for child in self.children.values_mut() {
                child.generation += 1;
                if let Some(cell) = child.cell.take() {
                    self.by_actor.remove(&cell.get_id());
                    batch.push((cell, child.spec.shutdown));
                    ids.push(child.spec.id.clone());
                }
            }
            let results = stop_all_concurrently(batch).await;
            for (id, how) in ids.into_iter().zip(results) {
                self.report_stopped(id, how);
            }
        } else {
            let seqs: Vec<u64> = self.children.keys().rev().copied().collect();
            for seq in seqs {
                self.stop_one(seq).await;
            }
        }
    }

    /// A linked child ended.
    async fn on_child_exit(
        &mut self,
        myself: &ActorCell,
        cell: &ActorCell,
        failure: Option<String>,
        reason: Option<String>,
    ) -> Result<(), ActorProcessingErr> {
        // Unknown: a child we stopped ourselves, or not ours.
        let Some(seq) = self.by_actor.remove(&cell.get_id()) else {
            return Ok(());
        };
        let dynamic = self.is_dynamic();
        let Some(child) = self.children.get_mut(&seq) else {
            return Ok(());
        };
        child.cell = None;
        child.generation += 1;
        child.last_uptime = Some(child.started_at.elapsed());
        let id = child.spec.id.clone();
        let kind = child.spec.restart;
        let abnormal = failure.is_some() || !is_normal_exit(reason.as_deref());
        let restart = match kind {
            Restart::Permanent => true,
            Restart::Transient => abnormal,
            Restart::Temporary => false,
        };
        let forget = !restart && (kind == Restart::Temporary || dynamic);
        child.status = if restart {
            ChildStatus::RestartPending
        } else {
            // Kept in the list as stopped unless forgotten below.
            ChildStatus::Stopped
        };
        if abnormal {
            let why = failure.or(reason).unwrap_or_default();
            self.emit(EventKind::ChildFailed {
                child: id,
                reason: why,
            });
        } else {
            self.emit(EventKind::ChildExited { child: id, reason });
        }
        if forget {
            self.forget(seq);
        }
        if !restart {
            return Ok(());
        }
        self.restart_after_failure(myself, seq).await
    }

    /// Counts a restart against the intensity, applies the strategy and schedules the
    /// restart of the affected children after the failed child's backoff.
    async fn restart_after_failure(
        &mut self,
        myself: &ActorCell,
        seq: u64,
    ) -> Result<(), ActorProcessingErr> {
        if let Err(restarts) = self.intensity.record(Instant::now()) {
            return Err(self.meltdown(restarts).await);
        }
        let mut group = vec![seq];
        let siblings: Vec<u64> = match self.strategy {
            Strategy::OneForOne => Vec::new(),
            Strategy::OneForAll => self
                .children
                .keys()
                .filter(|s| **s != seq)
                .copied()
                .collect(),
            Strategy::RestForOne => self.children.range(seq + 1..).map(|(s, _)| *s).collect(),
        };
        // Siblings stop in reverse start order, then restart (with the failed child) in start
        // order. Temporary siblings are stopped but never restarted.
        for &sib in siblings.iter().rev() {
            self.stop_one(sib).await;
        }
        for sib in siblings {
            let temporary = self
                .children
                .get(&sib)
                .is_some_and(|c| c.spec.restart == Restart::Temporary);
            if temporary {
                self.forget(sib);
            } else if let Some(c) = self.children.get_mut(&sib) {
                c.status = ChildStatus::RestartPending;
                group.push(sib);
            }
        }
        group.sort_unstable();

        let Some(child) = self.children.get_mut(&seq) else {
            return Ok(());
        };
        // Only a healthy spell resets the streak: failures that continue (a start that fails,
        // an instance that dies young) keep growing the delay, however long the backoff
        // spread them.
        if child
            .last_uptime
            .take()
            .is_some_and(|up| up >= child.spec.backoff.reset_after)
        {
            child.streak = 0;
        }
        let delay = child.spec.backoff.delay(child.streak);
        child.streak = child.streak.saturating_add(1);
        let attempt = child.streak;
        let id = child.spec.id.clone();
        self.emit(EventKind::RestartScheduled {
            child: id,
            attempt,
            delay,
        });
        if delay.is_zero() {
            self.restart_group(myself, group).await;
        } else {
            let targets: Vec<(u64, u64)> = group
                .iter()
                .filter_map(|s| self.children.get(s).map(|c| (*s, c.generation)))
                .collect();
            ractor::time::send_after(delay, myself.clone(), move || {
                SupervisorMsg::Internal(Internal(Tick::Restart(targets)))
            });
        }
        Ok(())
    }

    /// Starts the pending children of a group in start order. A child whose start fails is
    /// counted as a failure and retried on its own after its backoff.
    async fn restart_group(&mut self, myself: &ActorCell, group: Vec<u64>) {
        for seq in group {
            let Some(child) = self.children.get_mut(&seq) else {
                continue;
            };
            if child.status != ChildStatus::RestartPending {
                continue;
            }
            if let Some(hb) = &child.spec.heartbeat {
                hb.heartbeat.beat();
            }
            let start = child.spec.start.clone();
            match start(myself.clone()).await {
                Ok(cell) => {
                    let Some(child) = self.children.get_mut(&seq) else {
                        cell.stop(Some(SHUTDOWN_REASON_STR.to_string()));
                        continue;
                    };
                    child.generation += 1;
                    child.restarts = child.restarts.saturating_add(1);
                    child.status = ChildStatus::Running;
                    child.started_at = Instant::now();
                    child.heartbeat_stop_sent = false;
                    child.cell = Some(cell.clone());
                    let restarts = child.restarts;
                    let id = child.spec.id.clone();
                    self.by_actor.insert(cell.get_id(), seq);
                    self.emit(EventKind::ChildRestarted {
                        child: id,
                        restarts,
                    });
                }
                Err(e) => {
                    let id = child.spec.id.clone();
                    let generation = child.generation;
                    self.emit(EventKind::ChildStartFailed {
                        child: id,
                        error: e.to_string(),
                    });
                    // Retry via a message, never by recursion; the intensity bounds the loop.
                    let _ = myself.send_message(SupervisorMsg::Internal(Internal(Tick::Retry {
                        seq,
                        generation,
                    })));
                }
            }
        }
    }

    /// Intensity exceeded: report, stop all children (reverse order), and return the error
    /// the supervisor fails with, so its parent sees `ActorFailed`.
    async fn meltdown(&mut self, restarts: usize) -> ActorProcessingErr {
        self.emit(EventKind::Meltdown {
            restarts,
            intensity: self.intensity_limit,
            period: self.period,
        });
        self.stop_all().await;
        Box::new(SupervisorError::Meltdown {
            restarts,
            intensity: self.intensity_limit,
            period: self.period,
        })
    }

    async fn on_tick(&mut self, myself: &ActorCell, tick: Tick) -> Result<(), ActorProcessingErr> {
        match tick {
            Tick::Restart(targets) => {
                let group = targets
                    .into_iter()
                    .filter(|(seq, generation)| {
                        self.children
                            .get(seq)
                            .is_some_and(|c| c.generation == *generation)
                    })
                    .map(|(seq, _)| seq)
                    .collect();
                self.restart_group(myself, group).await;
            }
            Tick::Retry { seq, generation } => {
                if self
                    .children
                    .get(&seq)
                    .is_some_and(|c| c.generation == generation)
                {
                    return self.restart_after_failure(myself, seq).await;
                }
            }
            Tick::CheckHeartbeats => self.check_heartbeats(myself),
            Tick::EnsureDead {
                seq,
                generation,
                after,
            } => {
                if let Some(child) = self.children.get(&seq)
                    && child.generation == generation
                    && let Some(cell) = &child.cell
                {
                    self.emit(EventKind::KillTrigger {
                        child: child.spec.id.clone(),
                        after,
                    });
                    cell.kill();
                }
            }
        }
        Ok(())
    }

    fn check_heartbeats(&mut self, myself: &ActorCell) {
        let mut overdue = Vec::new();
        for (seq, child) in &mut self.children {
            let (Some(hb), Some(cell)) = (&child.spec.heartbeat, &child.cell) else {
                continue;
            };
            if child.heartbeat_stop_sent {
                continue;
            }
            let silent_for = hb.heartbeat.silent_for();
            if silent_for > hb.timeout {
                child.heartbeat_stop_sent = true;
                overdue.push((
                    *seq,
                    child.generation,
                    child.spec.id.clone(),
                    cell.clone(),
                    child.spec.shutdown,
                    silent_for,
                ));
            }
        }
        for (seq, generation, id, cell, policy, silent_for) in overdue {
            self.emit(EventKind::HeartbeatTimeout {
                child: id,
                silent_for,
            });
            // Stop without waiting (the supervisor keeps serving); a timer kills it if it
            // ignores the stop.
            match policy {
                Shutdown::Brutal => cell.kill(),
                Shutdown::Infinity => cell.stop(Some(HEARTBEAT_TIMEOUT.to_string())),
                Shutdown::Timeout(after) => {
                    cell.stop(Some(HEARTBEAT_TIMEOUT.to_string()));
                    ractor::time::send_after(after, myself.clone(), move || {
                        SupervisorMsg::Internal(Internal(Tick::EnsureDead {
                            seq,
                            generation,
                            after,
                        }))
                    });
                }
            }
        }
    }
}

const SHUTDOWN_REASON_STR: &str = shutdown::SHUTDOWN_REASON;

impl Actor for Supervisor {
    type Msg = SupervisorMsg;
    type State = SupervisorState;
    type Arguments = SupervisorArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: SupervisorArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        let SupervisorArgs { spec, sink } = args;
        let name = myself
            .get_name()
            .unwrap_or_else(|| format!("supervisor-{}", myself.get_id()));
        let mut state = SupervisorState {
            name,
            strategy: match spec.kind {
                // Dynamic children have no order to restart by.
                Kind::Dynamic { .. } => Strategy::OneForOne,
                Kind::Static => spec.strategy,
            },
            kind: spec.kind,
            heartbeat_check: spec.heartbeat_check,
            intensity_limit: spec.intensity,
            period: spec.period,
            intensity: Intensity::new(spec.intensity, spec.period),
            children: BTreeMap::new(),
            by_id: HashMap::new(),
            by_actor: HashMap::new(),
            next_seq: 0,
            sink,
            clock: spec.clock,
            heartbeat_timer: None,
        };
        let cell = myself.get_cell();
        for child in spec.children {
            if let Err(e) = state.add_child(&cell, child).await {
                state.stop_all().await;
                if let Some(t) = state.heartbeat_timer.take() {
                    t.abort();
                }
                return Err(Box::new(e));
            }
        }
        Ok(state)
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let cell = myself.get_cell();
        match msg {
            SupervisorMsg::StartChild(spec, reply) => {
                let r = state.add_child(&cell, spec).await;
                let _ = reply.send(r);
            }
            SupervisorMsg::TerminateChild(id, reply) => {
                let r = match state.by_id.get(&id).copied() {
                    Some(seq) => {
                        state.stop_one(seq).await;
                        if let Some(child) = state.children.remove(&seq) {
                            state.by_id.remove(&child.spec.id);
                            state.emit(EventKind::ChildRemoved {
                                child: child.spec.id,
                            });
                        }
                        Ok(())
                    }
                    None => Err(SupervisorError::NotFound(id)),
                };
                let _ = reply.send(r);
            }
            SupervisorMsg::WhichChildren(reply) => {
                let _ = reply.send(state.children.values().map(SupervisorState::info).collect());
            }
            SupervisorMsg::Child(id, reply) => {
                let info = state
                    .by_id
                    .get(&id)
                    .and_then(|seq| state.children.get(seq))
                    .map(SupervisorState::info);
                let _ = reply.send(info);
            }
            SupervisorMsg::Shutdown => myself.stop(Some(SHUTDOWN_REASON_STR.to_string())),
            SupervisorMsg::Internal(Internal(tick)) => state.on_tick(&cell, tick).await?,
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<Self::Msg>,
        evt: RactorEvent,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let cell = myself.get_cell();
        match evt {
            RactorEvent::ActorTerminated(child, _, reason) => {
                state.on_child_exit(&cell, &child, None, reason).await
            }
            RactorEvent::ActorFailed(child, err) => {
                state
                    .on_child_exit(&cell, &child, Some(err.to_string()), None)
                    .await
            }
            _ => Ok(()),
        }
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        if let Some(t) = state.heartbeat_timer.take() {
            t.abort();
        }
        state.stop_all().await;
        state.emit(EventKind::SupervisorShutdown);
        Ok(())
    }
}
