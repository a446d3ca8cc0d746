//! A circuit breaker as a supervised actor.
//!
//! [`BreakerActor`] owns the [`CircuitBreaker`]. After every message it publishes the breaker's
//! [`BreakerReading`] on a watch channel held by the [`SharedBreaker`] its callers share:
//! - reads need no round trip ([`SharedBreaker::state`], [`SharedBreaker::reading`]);
//! - [`SharedBreaker::admit`] decides from the reading where the reading can (CLOSED passes,
//!   OPEN inside its cool-down refuses) and otherwise asks the actor, so HALF_OPEN admits exactly
//!   its probes; [`SharedBreaker::admit_in_order`] always asks, after every report sent before;
//! - outcomes are cast ([`SharedBreaker::report`]); an effect that must follow the report (a
//!   reply to the caller, a policy that depends on the new state) rides along as a `Then`.
//!
//! Each message carries its sender's context ([`Capture`], e.g. a trace scope) and is applied
//! within it, so what the breaker emits (its transitions) is attributed to the call that caused
//! it, wherever it runs.
//!
//! A (re)started instance resumes from the last published reading: at least as fresh as any
//! persisted copy (persistence writes what was published), and it needs no IO to start. While no
//! instance runs (none started yet, or between a crash and the restart), messages run on the
//! reading in the sender, under the owner lock: one owner at a time, and nothing sent after a
//! crash is lost. Reports already queued in a crashed instance are lost (their `Then`s still
//! run, with the last reading); calls it left unanswered are sent again, to its successor or
//! run here.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use ractor::rpc::CallResult;
use ractor::{Actor, ActorCell, ActorProcessingErr, ActorRef, MessagingErr, RpcReplyPort};
use tokio::sync::watch;

use super::{BreakerConfig, BreakerOpen, BreakerReading, BreakerState, CircuitBreaker, Permit};
use crate::clock::Clock;
use crate::events::SharedSink;
use crate::supervisor::{ChildSpec, Restart};

/// Told every new reading (e.g. to queue it for persistence). Runs in the actor, or in the
/// sender while no instance runs; must not block.
pub type OnChange = Box<dyn Fn(&BreakerReading) + Send + Sync>;

/// Runs a message's effect inside the context its sender was in.
pub type Within = Box<dyn FnOnce(&mut dyn FnMut()) + Send>;

/// Takes the sender's context when a message is sent (`None`: nothing to carry).
pub type Capture = Box<dyn Fn() -> Option<Within> + Send + Sync>;

/// The outcome of a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Report {
    Success(Permit),
    Failure(Permit),
    /// A failure with no permit to hand back: admitted and failed at once (counts while
    /// CLOSED, fails a free probe while HALF_OPEN, ignored while OPEN).
    FailureWithoutPermit,
}

type Effect = Box<dyn FnOnce(&BreakerReading) + Send>;

/// An effect that runs once the message it rides with is applied and published, with the new
/// reading. If the message is lost (its instance died with it queued), it runs when dropped,
/// with the last published reading: a reply always gets sent.
struct Then {
    run: Option<Effect>,
    last: watch::Receiver<BreakerReading>,
}

impl Then {
    fn run(mut self, reading: &BreakerReading) {
        if let Some(f) = self.run.take() {
            f(reading);
        }
    }
}

impl Drop for Then {
    fn drop(&mut self) {
        if let Some(f) = self.run.take() {
            let last = self.last.borrow().clone();
            f(&last);
        }
    }
}

/// What the actor receives: a message and its sender's context (opaque).
pub struct Sent(BreakerMsg, Option<Within>);

impl Sent {
    fn apply(self, breaker: &mut CircuitBreaker) -> Followup {
        let Sent(msg, within) = self;
        let Some(within) = within else {
            return msg.apply(breaker);
        };
        let mut msg = Some(msg);
        let mut followup = Followup::Nothing;
        within(&mut || {
            if let Some(msg) = msg.take() {
                followup = msg.apply(breaker);
            }
        });
        followup
    }
}

