//! Test worker actors and helpers shared by the supervisor tests.
#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use ractor::{Actor, ActorCell, ActorId, ActorProcessingErr, ActorRef};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use tradeplane_actors::{ChildSpec, EventKind, Heartbeat, SupervisionEvent};

/// What a worker reports about itself.
#[derive(Debug, Clone)]
pub enum Life {
    Started {
        tag: String,
        id: ActorId,
        at: Instant,
    },
    Stopped {
        tag: String,
        id: ActorId,
    },
    /// About to fail in post_start (for restart-loop timing).
    FailingAt {
        tag: String,
        at: Instant,
    },
}

pub enum WorkerMsg {
    /// Return an error from the handler.
    Fail,
    Panic,
    /// Stop with this reason (None = plain stop).
    Stop(Option<String>),
    /// Block the handler forever (ignores stop; only kill ends it).
    Hang,
    Beat,
}

#[derive(Clone)]
pub struct WorkerArgs {
    pub tag: String,
    pub life: UnboundedSender<Life>,
    /// Fail in post_start this many more times (shared across restarts).
    pub fail_starts: Arc<AtomicU32>,
    pub heartbeat: Option<Heartbeat>,
}

pub struct Worker;

impl Actor for Worker {
    type Msg = WorkerMsg;
    type State = WorkerArgs;
    type Arguments = WorkerArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        args: WorkerArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(args)
    }

    async fn post_start(
        &self,
        myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let left = state.fail_starts.load(Ordering::SeqCst);
        if left > 0 {
            state.fail_starts.store(left - 1, Ordering::SeqCst);
            let _ = state.life.send(Life::FailingAt {
                tag: state.tag.clone(),
                at: Instant::now(),
            });
            return Err("failing in post_start".into());
        }
        let _ = state.life.send(Life::Started {
            tag: state.tag.clone(),
            id: myself.get_id(),
            at: Instant::now(),
        });
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            WorkerMsg::Fail => return Err("asked to fail".into()),
            WorkerMsg::Panic => panic!("asked to panic"),
            WorkerMsg::Stop(reason) => myself.stop(reason),
            WorkerMsg::Hang => std::future::pending::<()>().await,
            WorkerMsg::Beat => {
                if let Some(hb) = &state.heartbeat {
                    hb.beat();
                }
            }
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let _ = state.life.send(Life::Stopped {
            tag: state.tag.clone(),
            id: myself.get_id(),
        });
        Ok(())
    }
}

/// A worker child spec with id = tag.
pub fn worker(tag: &str, life: &UnboundedSender<Life>) -> ChildSpec {
    worker_with(tag, life, Arc::new(AtomicU32::new(0)), None)
}

pub fn worker_with(
    tag: &str,
    life: &UnboundedSender<Life>,
    fail_starts: Arc<AtomicU32>,
    heartbeat: Option<Heartbeat>,
) -> ChildSpec {
    let args = WorkerArgs {
        tag: tag.to_string(),
        life: life.clone(),
        fail_starts,
        heartbeat,
    };
    ChildSpec::new(tag, move |sup: ActorCell| {
        let args = args.clone();
        async move {
            Actor::spawn_linked(None, Worker, args, sup)
                .await
                .map(|(r, _)| r.get_cell())
        }
    })
}

pub fn life_channel() -> (UnboundedSender<Life>, UnboundedReceiver<Life>) {
    unbounded_channel()
}

pub const WAIT: Duration = Duration::from_secs(5);

/// Next lifecycle record, or panic after a generous timeout.
pub async fn next_life(rx: &mut UnboundedReceiver<Life>) -> Life {
    match tokio::time::timeout(WAIT, rx.recv()).await {
        Ok(Some(l)) => l,
        other => panic!("no lifecycle record: {other:?}"),
    }
}

/// Waits for `Started` of `tag`, skipping other records; returns its actor id.
pub async fn started(rx: &mut UnboundedReceiver<Life>, tag: &str) -> ActorId {
    loop {
        if let Life::Started { tag: t, id, .. } = next_life(rx).await
            && t == tag
        {
            return id;
        }
    }
}

/// Collects the next `n` records as short strings ("started:a", "stopped:b").
pub async fn next_n(rx: &mut UnboundedReceiver<Life>, n: usize) -> Vec<String> {
    let mut out = Vec::new();
    while out.len() < n {
        match next_life(rx).await {
            Life::Started { tag, .. } => out.push(format!("started:{tag}")),
            Life::Stopped { tag, .. } => out.push(format!("stopped:{tag}")),
            Life::FailingAt { tag, .. } => out.push(format!("failing:{tag}")),
        }
    }
    out
}

/// Nothing more arrives within `d`.
pub async fn quiet(rx: &mut UnboundedReceiver<Life>, d: Duration) {
    if let Ok(Some(l)) = tokio::time::timeout(d, rx.recv()).await {
        panic!("unexpected lifecycle record: {l:?}");
    }
}

/// Waits for the first supervision event matching `pred`.
pub async fn event(
    rx: &mut UnboundedReceiver<SupervisionEvent>,
    pred: impl Fn(&EventKind) -> bool,
) -> SupervisionEvent {
    let deadline = Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, rx.recv()).await {
            Ok(Some(ev)) if pred(&ev.kind) => return ev,
            Ok(Some(_)) => continue,
            other => panic!("event not seen: {other:?}"),
        }
    }
}

/// Drains events available right now.
pub fn drain(rx: &mut UnboundedReceiver<SupervisionEvent>) -> Vec<EventKind> {
    let mut out = Vec::new();
    while let Ok(ev) = rx.try_recv() {
        out.push(ev.kind);
    }
    out
}

/// Sends a message to the child `id`'s running instance.
pub async fn tell(sup: &ActorRef<tradeplane_actors::SupervisorMsg>, id: &str, msg: WorkerMsg) {
    let info = tradeplane_actors::Supervisor::child(sup, id, WAIT)
        .await
        .expect("supervisor answers")
        .expect("child exists");
    let cell = info.cell.expect("child running");
    cell.send_message(msg).expect("send to child");
}
