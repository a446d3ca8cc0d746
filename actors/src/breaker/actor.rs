//! A ractor actor owning one [`CircuitBreaker`], for callers that share a breaker across
//! tasks. Callers that own their breaker should use the struct inline instead.

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};

use super::{BreakerOpen, BreakerSnapshot, BreakerState, CircuitBreaker, Permit};

pub enum BreakerMsg {
    Acquire(RpcReplyPort<Result<Permit, BreakerOpen>>),
    Success(Permit),
    Failure(Permit),
    Reset,
    Trip(String),
    State(RpcReplyPort<BreakerState>),
    Snapshot(RpcReplyPort<BreakerSnapshot>),
}

/// The actor; its start argument is the breaker it owns.
#[derive(Debug, Default, Clone, Copy)]
pub struct BreakerActor;

impl Actor for BreakerActor {
    type Msg = BreakerMsg;
    type State = CircuitBreaker;
    type Arguments = CircuitBreaker;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        breaker: CircuitBreaker,
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(breaker)
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        breaker: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            BreakerMsg::Acquire(reply) => {
                let _ = reply.send(breaker.try_acquire());
            }
            BreakerMsg::Success(p) => breaker.record_success(p),
            BreakerMsg::Failure(p) => breaker.record_failure(p),
            BreakerMsg::Reset => breaker.reset(),
            BreakerMsg::Trip(reason) => breaker.trip(&reason),
            BreakerMsg::State(reply) => {
                let _ = reply.send(breaker.state());
            }
            BreakerMsg::Snapshot(reply) => {
                let _ = reply.send(breaker.snapshot());
            }
        }
        Ok(())
    }
}
