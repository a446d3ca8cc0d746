//! OTP-style supervisor on ractor.
//!
//! The supervisor is a ractor actor whose children are linked to it; ractor reports every
//! child exit as a supervision event, and this module turns those events into OTP restarts:
//! strategy, restart type, intensity/period (meltdown → escalate by failing), per-child
//! backoff (a timer message, never a sleep), ordered shutdown with per-child timeouts, and
//! heartbeat checks. Every action is reported to a [`SupervisionEventSink`].

mod actor;
mod backoff;
mod children;
mod heartbeat;
mod intensity;
mod restart;
mod shutdown;
mod spec;

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use ractor::concurrency::JoinHandle;
use ractor::rpc::CallResult;
use ractor::{Actor, ActorCell, ActorId, ActorRef, RpcReplyPort, SpawnErr};

pub use backoff::Backoff;
pub use spec::{
    ChildSpec, HeartbeatSpec, Kind, Restart, Shutdown, StartFn, Strategy, SupervisorSpec,
};

use crate::clock::Clock;
use crate::events::SharedSink;
use intensity::Intensity;

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

const SHUTDOWN_REASON_STR: &str = shutdown::SHUTDOWN_REASON;
