//! Declarative description of a supervisor and its children.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use ractor::{ActorCell, SpawnErr};

use super::backoff::Backoff;
use crate::clock::Clock;
use crate::watchdog::Heartbeat;

/// How the supervisor reacts when one child terminates and must be restarted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// Restart only the child that ended.
    OneForOne,
    /// Terminate all other children (reverse start order), then restart all (start order).
    OneForAll,
    /// Terminate the children started after the one that ended (reverse order), then restart
    /// it and them (start order).
    RestForOne,
}

/// When a child is restarted after it ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restart {
    /// Always.
    Permanent,
    /// Only after an abnormal exit (not a plain stop, "normal" or "shutdown*").
    Transient,
    /// Never; not even when a sibling's failure triggers a one_for_all / rest_for_one restart.
    Temporary,
}

/// How a child is stopped by its supervisor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shutdown {
    /// Ask it to stop, wait this long, then kill it.
    Timeout(Duration),
    /// Kill it at once (its `post_stop` does not run).
    Brutal,
    /// Ask it to stop and wait as long as it takes (for child supervisors, so grandchildren
    /// are never orphaned).
    Infinity,
}

impl Default for Shutdown {
    /// OTP's default for workers: 5 s.
    fn default() -> Self {
        Shutdown::Timeout(Duration::from_secs(5))
    }
}

/// Starts one child linked to the given supervisor cell and returns the child's cell.
/// The function must link the child to that cell (e.g. `Actor::spawn_linked(.., sup)`),
/// otherwise the supervisor never hears of its exit.
pub type StartFn =
    Arc<dyn Fn(ActorCell) -> BoxFuture<'static, Result<ActorCell, SpawnErr>> + Send + Sync>;

/// Heartbeat requirement for a child: silent longer than `timeout` → treated as failed.
#[derive(Clone)]
pub struct HeartbeatSpec {
    pub heartbeat: Heartbeat,
    pub timeout: Duration,
}

/// One supervised child.
#[derive(Clone)]
pub struct ChildSpec {
    /// Unique within its supervisor. Not an actor name (no global registry entry).
    pub id: String,
    pub restart: Restart,
    pub shutdown: Shutdown,
    pub backoff: Backoff,
    pub start: StartFn,
    pub heartbeat: Option<HeartbeatSpec>,
}

impl ChildSpec {
    /// A permanent child with the default shutdown (5 s), no backoff and no heartbeat.
    pub fn new<F, Fut>(id: impl Into<String>, start: F) -> Self
    where
        F: Fn(ActorCell) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<ActorCell, SpawnErr>> + Send + 'static,
    {
        Self {
            id: id.into(),
            restart: Restart::Permanent,
            shutdown: Shutdown::default(),
            backoff: Backoff::NONE,
            start: Arc::new(move |sup| Box::pin(start(sup))),
            heartbeat: None,
        }
    }

    pub fn restart(mut self, restart: Restart) -> Self {
        self.restart = restart;
        self
    }

    pub fn shutdown(mut self, shutdown: Shutdown) -> Self {
        self.shutdown = shutdown;
        self
    }

    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// Require a beat on `heartbeat` at least every `timeout`.
    pub fn heartbeat(mut self, heartbeat: Heartbeat, timeout: Duration) -> Self {
        self.heartbeat = Some(HeartbeatSpec { heartbeat, timeout });
        self
    }
}

impl fmt::Debug for ChildSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChildSpec")
            .field("id", &self.id)
            .field("restart", &self.restart)
            .field("shutdown", &self.shutdown)
            .field("backoff", &self.backoff)
            .field("heartbeat", &self.heartbeat.as_ref().map(|h| h.timeout))
            .finish()
    }
}

/// Static vs dynamic children.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Children fixed at start, in order; any [`Strategy`].
    Static,
    /// Children added and removed at run time (OTP `simple_one_for_one`-like, one_for_one
    /// only); ended temporary/transient children are forgotten; optional child cap.
    Dynamic { max_children: Option<usize> },
}

/// A supervisor: strategy, restart intensity and initial children.
#[derive(Debug, Clone)]
pub struct SupervisorSpec {
    pub strategy: Strategy,
    pub kind: Kind,
    /// More than `intensity` restarts within `period` → meltdown.
    pub intensity: u32,
    pub period: Duration,
    pub children: Vec<ChildSpec>,
    /// How often heartbeats are checked (only matters if some child has one).
    pub heartbeat_check: Duration,
    /// Stamps its events (nested supervisors take their own spec's).
    pub clock: Clock,
}

impl SupervisorSpec {
    /// OTP defaults: intensity 1 within 5 s.
    pub fn new(strategy: Strategy) -> Self {
        Self {
            strategy,
            kind: Kind::Static,
            intensity: 1,
            period: Duration::from_secs(5),
            children: Vec::new(),
            heartbeat_check: Duration::from_millis(500),
            clock: Clock::system(),
        }
    }

    /// A dynamic one_for_one supervisor with no initial children.
    pub fn dynamic(max_children: Option<usize>) -> Self {
        Self {
            kind: Kind::Dynamic { max_children },
            ..Self::new(Strategy::OneForOne)
        }
    }

    pub fn intensity(mut self, intensity: u32, period: Duration) -> Self {
        self.intensity = intensity;
        self.period = period;
        self
    }

    pub fn child(mut self, child: ChildSpec) -> Self {
        self.children.push(child);
        self
    }

    pub fn children(mut self, children: impl IntoIterator<Item = ChildSpec>) -> Self {
        self.children.extend(children);
        self
    }

    pub fn heartbeat_check(mut self, every: Duration) -> Self {
        self.heartbeat_check = every;
        self
    }

    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }
}
