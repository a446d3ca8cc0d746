//! Circuit breaker as a pure state machine (no IO, no async, injected clock), and the
//! supervised actor that owns one and publishes its [`BreakerReading`] ([`actor`]).
//!
//! - CLOSED: calls pass; `failure_threshold` failures within `window` → OPEN.
//! - OPEN: every call is refused (zero pass) until `cool_down` has elapsed since opening;
//!   the next `try_acquire` then moves to HALF_OPEN.
//! - HALF_OPEN: exactly `half_open_probes` calls are admitted. Any probe failure → OPEN again;
//!   once all of them succeed → CLOSED. Probes that never report within `cool_down` count as
//!   failed (→ OPEN), so a lost permit cannot wedge the breaker.
//! - `reset()` forces CLOSED, `trip()` forces OPEN.
//!
//! Outcomes are recorded against the [`Permit`] they came from: a result from a permit issued
//! before the last transition is ignored, so a slow call started while CLOSED cannot close or
//! re-open the breaker later.

pub mod actor;

pub use actor::{
    BreakerActor, BreakerUnavailable, Capture, OnChange, Report, ResetOutcome, Sent, SharedBreaker,
    Within,
};

use std::collections::VecDeque;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::clock::{Clock, from_unix_ms, to_unix_ms};
use crate::events::{EventKind, SharedSink, SupervisionEvent};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
}

impl BreakerState {
    pub fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half_open",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BreakerConfig {
    /// Failures within `window` that open the breaker.
    pub failure_threshold: u32,
    pub window: Duration,
    /// Time OPEN before probes are admitted.
    pub cool_down: Duration,
    /// Probes admitted in HALF_OPEN (at least 1).
    pub half_open_probes: u32,
}

impl Default for BreakerConfig {
    /// 3 failures within 30 min; 60 s cool-down; 1 probe.
    fn default() -> Self {
        Self {
            failure_threshold: 3,
            window: Duration::from_secs(30 * 60),
            cool_down: Duration::from_secs(60),
            half_open_probes: 1,
        }
    }
}

/// Permission for one call; hand it back with `record_success` / `record_failure`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "record the call's outcome with record_success / record_failure"]
pub struct Permit {
    epoch: u64,
    probe: bool,
}

impl Permit {
    /// Whether this call is a HALF_OPEN probe.
    pub fn is_probe(&self) -> bool {
        self.probe
    }
}

/// The call was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("circuit breaker {state:?}; retry after {retry_after:?}")]
pub struct BreakerOpen {
    /// Earliest time a call may be admitted (an estimate while HALF_OPEN probes run).
    pub retry_after: Duration,
    pub state: BreakerState,
}

/// Everything needed to restore a breaker in another process. Times are Unix milliseconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BreakerSnapshot {
    pub state: BreakerState,
    /// Failures still inside the window (oldest first).
    pub failures_ms: Vec<u64>,
    pub opened_at_ms: Option<u64>,
    pub half_opened_at_ms: Option<u64>,
    /// Probes admitted and not yet reported. Informational: on restore they are forgotten
    /// (their calls belonged to the previous process and will never report).
    pub probes_in_flight: u32,
    pub probe_successes: u32,
}

/// What a breaker publishes after every change: its state as persisted, and the epoch its
/// current permits carry. Enough to admit CLOSED calls without asking the breaker, and for a
/// restarted owner to continue exactly where the last one stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BreakerReading {
    pub snapshot: BreakerSnapshot,
    /// Transitions so far; permits from another epoch are ignored.
    pub epoch: u64,
}

impl BreakerReading {
    pub fn state(&self) -> BreakerState {
        self.snapshot.state
    }

    /// Failures currently counted in the window.
    pub fn failures_in_window(&self) -> usize {
        self.snapshot.failures_ms.len()
    }

    /// The admission the reading decides alone: CLOSED passes, OPEN inside its cool-down
    /// refuses. `None` when only the state machine can decide (a cool-down has elapsed, or
    /// HALF_OPEN probes are being counted).
    pub fn fast_admission(
        &self,
        config: &BreakerConfig,
        now: SystemTime,
    ) -> Option<Result<Permit, BreakerOpen>> {
        match self.snapshot.state {
            BreakerState::Closed => Some(Ok(Permit {
                epoch: self.epoch,
                probe: false,
            })),
            BreakerState::Open => {
                let opened_at = self.snapshot.opened_at_ms.map_or(now, from_unix_ms);
                cooling(config.cool_down, opened_at, now).map(Err)
            }
            BreakerState::HalfOpen => None,
        }
    }
}

