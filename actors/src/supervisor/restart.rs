//! OTP restarts: a child's exit, the strategy's sibling group, backoff, intensity and meltdown,
//! and the timer ticks that drive them.

use std::time::Instant;

use ractor::{ActorCell, ActorProcessingErr};

use super::{
    ChildStatus, Internal, Restart, SHUTDOWN_REASON_STR, Strategy, SupervisorError, SupervisorMsg,
    SupervisorState, Tick, is_normal_exit,
};
use crate::events::EventKind;

impl SupervisorState {
    /// A linked child ended.
    pub(super) async fn on_child_exit(
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
    pub(super) async fn restart_after_failure(
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
    pub(super) async fn restart_group(&mut self, myself: &ActorCell, group: Vec<u64>) {
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
    pub(super) async fn meltdown(&mut self, restarts: usize) -> ActorProcessingErr {
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

    pub(super) async fn on_tick(
        &mut self,
        myself: &ActorCell,
        tick: Tick,
    ) -> Result<(), ActorProcessingErr> {
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
}
