//! Shared load helpers for the supervision bench and the `supervision_load` example.
#![allow(dead_code)]

use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ractor::{Actor, ActorProcessingErr, ActorRef, SupervisionEvent as RactorEvent};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use tradeplane_actors::{
    ChildSpec, Shutdown, Strategy, Supervisor, SupervisorMsg, SupervisorSpec, noop_sink,
};

fn base() -> Instant {
    static BASE: OnceLock<Instant> = OnceLock::new();
    *BASE.get_or_init(Instant::now)
}

fn now_ns() -> u64 {
    base().elapsed().as_nanos() as u64
}

/// An idle child: does nothing until told to fail.
pub struct Idle;

pub enum IdleMsg {
    Fail,
    Ping,
}

impl Actor for Idle {
    type Msg = IdleMsg;
    type State = ();
    type Arguments = ();

    async fn pre_start(&self, _: ActorRef<IdleMsg>, _: ()) -> Result<(), ActorProcessingErr> {
        Ok(())
    }

    async fn handle(
        &self,
        _: ActorRef<IdleMsg>,
        msg: IdleMsg,
        _: &mut (),
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            IdleMsg::Fail => Err("fail".into()),
            IdleMsg::Ping => Ok(()),
        }
    }
}

pub fn idle_spec(i: usize) -> ChildSpec {
    ChildSpec::new(format!("idle-{i}"), |sup| async move {
        Actor::spawn_linked(None, Idle, (), sup)
            .await
            .map(|(r, _)| r.get_cell())
    })
    .shutdown(Shutdown::Timeout(Duration::from_secs(5)))
}

/// A child that records when it fails and, when replaced, reports the latency from that
/// failure to its own post_start together with its own ref.
pub struct Victim;

#[derive(Clone)]
pub struct VictimArgs {
    failed_at: Arc<AtomicU64>,
    tx: UnboundedSender<(Duration, ActorRef<IdleMsg>)>,
}

impl Actor for Victim {
    type Msg = IdleMsg;
    type State = VictimArgs;
    type Arguments = VictimArgs;

    async fn pre_start(
        &self,
        _: ActorRef<IdleMsg>,
        a: VictimArgs,
    ) -> Result<VictimArgs, ActorProcessingErr> {
        Ok(a)
    }

    async fn post_start(
        &self,
        myself: ActorRef<IdleMsg>,
        a: &mut VictimArgs,
    ) -> Result<(), ActorProcessingErr> {
        let failed = a.failed_at.load(Ordering::SeqCst);
        let lat = Duration::from_nanos(now_ns().saturating_sub(failed));
        let _ = a.tx.send((lat, myself));
        Ok(())
    }

    async fn handle(
        &self,
        _: ActorRef<IdleMsg>,
        _: IdleMsg,
        a: &mut VictimArgs,
    ) -> Result<(), ActorProcessingErr> {
        a.failed_at.store(now_ns(), Ordering::SeqCst);
        Err("victim fails".into())
    }
}

pub struct RestartRig {
    pub sup: ActorRef<SupervisorMsg>,
    victim: ActorRef<IdleMsg>,
    rx: UnboundedReceiver<(Duration, ActorRef<IdleMsg>)>,
}

impl RestartRig {
    /// A one_for_one supervisor with `siblings` idle children plus the victim.
    pub async fn new(siblings: usize) -> Self {
        let (tx, mut rx) = unbounded_channel();
        let args = VictimArgs {
            failed_at: Arc::new(AtomicU64::new(now_ns())),
            tx,
        };
        let victim = ChildSpec::new("victim", move |sup| {
            let args = args.clone();
            async move {
                Actor::spawn_linked(None, Victim, args, sup)
                    .await
                    .map(|(r, _)| r.get_cell())
            }
        });
        let spec = SupervisorSpec::new(Strategy::OneForOne)
            .intensity(u32::MAX, Duration::from_millis(1))
            .children((0..siblings).map(idle_spec))
            .child(victim);
        let (sup, _) = Supervisor::spawn(None, spec, noop_sink(), None)
            .await
            .expect("spawn");
        let (_, victim) = rx.recv().await.expect("victim started");
        Self { sup, victim, rx }
    }

    /// Fails the victim once; returns failure → replacement post_start latency.
    pub async fn restart_once(&mut self) -> Duration {
        self.victim.cast(IdleMsg::Fail).expect("cast");
        let (lat, next) = self.rx.recv().await.expect("replacement");
        self.victim = next;
        lat
    }

