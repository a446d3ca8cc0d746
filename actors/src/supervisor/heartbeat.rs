//! Heartbeat checks: the periodic timer, and stopping (then killing) a child gone silent.

use ractor::ActorCell;

use super::{Internal, Shutdown, SupervisorMsg, SupervisorState, Tick};
use crate::events::EventKind;
use crate::watchdog::HEARTBEAT_TIMEOUT;

impl SupervisorState {
    pub(super) fn ensure_heartbeat_timer(&mut self, myself: &ActorCell) {
        if self.heartbeat_timer.is_none() {
            self.heartbeat_timer = Some(ractor::time::send_interval(
                self.heartbeat_check,
                myself.clone(),
                || SupervisorMsg::Internal(Internal(Tick::CheckHeartbeats)),
            ));
        }
    }

    pub(super) fn check_heartbeats(&mut self, myself: &ActorCell) {
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
