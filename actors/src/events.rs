//! Typed supervision events and the sink they are emitted to.
//!
//! Supervision never waits on the sink: `emit` is synchronous and must not block, so the
//! root crate's sink should push into a bounded buffer / channel and drop or count on overflow.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::breaker::BreakerState;
use crate::clock::Clock;

/// One supervision action, stamped with its source (supervisor or breaker name) and wall time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SupervisionEvent {
    /// Name of the supervisor (or breaker) that acted.
    pub source: String,
    pub at: SystemTime,
    pub kind: EventKind,
}

impl SupervisionEvent {
    /// Stamped with `clock`'s time.
    pub fn new(source: impl Into<String>, kind: EventKind, clock: &Clock) -> Self {
        Self {
            source: source.into(),
            at: clock.now().into(),
            kind,
        }
    }

    /// The child id this event concerns, if any.
    pub fn child(&self) -> Option<&str> {
        match &self.kind {
            EventKind::ChildStarted { child }
            | EventKind::ChildFailed { child, .. }
            | EventKind::ChildExited { child, .. }
            | EventKind::ChildStartFailed { child, .. }
            | EventKind::RestartScheduled { child, .. }
            | EventKind::ChildRestarted { child, .. }
            | EventKind::ChildShutdown { child }
            | EventKind::ChildKilled { child, .. }
            | EventKind::ChildRemoved { child }
            | EventKind::HeartbeatTimeout { child, .. }
            | EventKind::KillTrigger { child, .. } => Some(child),
            EventKind::Meltdown { .. }
            | EventKind::SupervisorShutdown
            | EventKind::BreakerTransition { .. } => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventKind {
    /// A child was started (initially, or added to a dynamic supervisor).
    ChildStarted { child: String },
    /// A child exited abnormally (error, panic, killed, heartbeat timeout).
    ChildFailed { child: String, reason: String },
    /// A child exited normally (`stop` with no reason, "normal" or "shutdown*").
    ChildExited {
        child: String,
        reason: Option<String>,
    },
    /// The child's start function returned an error (initial start or restart).
    ChildStartFailed { child: String, error: String },
    /// A restart was decided; it runs after `delay` (the backoff). `attempt` counts the
    /// consecutive restarts of this streak from 1 (back to 1 only after a healthy spell).
    RestartScheduled {
        child: String,
        attempt: u32,
        delay: Duration,
    },
    /// A replacement child is running. `restarts` is the child's total restart count.
    ChildRestarted { child: String, restarts: u32 },
    /// More than `intensity` restarts within `period`: children are shut down and the
    /// supervisor fails, escalating to its parent.
    Meltdown {
        restarts: usize,
        intensity: u32,
        period: Duration,
    },
    /// A child stopped within its shutdown timeout, on the supervisor's request.
    ChildShutdown { child: String },
    /// A child did not stop within `after` and was killed.
    ChildKilled { child: String, after: Duration },
    /// A child was removed from a dynamic supervisor (terminated by request, or a temporary
    /// / transient child that ended).
    ChildRemoved { child: String },
    /// The supervisor finished shutting down its children and is exiting.
    SupervisorShutdown,
    /// A circuit breaker changed state.
    BreakerTransition {
        from: BreakerState,
        to: BreakerState,
        reason: String,
    },
    /// A child was silent longer than its heartbeat limit; it is treated as failed and asked
    /// to stop.
    HeartbeatTimeout { child: String, silent_for: Duration },
    /// A child that missed its heartbeat ignored the stop request and was killed.
    KillTrigger { child: String, after: Duration },
}

/// Receives supervision events. Must return quickly and never block.
pub trait SupervisionEventSink: Send + Sync + 'static {
    fn emit(&self, ev: SupervisionEvent);
}

/// Shared sink handle, as stored by supervisors and breakers.
pub type SharedSink = Arc<dyn SupervisionEventSink>;

/// Drops every event.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoopSink;

impl SupervisionEventSink for NoopSink {
    fn emit(&self, _ev: SupervisionEvent) {}
}

/// Forwards events into an unbounded tokio channel (never blocks; events are dropped once the
/// receiver is gone).
#[derive(Debug, Clone)]
pub struct ChannelSink {
    tx: tokio::sync::mpsc::UnboundedSender<SupervisionEvent>,
}

impl ChannelSink {
    pub fn new() -> (Self, tokio::sync::mpsc::UnboundedReceiver<SupervisionEvent>) {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        (Self { tx }, rx)
    }
}

impl SupervisionEventSink for ChannelSink {
    fn emit(&self, ev: SupervisionEvent) {
        let _ = self.tx.send(ev);
    }
}

/// A no-op sink as a [`SharedSink`].
pub fn noop_sink() -> SharedSink {
    Arc::new(NoopSink)
}
