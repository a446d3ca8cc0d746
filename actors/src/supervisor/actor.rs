//! The ractor `Actor` impl: start-up, request handling, child exit events, and shutdown.

use std::collections::{BTreeMap, HashMap};

use ractor::{Actor, ActorProcessingErr, ActorRef, SupervisionEvent as RactorEvent};

use super::intensity::Intensity;
use super::{
    Internal, Kind, SHUTDOWN_REASON_STR, Strategy, Supervisor, SupervisorArgs, SupervisorError,
    SupervisorMsg, SupervisorState,
};
use crate::events::EventKind;

impl Actor for Supervisor {
    type Msg = SupervisorMsg;
    type State = SupervisorState;
    type Arguments = SupervisorArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: SupervisorArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        let SupervisorArgs { spec, sink } = args;
        let name = myself
            .get_name()
            .unwrap_or_else(|| format!("supervisor-{}", myself.get_id()));
        let mut state = SupervisorState {
            name,
            strategy: match spec.kind {
                // Dynamic children have no order to restart by.
                Kind::Dynamic { .. } => Strategy::OneForOne,
                Kind::Static => spec.strategy,
            },
            kind: spec.kind,
            heartbeat_check: spec.heartbeat_check,
            intensity_limit: spec.intensity,
            period: spec.period,
            intensity: Intensity::new(spec.intensity, spec.period),
            children: BTreeMap::new(),
            by_id: HashMap::new(),
            by_actor: HashMap::new(),
            next_seq: 0,
            sink,
            clock: spec.clock,
            heartbeat_timer: None,
        };
        let cell = myself.get_cell();
        for child in spec.children {
            if let Err(e) = state.add_child(&cell, child).await {
                state.stop_all().await;
                if let Some(t) = state.heartbeat_timer.take() {
                    t.abort();
                }
                return Err(Box::new(e));
            }
        }
        Ok(state)
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let cell = myself.get_cell();
        match msg {
            SupervisorMsg::StartChild(spec, reply) => {
                let r = state.add_child(&cell, spec).await;
                let _ = reply.send(r);
            }
            SupervisorMsg::TerminateChild(id, reply) => {
                let r = match state.by_id.get(&id).copied() {
                    Some(seq) => {
                        state.stop_one(seq).await;
                        if let Some(child) = state.children.remove(&seq) {
                            state.by_id.remove(&child.spec.id);
                            state.emit(EventKind::ChildRemoved {
                                child: child.spec.id,
                            });
                        }
                        Ok(())
                    }
                    None => Err(SupervisorError::NotFound(id)),
                };
                let _ = reply.send(r);
            }
            SupervisorMsg::WhichChildren(reply) => {
                let _ = reply.send(state.children.values().map(SupervisorState::info).collect());
            }
            SupervisorMsg::Child(id, reply) => {
                let info = state
                    .by_id
                    .get(&id)
                    .and_then(|seq| state.children.get(seq))
                    .map(SupervisorState::info);
                let _ = reply.send(info);
            }
            SupervisorMsg::Shutdown => myself.stop(Some(SHUTDOWN_REASON_STR.to_string())),
            SupervisorMsg::Internal(Internal(tick)) => state.on_tick(&cell, tick).await?,
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<Self::Msg>,
        evt: RactorEvent,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let cell = myself.get_cell();
        match evt {
            RactorEvent::ActorTerminated(child, _, reason) => {
                state.on_child_exit(&cell, &child, None, reason).await
            }
            RactorEvent::ActorFailed(child, err) => {
                state
                    .on_child_exit(&cell, &child, Some(err.to_string()), None)
                    .await
            }
            _ => Ok(()),
        }
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        if let Some(t) = state.heartbeat_timer.take() {
            t.abort();
        }
        state.stop_all().await;
        state.emit(EventKind::SupervisorShutdown);
        Ok(())
    }
}