/// The refusal of an OPEN breaker still inside its cool-down; `None` once it has elapsed.
fn cooling(cool_down: Duration, opened_at: SystemTime, now: SystemTime) -> Option<BreakerOpen> {
    let elapsed = since(now, opened_at);
    (elapsed < cool_down).then(|| BreakerOpen {
        retry_after: cool_down - elapsed,
        state: BreakerState::Open,
    })
}

pub struct CircuitBreaker {
    name: String,
    config: BreakerConfig,
    clock: Clock,
    sink: SharedSink,
    state: BreakerState,
    failures: VecDeque<SystemTime>,
    opened_at: Option<SystemTime>,
    half_opened_at: Option<SystemTime>,
    probes_admitted: u32,
    probes_in_flight: u32,
    probe_successes: u32,
    /// Bumped on every transition; permits from older epochs are ignored.
    epoch: u64,
}

impl std::fmt::Debug for CircuitBreaker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CircuitBreaker")
            .field("name", &self.name)
            .field("state", &self.state)
            .field("failures", &self.failures.len())
            .finish()
    }
}

fn since(now: SystemTime, then: SystemTime) -> Duration {
    now.duration_since(then).unwrap_or(Duration::ZERO)
}

impl CircuitBreaker {
    /// A CLOSED breaker. `name` is the event source.
    pub fn new(
        name: impl Into<String>,
        config: BreakerConfig,
        clock: Clock,
        sink: SharedSink,
    ) -> Self {
        Self {
            name: name.into(),
            config: BreakerConfig {
                half_open_probes: config.half_open_probes.max(1),
                failure_threshold: config.failure_threshold.max(1),
                ..config
            },
            clock,
            sink,
            state: BreakerState::Closed,
            failures: VecDeque::new(),
            opened_at: None,
            half_opened_at: None,
            probes_admitted: 0,
            probes_in_flight: 0,
            probe_successes: 0,
            epoch: 0,
        }
    }

    /// A breaker restored from a snapshot persisted by another process. Failures now outside
    /// the window are dropped; in-flight probes are forgotten (their calls belonged to that
    /// process and will never report). No transition event is emitted (nothing changed).
    pub fn restore(
        name: impl Into<String>,
        config: BreakerConfig,
        clock: Clock,
        sink: SharedSink,
        snapshot: &BreakerSnapshot,
    ) -> Self {
        let mut b = Self::from_snapshot(name, config, clock, sink, snapshot);
        let now = b.now();
        b.prune(now);
        b
    }

    /// A breaker continuing from a reading published earlier in this process (a restarted
    /// owner): in-flight probes still count, since their calls may yet report, and permits
    /// issued before keep their epoch. Nothing is pruned or emitted: the state is unchanged.
    pub fn resume(
        name: impl Into<String>,
        config: BreakerConfig,
        clock: Clock,
        sink: SharedSink,
        reading: &BreakerReading,
    ) -> Self {
        let mut b = Self::from_snapshot(name, config, clock, sink, &reading.snapshot);
        b.probes_in_flight = reading.snapshot.probes_in_flight;
        b.probes_admitted = b.probe_successes + b.probes_in_flight;
        b.epoch = reading.epoch;
        b
    }

    fn from_snapshot(
        name: impl Into<String>,
        config: BreakerConfig,
        clock: Clock,
        sink: SharedSink,
        snapshot: &BreakerSnapshot,
    ) -> Self {
        let mut b = Self::new(name, config, clock, sink);
        b.state = snapshot.state;
        b.failures = snapshot
            .failures_ms
            .iter()
            .map(|ms| from_unix_ms(*ms))
            .collect();
        b.opened_at = snapshot.opened_at_ms.map(from_unix_ms);
        b.half_opened_at = snapshot.half_opened_at_ms.map(from_unix_ms);
        b.probe_successes = snapshot.probe_successes;
        b.probes_admitted = snapshot.probe_successes;
        if b.state == BreakerState::Open && b.opened_at.is_none() {
            b.opened_at = Some(b.now());
        }
        if b.state == BreakerState::HalfOpen && b.half_opened_at.is_none() {
            b.half_opened_at = Some(b.now());
        }
        b
    }

    fn now(&self) -> SystemTime {
        self.clock.now().into()
    }

    pub fn snapshot(&self) -> BreakerSnapshot {
        BreakerSnapshot {
            state: self.state,
            failures_ms: self.failures.iter().map(|t| to_unix_ms(*t)).collect(),
            opened_at_ms: self.opened_at.map(to_unix_ms),
            half_opened_at_ms: self.half_opened_at.map(to_unix_ms),
            probes_in_flight: self.probes_in_flight,
            probe_successes: self.probe_successes,
        }
    }

