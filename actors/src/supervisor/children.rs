//! The child table: starting, stopping and forgetting children, and reporting how they ended.

use std::time::Instant;

use ractor::ActorCell;

use super::shutdown::{Stopped, stop_all_concurrently, stop_child};
use super::{Child, ChildInfo, ChildSpec, ChildStatus, Kind, SupervisorError, SupervisorState};
use crate::events::{EventKind, SupervisionEvent};

impl SupervisorState {
    pub(super) fn emit(&self, kind: EventKind) {
        self.sink
            .emit(SupervisionEvent::new(self.name.clone(), kind, &self.clock));
    }

    pub(super) fn is_dynamic(&self) -> bool {
        matches!(self.kind, Kind::Dynamic { .. })
    }

    pub(super) fn info(child: &Child) -> ChildInfo {
        ChildInfo {
            id: child.spec.id.clone(),
            status: child.status,
            restarts: child.restarts,
            cell: child.cell.clone(),
        }
    }

    /// Starts a new child at the end of the start order.
    pub(super) async fn add_child(
        &mut self,
        myself: &ActorCell,
        spec: ChildSpec,
    ) -> Result<(), SupervisorError> {
        if self.by_id.contains_key(&spec.id) {
            return Err(SupervisorError::AlreadyExists(spec.id));
        }
        if let Kind::Dynamic {
            max_children: Some(max),
        } = self.kind
            && self.children.len() >= max
        {
            return Err(SupervisorError::MaxChildren(max));
        }
        if let Some(hb) = &spec.heartbeat {
            hb.heartbeat.beat();
        }
        let cell = (spec.start)(myself.clone()).await.map_err(|e| {
            let error = e.to_string();
            self.emit(EventKind::ChildStartFailed {
                child: spec.id.clone(),
                error: error.clone(),
            });
            SupervisorError::StartFailed {
                id: spec.id.clone(),
                error,
            }
        })?;
        let seq = self.next_seq;
        self.next_seq += 1;
        let id = spec.id.clone();
        let wants_heartbeat = spec.heartbeat.is_some();
        self.by_actor.insert(cell.get_id(), seq);
        self.by_id.insert(id.clone(), seq);
        self.children.insert(
            seq,
            Child {
                spec,
                cell: Some(cell),
                status: ChildStatus::Running,
                generation: 0,
                restarts: 0,
                streak: 0,
                started_at: Instant::now(),
                last_uptime: None,
                heartbeat_stop_sent: false,
            },
        );
        self.emit(EventKind::ChildStarted { child: id });
        if wants_heartbeat {
            self.ensure_heartbeat_timer(myself);
        }
        Ok(())
    }

    pub(super) fn forget(&mut self, seq: u64) {
        if let Some(child) = self.children.remove(&seq) {
            self.by_id.remove(&child.spec.id);
            if let Some(cell) = child.cell {
                self.by_actor.remove(&cell.get_id());
            }
            if self.is_dynamic() {
                self.emit(EventKind::ChildRemoved {
                    child: child.spec.id,
                });
            }
        }
    }

    /// Stops one running child per its policy, reporting how it ended. Its exit event is
    /// ignored afterwards (it is no longer in `by_actor`).
    pub(super) async fn stop_one(&mut self, seq: u64) {
        let Some(child) = self.children.get_mut(&seq) else {
            return;
        };
        child.generation += 1;
        let Some(cell) = child.cell.take() else {
            return;
        };
        let policy = child.spec.shutdown;
        let id = child.spec.id.clone();
        self.by_actor.remove(&cell.get_id());
        let how = stop_child(&cell, policy).await;
        self.report_stopped(id, how);
    }

    pub(super) fn report_stopped(&self, child: String, how: Stopped) {
        match how {
            Stopped::Gracefully => self.emit(EventKind::ChildShutdown { child }),
            Stopped::Killed { after } => self.emit(EventKind::ChildKilled { child, after }),
        }
    }

    /// Stops every child: reverse start order one by one (static), or all at once (dynamic).
    pub(super) async fn stop_all(&mut self) {
        if self.is_dynamic() {
            let mut batch = Vec::new();
            let mut ids = Vec::new();
            for child in self.children.values_mut() {
                child.generation += 1;
                if let Some(cell) = child.cell.take() {
                    self.by_actor.remove(&cell.get_id());
                    batch.push((cell, child.spec.shutdown));
                    ids.push(child.spec.id.clone());
                }
            }
            let results = stop_all_concurrently(batch).await;
            for (id, how) in ids.into_iter().zip(results) {
                self.report_stopped(id, how);
            }
        } else {
            let seqs: Vec<u64> = self.children.keys().rev().copied().collect();
            for seq in seqs {
                self.stop_one(seq).await;
            }
        }
    }
}
