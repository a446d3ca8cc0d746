//! Supervision events → `system_events` rows, through the telemetry writer (never awaited).

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use tradeplane_actors::{BreakerState, EventKind, SupervisionEvent, SupervisionEventSink};
use uuid::Uuid;

use super::telemetry::TelemetryHandle;
use crate::store::system_events::{NewSystemEvent, Severity};
use crate::trace::TraceId;

/// The scope name of a bot runner (child id and breaker name): `bot:<uuid>`.
pub fn bot_scope(bot_id: Uuid) -> String {
    format!("bot:{bot_id}")
}

/// The bot a scope / child id names, if any.
pub fn bot_of(scope: &str) -> Option<Uuid> {
    scope.strip_prefix("bot:").and_then(|s| s.parse().ok())
}

/// The provider a scope / child id names, if any.
pub fn provider_of(scope: &str) -> Option<&str> {
    scope.strip_prefix("provider:")
}

/// The child id of the breaker actor of `scope` (`breaker:bot:<uuid>`, `breaker:provider:<id>`).
/// It names no bot or provider on purpose: its supervision events are not its runner's or its
/// provider actor's (the breaker's own transitions name them through their source).
pub fn breaker_child(scope: &str) -> String {
    format!("breaker:{scope}")
}

fn ms(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// A breaker message carries its sender's trace id, so the transition it causes is written
/// under the trace of the call (or request) that caused it.
pub fn trace_capture() -> tradeplane_actors::Capture {
    Box::new(|| {
        TraceId::try_current().map(|trace| -> tradeplane_actors::Within {
            Box::new(move |apply: &mut dyn FnMut()| trace.sync_scope(apply))
        })
    })
}

/// Severity, code, message and metadata of one supervision event.
pub fn describe(ev: &SupervisionEvent) -> (Severity, &'static str, String, Value) {
    let src = &ev.source;
    match &ev.kind {
        EventKind::ChildStarted { child } => (
            Severity::Info,
            "SUPERVISION_CHILD_STARTED",
            format!("{child} started under {src}"),
            json!({}),
        ),
        EventKind::ChildFailed { child, reason } => (
            Severity::Sev3,
            "SUPERVISION_CHILD_FAILED",
            format!("{child} failed: {reason}"),
            json!({ "reason": reason }),
        ),
        EventKind::ChildExited { child, reason } => (
            Severity::Info,
            "SUPERVISION_CHILD_EXITED",
            format!("{child} exited normally"),
            json!({ "reason": reason }),
        ),
        EventKind::ChildStartFailed { child, error } => (
            Severity::Sev3,
            "SUPERVISION_START_FAILED",
            format!("{child} failed to start: {error}"),
            json!({ "error": error }),
        ),
        EventKind::RestartScheduled {
            child,
            attempt,
            delay,
        } => (
            Severity::Info,
            "SUPERVISION_RESTART_SCHEDULED",
            format!("{child} restarts in {} ms (attempt {attempt})", ms(*delay)),
            json!({ "attempt": attempt, "backoff_ms": ms(*delay) }),
        ),
        EventKind::ChildRestarted { child, restarts } => (
            Severity::Info,
            "SUPERVISION_CHILD_RESTARTED",
            format!("{child} restarted ({restarts} restarts so far)"),
            json!({ "restarts": restarts }),
        ),
        EventKind::Meltdown {
            restarts,
            intensity,
            period,
        } => (
            Severity::Sev1,
            "SUPERVISION_MELTDOWN",
            format!(
                "{src}: {restarts} restarts within {} ms exceed its intensity {intensity}; children stopped, escalating",
                ms(*period)
            ),
            json!({ "restarts": restarts, "intensity": intensity, "period_ms": ms(*period) }),
        ),
        EventKind::ChildShutdown { child } => (
            Severity::Info,
            "SUPERVISION_CHILD_SHUTDOWN",
            format!("{child} shut down"),
            json!({}),
        ),
        EventKind::ChildKilled { child, after } => (
            Severity::Sev2,
            "SUPERVISION_CHILD_KILLED",
            format!(
                "{child} did not stop within {} ms and was killed",
                ms(*after)
            ),
            json!({ "after_ms": ms(*after) }),
        ),
        EventKind::ChildRemoved { child } => (
            Severity::Info,
            "SUPERVISION_CHILD_REMOVED",
            format!("{child} removed from {src}"),
            json!({}),
        ),
        EventKind::SupervisorShutdown => (
            Severity::Info,
            "SUPERVISION_SHUTDOWN",
            format!("{src} shut down"),
            json!({}),
        ),
        EventKind::BreakerTransition { from, to, reason } => {
            let (severity, code) = match to {
                BreakerState::Open => (Severity::Sev2, "CIRCUIT_BREAKER_OPENED"),
                BreakerState::HalfOpen => (Severity::Sev3, "CIRCUIT_BREAKER_HALF_OPEN"),
                BreakerState::Closed => (Severity::Info, "CIRCUIT_BREAKER_CLOSED"),
            };
            (
                severity,
                code,
                format!(
                    "circuit breaker {src}: {} → {} ({reason})",
                    from.as_str(),
                    to.as_str()
                ),
                json!({ "from": from.as_str(), "to": to.as_str(), "reason": reason }),
            )
        }
        EventKind::HeartbeatTimeout { child, silent_for } => (
            Severity::Sev2,
            "HEARTBEAT_TIMEOUT",
            format!(
                "{child} silent for {} ms: treated as failed",
                ms(*silent_for)
            ),
            json!({ "silent_for_ms": ms(*silent_for) }),
        ),
        EventKind::KillTrigger { child, after } => (
            Severity::Sev1,
            "SUPERVISION_KILL_TRIGGER",
            format!(
                "{child} stayed stuck and ignored its stop for {} ms: killed",
                ms(*after)
            ),
            json!({ "after_ms": ms(*after) }),
        ),
    }
}

/// Builds the `system_events` row for a supervision event.
pub fn to_system_event(ev: &SupervisionEvent) -> NewSystemEvent {
    let (severity, code, message, mut metadata) = describe(ev);
    if let Value::Object(map) = &mut metadata {
        map.insert("source".into(), Value::String(ev.source.clone()));
        if let Some(child) = ev.child() {
            map.insert("child".into(), Value::String(child.to_owned()));
        }
        if let Ok(kind) = serde_json::to_value(&ev.kind)
            && let Some(t) = kind.get("type")
        {
            map.insert("event".into(), t.clone());
        }
    }
    let mut event = NewSystemEvent::new(severity, code, message).metadata(metadata);
    event.trace_id = TraceId::current();
    let scope = ev.child().unwrap_or(&ev.source);
    if let Some(bot) = bot_of(scope) {
        event = event.bot(bot);
    } else if let Some(provider) = provider_of(scope) {
        event = event.provider(provider);
    }
    event
}

/// Writes every supervision event as a system event (stamped with the event's own time).
#[derive(Clone, Debug)]
pub struct TelemetrySink {
    telemetry: TelemetryHandle,
}

impl TelemetrySink {
    pub fn new(telemetry: TelemetryHandle) -> Self {
        Self { telemetry }
    }
}

impl SupervisionEventSink for TelemetrySink {
    fn emit(&self, ev: SupervisionEvent) {
        let at = DateTime::<Utc>::from(ev.at);
        // Bot runner and provider breakers all report through this sink.
        if let EventKind::BreakerTransition { from, to, reason } = &ev.kind {
            self.telemetry.bus().publish_breaker(
                &ev.source,
                (*from).into(),
                (*to).into(),
                reason,
                at,
            );
        }
        self.telemetry
            .stamped_system_event(to_system_event(&ev).stamp(at));
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::clock::Clock;

    #[test]
    fn events_name_their_bot_and_get_sensible_severities() {
        let bot = Uuid::now_v7();
        let child = bot_scope(bot);
        let cases = [
            (
                EventKind::Meltdown {
                    restarts: 4,
                    intensity: 3,
                    period: Duration::from_secs(5),
                },
                Severity::Sev1,
                "SUPERVISION_MELTDOWN",
            ),
            (
                EventKind::KillTrigger {
                    child: child.clone(),
                    after: Duration::from_secs(1),
                },
                Severity::Sev1,
                "SUPERVISION_KILL_TRIGGER",
            ),
            (
                EventKind::BreakerTransition {
                    from: BreakerState::Closed,
                    to: BreakerState::Open,
                    reason: "3 failures".into(),
                },
                Severity::Sev2,
                "CIRCUIT_BREAKER_OPENED",
            ),
            (
                EventKind::ChildFailed {
                    child: child.clone(),
                    reason: "boom".into(),
                },
                Severity::Sev3,
                "SUPERVISION_CHILD_FAILED",
            ),
            (
                EventKind::RestartScheduled {
                    child: child.clone(),
                    attempt: 2,
                    delay: Duration::from_millis(200),
                },
                Severity::Info,
                "SUPERVISION_RESTART_SCHEDULED",
            ),
        ];
        for (kind, severity, code) in cases {
            // Breaker events name the bot through their source.
            let ev = SupervisionEvent::new(child.clone(), kind, &Clock::system());
            let row = to_system_event(&ev);
            assert_eq!((row.severity, row.code.as_str()), (severity, code));
            assert_eq!(row.trace_id.as_str().len(), 32);
            assert_eq!(row.metadata["source"], child.as_str());
            if code != "SUPERVISION_MELTDOWN" {
                assert_eq!(row.bot_id, Some(bot), "{code}");
            }
        }
        let provider = to_system_event(&SupervisionEvent::new(
            "provider:databento",
            EventKind::BreakerTransition {
                from: BreakerState::Open,
                to: BreakerState::HalfOpen,
                reason: "cool-down elapsed".into(),
            },
            &Clock::system(),
        ));
        assert_eq!(provider.provider_id.as_deref(), Some("databento"));
        assert_eq!(provider.bot_id, None);
    }

    #[test]
    fn a_breaker_actors_child_events_are_not_its_runners() {
        let bot = Uuid::now_v7();
        let child = breaker_child(&bot_scope(bot));
        assert_eq!(child, format!("breaker:bot:{bot}"));
        assert_eq!(bot_of(&child), None, "the Bots sink leaves it alone");
        let row = to_system_event(&SupervisionEvent::new(
            "tradeplane.bots",
            EventKind::ChildRestarted {
                child: child.clone(),
                restarts: 1,
            },
            &Clock::system(),
        ));
        assert_eq!((row.bot_id, row.provider_id), (None, None));
        assert_eq!(row.metadata["child"], child.as_str());
    }
}
