//! Heartbeats: a runner beats by storing a monotonic timestamp in an atomic (no message, no
//! lock), and its supervisor checks the age of the last beat on a timer.
//!
//! A child silent longer than its limit is treated as failed: the supervisor asks it to stop
//! (reason [`HEARTBEAT_TIMEOUT`]) and restarts it per its restart type. If it is still alive
//! after its shutdown timeout (it ignored the stop, e.g. blocked in a handler), the supervisor
//! kills it and emits a `KillTrigger` event.

use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Exit reason given to a child stopped for missing its heartbeat.
pub const HEARTBEAT_TIMEOUT: &str = "heartbeat_timeout";

fn base() -> Instant {
    static BASE: OnceLock<Instant> = OnceLock::new();
    *BASE.get_or_init(Instant::now)
}

fn now_nanos() -> u64 {
    u64::try_from(base().elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// Shared last-beat timestamp. Clone it into the runner (e.g. via its start arguments) and
/// give the same handle to the child's spec.
#[derive(Debug, Clone)]
pub struct Heartbeat {
    last: Arc<AtomicU64>,
}

impl Heartbeat {
    /// A heartbeat that has just beaten.
    pub fn new() -> Self {
        Self {
            last: Arc::new(AtomicU64::new(now_nanos())),
        }
    }

    /// Record that the runner is alive. Cheap: one relaxed atomic store.
    pub fn beat(&self) {
        self.last.store(now_nanos(), Ordering::Relaxed);
    }

    /// Time since the last beat.
    pub fn silent_for(&self) -> Duration {
        let last = self.last.load(Ordering::Relaxed);
        Duration::from_nanos(now_nanos().saturating_sub(last))
    }
}

impl Default for Heartbeat {
    fn default() -> Self {
        Self::new()
    }
}