    /// Starts a background task that pings every sibling round-robin until the returned
    /// flag is set, so restarts happen while the siblings process messages.
    pub async fn load(&self) -> Arc<std::sync::atomic::AtomicBool> {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let cells: Vec<_> = Supervisor::which_children(&self.sup, Duration::from_secs(5))
            .await
            .expect("children")
            .into_iter()
            .filter(|c| c.id != "victim")
            .filter_map(|c| c.cell)
            .collect();
        let flag = stop.clone();
        tokio::spawn(async move {
            let mut i = 0usize;
            while !flag.load(Ordering::Relaxed) {
                let _ = cells[i % cells.len()].send_message(IdleMsg::Ping);
                i += 1;
                if i.is_multiple_of(64) {
                    tokio::task::yield_now().await;
                }
            }
        });
        stop
    }

    pub async fn stop(self) {
        let _ = self.sup.stop_and_wait(None, None).await;
    }
}

/// Spawns a supervisor with `n` idle children; returns it and the spawn time.
pub async fn spawn_idle(n: usize, dynamic: bool) -> (ActorRef<SupervisorMsg>, Duration) {
    let t0 = Instant::now();
    let sup = if dynamic {
        let (sup, _) = Supervisor::spawn(None, SupervisorSpec::dynamic(None), noop_sink(), None)
            .await
            .expect("spawn");
        for i in 0..n {
            Supervisor::start_child(&sup, idle_spec(i))
                .await
                .expect("start child");
        }
        sup
    } else {
        let spec = SupervisorSpec::new(Strategy::OneForOne).children((0..n).map(idle_spec));
        Supervisor::spawn(None, spec, noop_sink(), None)
            .await
            .expect("spawn")
            .0
    };
    (sup, t0.elapsed())
}

/// Time for a supervisor to shut down its `n` children (ordered) and exit.
pub async fn terminate_time(n: usize) -> Duration {
    let (sup, _) = spawn_idle(n, false).await;
    let t0 = Instant::now();
    sup.stop_and_wait(None, None).await.expect("stop");
    t0.elapsed()
}

/// Parent that timestamps the ActorFailed of its child supervisor.
struct Parent;

impl Actor for Parent {
    type Msg = ();
    type State = UnboundedSender<u64>;
    type Arguments = UnboundedSender<u64>;

    async fn pre_start(
        &self,
        _: ActorRef<()>,
        tx: UnboundedSender<u64>,
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(tx)
    }

    async fn handle_supervisor_evt(
        &self,
        _: ActorRef<()>,
        evt: RactorEvent,
        tx: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        if let RactorEvent::ActorFailed(..) = evt {
            let _ = tx.send(now_ns());
        }
        Ok(())
    }
}

/// Child that fails in post_start every time, recording when.
struct Looper;

impl Actor for Looper {
    type Msg = ();
    type State = Arc<AtomicU64>;
    type Arguments = Arc<AtomicU64>;

    async fn pre_start(
        &self,
        _: ActorRef<()>,
        a: Arc<AtomicU64>,
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(a)
    }

    async fn post_start(
        &self,
        _: ActorRef<()>,
        a: &mut Arc<AtomicU64>,
    ) -> Result<(), ActorProcessingErr> {
        a.store(now_ns(), Ordering::SeqCst);
        Err("loop".into())
    }
}

/// A restart loop (intensity 3 in 5 s) under a supervisor with `siblings` idle children;
/// returns the time from the failure that crosses the limit to the parent's ActorFailed.
pub async fn meltdown_latency(siblings: usize) -> Duration {
    let (tx, mut rx) = unbounded_channel();
    let (parent, _) = Actor::spawn(None, Parent, tx).await.expect("parent");
    let last_fail = Arc::new(AtomicU64::new(0));
    let lf = last_fail.clone();
    let looper = ChildSpec::new("looper", move |sup| {
        let lf = lf.clone();
        async move {
            Actor::spawn_linked(None, Looper, lf, sup)
                .await
                .map(|(r, _)| r.get_cell())
        }
    });
    let spec = SupervisorSpec::new(Strategy::OneForOne)
        .intensity(3, Duration::from_secs(5))
        .children((0..siblings).map(idle_spec))
        .child(looper);
    let _sup = Supervisor::spawn(None, spec, noop_sink(), Some(parent.get_cell()))
        .await
        .expect("spawn");
    let seen = rx.recv().await.expect("parent saw failure");
    parent.stop(None);
    // The last recorded failure is the one that crossed the limit.
    Duration::from_nanos(seen.saturating_sub(last_fail.load(Ordering::SeqCst)))
}

/// Resident set size in bytes, from /proc/self/statm.
pub fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|v| v.parse::<u64>().ok())
        })
        .map(|pages| pages * 4096)
        .unwrap_or(0)
}

/// (p50, p99, max) of a sample.
pub fn percentiles(mut v: Vec<Duration>) -> (Duration, Duration, Duration) {
    v.sort_unstable();
    let at = |q: f64| v[((v.len() as f64 - 1.0) * q).round() as usize];
    (at(0.50), at(0.99), v[v.len() - 1])
}