enum BreakerMsg {
    /// A permit from the state machine itself (the only way to a HALF_OPEN probe).
    Acquire(RpcReplyPort<Result<Permit, BreakerOpen>>),
    Report(Report, Option<Then>),
    /// Runs the effect after every message sent before it.
    After(Then),
    /// Forces CLOSED (clears the failure window).
    Reset(RpcReplyPort<ResetOutcome>),
}

/// What a reset answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResetOutcome {
    /// The state it was reset from.
    pub from: BreakerState,
    pub reading: BreakerReading,
}

/// The breaker's owner did not answer in time (or two instances in a row died with the request).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("circuit breaker {0} did not answer")]
pub struct BreakerUnavailable(pub String);

/// What is left to do once a message's effect is published.
enum Followup {
    Nothing,
    Then(Then),
    Admitted(
        RpcReplyPort<Result<Permit, BreakerOpen>>,
        Result<Permit, BreakerOpen>,
    ),
    Reset(RpcReplyPort<ResetOutcome>, BreakerState),
}

impl BreakerMsg {
    fn apply(self, breaker: &mut CircuitBreaker) -> Followup {
        match self {
            BreakerMsg::Acquire(reply) => Followup::Admitted(reply, breaker.try_acquire()),
            BreakerMsg::Report(report, then) => {
                match report {
                    Report::Success(p) => breaker.record_success(p),
                    Report::Failure(p) => breaker.record_failure(p),
                    Report::FailureWithoutPermit => {
                        if let Ok(p) = breaker.try_acquire() {
                            breaker.record_failure(p);
                        }
                    }
                }
                then.map_or(Followup::Nothing, Followup::Then)
            }
            BreakerMsg::After(then) => Followup::Then(then),
            BreakerMsg::Reset(reply) => {
                let from = breaker.state();
                breaker.reset();
                Followup::Reset(reply, from)
            }
        }
    }
}

impl Followup {
    fn run(self, reading: &BreakerReading) {
        match self {
            Followup::Nothing => {}
            Followup::Then(then) => then.run(reading),
            Followup::Admitted(reply, admitted) => {
                let _ = reply.send(admitted);
            }
            Followup::Reset(reply, from) => {
                let _ = reply.send(ResetOutcome {
                    from,
                    reading: reading.clone(),
                });
            }
        }
    }
}

type Owner = Option<ActorRef<Sent>>;

/// The callers' side of one breaker: its last published reading and its running instance.
pub struct SharedBreaker {
    name: String,
    config: BreakerConfig,
    clock: Clock,
    sink: SharedSink,
    published: watch::Sender<BreakerReading>,
    owner: Mutex<Owner>,
    on_change: OnChange,
    capture: Option<Capture>,
}

impl std::fmt::Debug for SharedBreaker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedBreaker")
            .field("name", &self.name)
            .field("state", &self.state())
            .finish()
    }
}

