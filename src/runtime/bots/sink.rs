//! The Bots supervisor's events turned into runner state and the breaker's runner policy.

use std::sync::Arc;

use serde_json::json;
use tradeplane_actors::{
    BreakerReading, BreakerState, EventKind, Report, SupervisionEvent, SupervisionEventSink,
};
use uuid::Uuid;

use super::terminate_runner;
use crate::domain::bot::BotStatus;
use crate::runtime::events::{TelemetrySink, bot_of};
use crate::runtime::registry::Registry;
use crate::store::system_events::{NewSystemEvent, Severity};

/// The runner policy once a failure is recorded on the bot's breaker (runs in the breaker
/// actor, with its new reading): still CLOSED, the supervisor's restart goes ahead; OPEN, the
/// runner is removed and the bot left ERROR (restart refused), or KILLED when LIVE.
fn after_failure(
    registry: &Registry,
    bots_name: &str,
    bot: Uuid,
    reason: &str,
    reading: &BreakerReading,
) {
    let mut terminate = false;
    let mut refused = false;
    registry.with_slot(bot, |slot| {
        if slot.held() {
            return;
        }
        slot.last_error = Some(reason.to_owned());
        if reading.state() == BreakerState::Closed {
            slot.status = BotStatus::Restarting;
            return;
        }
        terminate = true;
        if slot.options.is_some_and(|o| o.live) {
            registry.latch_kill(
                slot,
                &format!("circuit breaker opened on a LIVE bot after: {reason}"),
            );
        } else {
            slot.refused = true;
            slot.status = BotStatus::Error;
            slot.last_error = Some(format!(
                "restart refused: circuit breaker open after {} failures (last: {reason})",
                reading.failures_in_window()
            ));
            refused = true;
        }
    });
    if refused {
        registry.event(
            NewSystemEvent::new(
                Severity::Sev2,
                "BOT_RESTART_REFUSED",
                format!("bot {bot}: restart refused, circuit breaker open"),
            )
            .bot(bot)
            .metadata(json!({ "last_failure": reason })),
        );
    }
    if terminate {
        terminate_runner(bots_name, bot);
    }
    registry.mark_bot(bot);
}

/// The Bots supervisor's sink: writes every event (through [`TelemetrySink`]) and applies the
/// runner policy. Never blocks: in-memory state only; DB writes are the registry writer's.
pub struct BotsSink {
    pub telemetry: TelemetrySink,
    pub registry: Arc<Registry>,
    pub bots_name: String,
    pub stuck_kill_after: u32,
}

impl SupervisionEventSink for BotsSink {
    fn emit(&self, ev: SupervisionEvent) {
        self.telemetry.emit(ev.clone());
        if let EventKind::Meltdown { .. } = ev.kind {
            self.on_meltdown();
            return;
        }
        let Some(bot) = ev.child().and_then(bot_of) else {
            return;
        };
        self.on_runner_event(bot, &ev.kind);
    }
}

impl BotsSink {
    fn on_meltdown(&self) {
        let touched: Vec<Uuid> = self.registry.with_slots(|slots| {
            slots
                .values_mut()
                .filter(|s| s.status.is_live())
                .map(|s| {
                    s.status = BotStatus::Error;
                    s.permit = None;
                    s.last_error = Some("bots supervisor meltdown: runner stopped".into());
                    s.bot_id
                })
                .collect()
        });
        for bot in touched {
            self.registry.mark_bot(bot);
        }
    }

    fn on_runner_event(&self, bot: Uuid, kind: &EventKind) {
        let registry = &self.registry;
        let mut terminate = false;
        // Applied after the bot's breaker has handled what was reported before.
        let mut failed = None;
        let mut restart_scheduled = None;
        let now = registry.clock().now();
        registry.with_slot(bot, |slot| match kind {
            EventKind::ChildStarted { .. } => {
                if !slot.held() {
                    slot.status = BotStatus::Running;
                    slot.started_at = Some(now);
                }
            }
            EventKind::ChildRestarted { .. } => {
                // A held bot's "restart" is the refusal stand-in, not a runner.
                if !slot.held() {
                    slot.restart_count = slot.restart_count.saturating_add(1);
                    slot.status = BotStatus::Running;
                    slot.started_at = Some(now);
                }
            }
            EventKind::RestartScheduled { .. } => {
                restart_scheduled = Some(slot.breaker.clone());
            }
            EventKind::ChildFailed { reason, .. } => {
                failed = Some((slot.breaker.clone(), slot.permit.take(), reason.clone()));
            }
            EventKind::HeartbeatTimeout { .. } => {
                let strikes = slot.shared.stuck_strikes_add();
                if strikes >= self.stuck_kill_after && !slot.held() {
                    terminate = true;
                    registry.latch_kill(
                        slot,
                        &format!("stuck: missed its heartbeat {strikes} times in a row"),
                    );
                }
            }
            EventKind::KillTrigger { .. } => {
                if !slot.held() {
                    terminate = true;
                    registry.latch_kill(slot, "stuck: ignored its stop request and was killed");
                }
            }
            EventKind::ChildStartFailed { error, .. } => {
                slot.last_error = Some(error.clone());
                // A restart that cannot start is a failure like any other: the breaker counts
                // it, so a runner that keeps failing to start stops within its limit. (A down
                // database is not one: runners start without it and wait.)
                if slot.status == BotStatus::Restarting {
                    failed = Some((slot.breaker.clone(), slot.permit.take(), error.clone()));
                }
            }
            EventKind::ChildExited { .. }
            | EventKind::ChildRemoved { .. }
            | EventKind::ChildShutdown { .. }
            | EventKind::ChildKilled { .. } => {
                slot.permit = None;
                if !slot.held() {
                    slot.status = BotStatus::Stopped;
                }
            }
            EventKind::Meltdown { .. }
            | EventKind::SupervisorShutdown
            | EventKind::BreakerTransition { .. } => {}
        });
        if terminate {
            terminate_runner(&self.bots_name, bot);
        }
        registry.mark_bot(bot);
        if let Some((breaker, permit, reason)) = failed {
            let (registry, bots_name) = (self.registry.clone(), self.bots_name.clone());
            let report = permit.map_or(Report::FailureWithoutPermit, Report::Failure);
            breaker.report_then(report, move |reading| {
                after_failure(&registry, &bots_name, bot, &reason, reading);
            });
        }
        if let Some(breaker) = restart_scheduled {
            // After the failure's outcome: a refused restart is not RESTARTING.
            let registry = self.registry.clone();
            breaker.after(move |_| {
                registry.with_slot(bot, |slot| {
                    if !slot.held() {
                        slot.status = BotStatus::Restarting;
                    }
                });
                registry.mark_bot(bot);
            });
        }
    }
}
