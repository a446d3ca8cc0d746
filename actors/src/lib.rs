//! Supervision mechanism on ractor: OTP-style supervisors (strategies, restart types,
//! intensity/period with escalation, per-child backoff, ordered shutdown with timeouts),
//! a circuit breaker, a heartbeat watchdog, and a typed supervision event sink.
//!
//! No IO of its own: events go to a [`SupervisionEventSink`], breaker state is published as a
//! [`BreakerReading`] (its [`BreakerSnapshot`] is serializable) for the owner to persist, wall
//! time comes from an injected [`Clock`].

pub mod breaker;
pub mod clock;
pub mod events;
pub mod supervisor;
pub mod watchdog;

pub use breaker::{
    BreakerActor, BreakerConfig, BreakerOpen, BreakerReading, BreakerSnapshot, BreakerState,
    BreakerUnavailable, Capture, CircuitBreaker, OnChange, Permit, Report, ResetOutcome, Sent,
    SharedBreaker, Within,
};
pub use clock::Clock;
pub use events::{
    ChannelSink, EventKind, NoopSink, SharedSink, SupervisionEvent, SupervisionEventSink, noop_sink,
};
pub use supervisor::{
    Backoff, ChildInfo, ChildSpec, ChildStatus, Kind, Restart, Shutdown, StartFn, Strategy,
    Supervisor, SupervisorError, SupervisorMsg, SupervisorSpec,
};
pub use watchdog::{HEARTBEAT_TIMEOUT, Heartbeat};