    /// The snapshot and the current epoch, as published by its actor.
    pub fn reading(&self) -> BreakerReading {
        BreakerReading {
            snapshot: self.snapshot(),
            epoch: self.epoch,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn config(&self) -> &BreakerConfig {
        &self.config
    }

    /// The current state (an OPEN breaker past its cool-down reports OPEN until the next
    /// `try_acquire` moves it to HALF_OPEN).
    pub fn state(&self) -> BreakerState {
        self.state
    }

    /// Failures currently counted in the window.
    pub fn failures_in_window(&self) -> usize {
        self.failures.len()
    }

    /// Asks to make one call.
    pub fn try_acquire(&mut self) -> Result<Permit, BreakerOpen> {
        let now = self.now();
        match self.state {
            BreakerState::Closed => Ok(Permit {
                epoch: self.epoch,
                probe: false,
            }),
            BreakerState::Open => {
                let opened_at = self.opened_at.unwrap_or(now);
                if let Some(refusal) = cooling(self.config.cool_down, opened_at, now) {
                    return Err(refusal);
                }
                self.transition(BreakerState::HalfOpen, now, "cool-down elapsed");
                self.admit_probe(now)
            }
            BreakerState::HalfOpen => self.admit_probe(now),
        }
    }

    fn admit_probe(&mut self, now: SystemTime) -> Result<Permit, BreakerOpen> {
        let half_opened_at = self.half_opened_at.unwrap_or(now);
        let elapsed = since(now, half_opened_at);
        if self.probes_admitted >= self.config.half_open_probes {
            if elapsed >= self.config.cool_down && self.probes_in_flight > 0 {
                // Probes lost (never reported): treat as failed.
                self.open(now, "half-open probes did not report");
                return Err(BreakerOpen {
                    retry_after: self.config.cool_down,
                    state: BreakerState::Open,
                });
            }
            return Err(BreakerOpen {
                retry_after: self.config.cool_down.saturating_sub(elapsed),
                state: BreakerState::HalfOpen,
            });
        }
        self.probes_admitted += 1;
        self.probes_in_flight += 1;
        Ok(Permit {
            epoch: self.epoch,
            probe: true,
        })
    }

    /// The call made under `permit` succeeded.
    pub fn record_success(&mut self, permit: Permit) {
        if permit.epoch != self.epoch {
            return;
        }
        if self.state == BreakerState::HalfOpen && permit.probe {
            self.probes_in_flight = self.probes_in_flight.saturating_sub(1);
            self.probe_successes += 1;
            if self.probe_successes >= self.config.half_open_probes {
                let now = self.now();
                self.transition(BreakerState::Closed, now, "half-open probes succeeded");
            }
        }
    }

    /// The call made under `permit` failed.
    pub fn record_failure(&mut self, permit: Permit) {
        if permit.epoch != self.epoch {
            return;
        }
        let now = self.now();
        match self.state {
            BreakerState::Closed => {
                self.failures.push_back(now);
                self.prune(now);
                if self.failures.len() >= self.config.failure_threshold as usize {
                    let reason = format!(
                        "{} failures within {:?}",
                        self.failures.len(),
                        self.config.window
                    );
                    self.open(now, &reason);
                }
            }
            BreakerState::HalfOpen => self.open(now, "half-open probe failed"),
            BreakerState::Open => {}
        }
    }

    /// Manual reset to CLOSED (clears the failure window).
    pub fn reset(&mut self) {
        let now = self.now();
        self.transition(BreakerState::Closed, now, "manual reset");
    }

    /// Manual trip to OPEN (cool-down starts now).
    pub fn trip(&mut self, reason: &str) {
        let now = self.now();
        self.open(now, reason);
    }

    fn open(&mut self, now: SystemTime, reason: &str) {
        self.transition(BreakerState::Open, now, reason);
    }

    fn prune(&mut self, now: SystemTime) {
        while let Some(first) = self.failures.front() {
            if since(now, *first) > self.config.window {
                self.failures.pop_front();
            } else {
                break;
            }
        }
    }

    fn transition(&mut self, to: BreakerState, now: SystemTime, reason: &str) {
        let from = self.state;
        self.state = to;
        self.epoch += 1;
        self.probes_admitted = 0;
        self.probes_in_flight = 0;
        self.probe_successes = 0;
        match to {
            BreakerState::Closed => {
                self.failures.clear();
                self.opened_at = None;
                self.half_opened_at = None;
            }
            BreakerState::Open => {
                self.opened_at = Some(now);
                self.half_opened_at = None;
            }
            BreakerState::HalfOpen => self.half_opened_at = Some(now),
        }
        self.sink.emit(SupervisionEvent {
            source: self.name.clone(),
            at: now,
            kind: EventKind::BreakerTransition {
                from,
                to,
                reason: reason.to_string(),
            },
        });
    }
}