impl SharedBreaker {
    /// Publishes `breaker` (new, restored or tripped); an actor started with
    /// [`BreakerActor::child_spec`] takes it over from there.
    pub fn new(
        breaker: CircuitBreaker,
        on_change: OnChange,
        capture: Option<Capture>,
    ) -> Arc<Self> {
        let reading = breaker.reading();
        Arc::new(Self {
            name: breaker.name,
            config: breaker.config,
            clock: breaker.clock,
            sink: breaker.sink,
            published: watch::Sender::new(reading),
            owner: Mutex::new(None),
            on_change,
            capture,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn config(&self) -> &BreakerConfig {
        &self.config
    }

    /// The last published reading.
    pub fn reading(&self) -> BreakerReading {
        self.published.borrow().clone()
    }

    pub fn state(&self) -> BreakerState {
        self.published.borrow().state()
    }

    pub fn failures_in_window(&self) -> usize {
        self.published.borrow().failures_in_window()
    }

    /// Every new reading from now on.
    pub fn subscribe(&self) -> watch::Receiver<BreakerReading> {
        self.published.subscribe()
    }

    /// A permit for one call: from the reading when it decides (no round trip), else from the
    /// state machine (a call of at most `timeout`; no answer refuses: no permit without its word).
    pub async fn admit(&self, timeout: Duration) -> Result<Permit, BreakerOpen> {
        let fast = self
            .published
            .borrow()
            .fast_admission(&self.config, self.clock.now().into());
        match fast {
            Some(decided) => decided,
            None => self.admit_in_order(timeout).await,
        }
    }

    /// A permit from the state machine, after every report sent before this call (a call of at
    /// most `timeout`; no answer refuses).
    pub async fn admit_in_order(&self, timeout: Duration) -> Result<Permit, BreakerOpen> {
        match self.call(BreakerMsg::Acquire, timeout).await {
            Ok(admitted) => admitted,
            Err(BreakerUnavailable(_)) => Err(BreakerOpen {
                retry_after: timeout,
                state: self.state(),
            }),
        }
    }

    /// Reports an outcome without waiting.
    pub fn report(&self, report: Report) {
        self.send(BreakerMsg::Report(report, None));
    }

    /// Reports an outcome without waiting; `then` runs once it is recorded, with the new reading.
    pub fn report_then(&self, report: Report, then: impl FnOnce(&BreakerReading) + Send + 'static) {
        self.send(BreakerMsg::Report(report, Some(self.then(then))));
    }

    /// Runs `then` after every message sent before it, without waiting.
    pub fn after(&self, then: impl FnOnce(&BreakerReading) + Send + 'static) {
        self.send(BreakerMsg::After(self.then(then)));
    }

    /// Forces CLOSED and answers the state it left and the new reading.
    pub async fn reset(&self, timeout: Duration) -> Result<ResetOutcome, BreakerUnavailable> {
        self.call(BreakerMsg::Reset, timeout).await
    }

    /// The running instance, if any (fault injection, tests).
    pub fn actor(&self) -> Option<ActorRef<Sent>> {
        self.owner().clone()
    }

    fn then(&self, run: impl FnOnce(&BreakerReading) + Send + 'static) -> Then {
        Then {
            run: Some(Box::new(run)),
            last: self.published.subscribe(),
        }
    }

    fn owner(&self) -> MutexGuard<'_, Owner> {
        // A panic while holding the lock leaves a plain reference behind; keep serving it.
        self.owner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn unavailable(&self) -> BreakerUnavailable {
        BreakerUnavailable(self.name.clone())
    }

    fn resume(&self) -> CircuitBreaker {
        CircuitBreaker::resume(
            self.name.clone(),
            self.config,
            self.clock.clone(),
            self.sink.clone(),
            &self.published.borrow(),
        )
    }

    fn sent(&self, msg: BreakerMsg) -> Sent {
        Sent(msg, self.capture.as_ref().and_then(|capture| capture()))
    }

    fn send(&self, msg: BreakerMsg) {
        let msg = self.sent(msg);
        let mut owner = self.owner();
        let msg = match owner.as_ref() {
            None => msg,
            Some(actor) => match actor.cast(msg) {
                Ok(()) => return,
                // The instance is gone: the message runs here until the next one starts.
                Err(MessagingErr::SendErr(msg)) => {
                    *owner = None;
                    msg
                }
                // Not deliverable at all: dropped, its `Then` has run.
                Err(MessagingErr::ChannelClosed | MessagingErr::InvalidActorType) => return,
            },
        };
        self.run_here(owner, msg);
    }

    async fn call<T: Send + 'static>(
        &self,
        msg: fn(RpcReplyPort<T>) -> BreakerMsg,
        timeout: Duration,
    ) -> Result<T, BreakerUnavailable> {
        // At most twice: an instance that died (before or with the request; an unanswered
        // request was not applied) is let go of, then the request runs here or on the instance
        // started meanwhile.
        for _ in 0..2 {
            let here = {
                let owner = self.owner();
                match owner.clone() {
                    Some(actor) => Err(actor),
                    None => {
                        let (tx, rx) = ractor::concurrency::oneshot();
                        self.run_here(owner, self.sent(msg(tx.into())));
                        Ok(rx)
                    }
                }
            };
            let actor = match here {
                Ok(rx) => return rx.await.map_err(|_| self.unavailable()),
                Err(actor) => actor,
            };
            match actor.call(|tx| self.sent(msg(tx)), Some(timeout)).await {
                Ok(CallResult::Success(v)) => return Ok(v),
                Ok(CallResult::SenderError) | Err(MessagingErr::SendErr(_)) => {
                    self.let_go(&actor);
                }
                Ok(CallResult::Timeout) | Err(_) => return Err(self.unavailable()),
            }
        }
        Err(self.unavailable())
    }

    /// Forgets `actor` as the owner (it stopped or died), unless another instance took over.
    fn let_go(&self, actor: &ActorRef<Sent>) {
        let mut owner = self.owner();
        if owner.as_ref().is_some_and(|a| a.get_id() == actor.get_id()) {
            *owner = None;
        }
    }

    /// Runs `msg` on the published reading while no instance runs (the owner lock is held, so
    /// none can start meanwhile); what follows the publication runs after the lock is released.
    fn run_here(&self, owner: MutexGuard<'_, Owner>, msg: Sent) {
        let mut breaker = self.resume();
        let followup = msg.apply(&mut breaker);
        let (changed, reading) = self.publish(&breaker);
        drop(owner);
        self.after_publish(changed, &reading, followup);
    }

    fn publish(&self, breaker: &CircuitBreaker) -> (bool, BreakerReading) {
        let reading = breaker.reading();
        let changed = self.published.send_if_modified(|current| {
            let changed = *current != reading;
            if changed {
                current.clone_from(&reading);
            }
            changed
        });
        (changed, reading)
    }

    fn after_publish(&self, changed: bool, reading: &BreakerReading, followup: Followup) {
        if changed {
            (self.on_change)(reading);
        }
        followup.run(reading);
    }
}

/// The actor owning a [`SharedBreaker`]'s state machine while it runs.
#[derive(Debug, Default, Clone, Copy)]
pub struct BreakerActor;

pub struct Owned {
    shared: Arc<SharedBreaker>,
    breaker: CircuitBreaker,
}

impl BreakerActor {
    /// A permanent child running `shared`'s actor. No backoff: a restart resumes from the last
    /// reading and has no outside cause to wait out.
    pub fn child_spec(id: impl Into<String>, shared: Arc<SharedBreaker>) -> ChildSpec {
        ChildSpec::new(id, move |sup: ActorCell| {
            let shared = shared.clone();
            async move {
                Actor::spawn_linked(None, BreakerActor, shared, sup)
                    .await
                    .map(|(r, _)| r.get_cell())
            }
        })
        .restart(Restart::Permanent)
    }
}

impl Actor for BreakerActor {
    type Msg = Sent;
    type State = Owned;
    type Arguments = Arc<SharedBreaker>;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        shared: Arc<SharedBreaker>,
    ) -> Result<Self::State, ActorProcessingErr> {
        // Under the owner lock: nothing runs in a sender between the reading and the takeover.
        let breaker = {
            let mut owner = shared.owner();
            *owner = Some(myself);
            shared.resume()
        };
        Ok(Owned { shared, breaker })
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let followup = msg.apply(&mut state.breaker);
        let (changed, reading) = state.shared.publish(&state.breaker);
        state.shared.after_publish(changed, &reading, followup);
        Ok(())
    }

    async fn post_stop(
        &self,
        myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        state.shared.let_go(&myself);
        Ok(())
    }
}
