//! OTP supervisor_SUITE: intensity/meltdown and escalation, hanging child at shutdown,
//! backoff between restarts, start failures counted against the intensity.

mod common;

use std::sync::Arc;
use std::sync::atomic::AtomicU32;
use std::time::{Duration, Instant};

use common::*;
use ractor::{Actor, ActorProcessingErr, ActorRef, SupervisionEvent as RactorEvent};
use tokio::sync::mpsc::{UnboundedSender, unbounded_channel};
use tradeplane_actors::{
    Backoff, ChannelSink, ChildSpec, EventKind, Shutdown, Strategy, Supervisor, SupervisorSpec,
    noop_sink,
};

/// A bare ractor parent that reports what it sees of its child supervisor.
struct Parent;

enum Seen {
    Failed(String, Instant),
    Terminated(Option<String>),
}

impl Actor for Parent {
    type Msg = ();
    type State = UnboundedSender<Seen>;
    type Arguments = UnboundedSender<Seen>;

    async fn pre_start(
        &self,
        _: ActorRef<()>,
        tx: Self::Arguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(tx)
    }

    async fn handle_supervisor_evt(
        &self,
        _: ActorRef<()>,
        evt: RactorEvent,
        tx: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match evt {
            RactorEvent::ActorFailed(_, err) => {
                let _ = tx.send(Seen::Failed(err.to_string(), Instant::now()));
            }
            RactorEvent::ActorTerminated(_, _, reason) => {
                let _ = tx.send(Seen::Terminated(reason));
            }
            _ => {}
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_loop_melts_down_and_escalates_within_100ms() {
    let (tx, mut rx) = life_channel();
    let (seen_tx, mut seen) = unbounded_channel();
    let (sink, mut evs) = ChannelSink::new();
    let (parent, _) = Actor::spawn(None, Parent, seen_tx).await.expect("parent");
    // "loop" fails in post_start on every start: its 1st..3rd failures are restarted, the
    // 4th failure would be the 4th restart within 5 s and crosses the limit.
    let looping = worker_with("loop", &tx, Arc::new(AtomicU32::new(u32::MAX)), None);
    let spec = SupervisorSpec::new(Strategy::OneForOne)
        .intensity(3, Duration::from_secs(5))
        .child(worker("steady", &tx))
        .child(looping);
    let (_sup, _) = Supervisor::spawn(None, spec, Arc::new(sink), Some(parent.get_cell()))
        .await
        .expect("spawn");
    let mut failures = Vec::new();
    let mut steady_stopped = false;
    while failures.len() < 4 || !steady_stopped {
        match next_life(&mut rx).await {
            Life::FailingAt { at, .. } => failures.push(at),
            Life::Stopped { tag, .. } if tag == "steady" => steady_stopped = true,
            _ => {}
        }
    }
    let crossed = failures[3];
    let (reason, at) = match tokio::time::timeout(WAIT, seen.recv()).await {
        Ok(Some(Seen::Failed(r, at))) => (r, at),
        Ok(Some(Seen::Terminated(r))) => panic!("terminated instead of failing: {r:?}"),
        other => panic!("parent saw nothing: {}", other.is_ok()),
    };
    assert!(reason.contains("meltdown"), "{reason}");
    let lag = at.duration_since(crossed);
    assert!(lag < Duration::from_millis(100), "escalation took {lag:?}");
    let ev = event(&mut evs, |k| matches!(k, EventKind::Meltdown { .. })).await;
    assert_eq!(
        ev.kind,
        EventKind::Meltdown {
            restarts: 4,
            intensity: 3,
            period: Duration::from_secs(5)
        }
    );
    // No more starts after the meltdown (no unbounded loop).
    quiet(&mut rx, Duration::from_millis(200)).await;
    parent.stop(None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nested_supervisor_meltdown_is_restarted_by_its_parent_supervisor() {
    let (tx, mut rx) = life_channel();
    let (sink, mut evs) = ChannelSink::new();
    let sink = Arc::new(sink);
    let inner = SupervisorSpec::new(Strategy::OneForOne)
        .intensity(0, Duration::from_secs(5))
        .child(worker("inner-w", &tx));
    let outer = SupervisorSpec::new(Strategy::OneForOne)
        .intensity(5, Duration::from_secs(5))
        .child(worker("outer-w", &tx))
        .child(Supervisor::child_spec("inner", inner, sink.clone()));
    let (sup, _) = Supervisor::spawn(None, outer, sink, None)
        .await
        .expect("spawn");
    started(&mut rx, "inner-w").await;
    let rows = Supervisor::which_children(&sup, WAIT).await.expect("which");
    let inner_cell = rows[1].cell.clone().expect("inner running");
    let inner_ref: ActorRef<tradeplane_actors::SupervisorMsg> = inner_cell.into();
    tell(&inner_ref, "inner-w", WorkerMsg::Fail).await;
    let ev = event(
        &mut evs,
        |k| matches!(k, EventKind::ChildFailed { child, .. } if child == "inner"),
    )
    .await;
    if let EventKind::ChildFailed { reason, .. } = ev.kind {
        assert!(reason.contains("meltdown"), "{reason}");
    }
    event(
        &mut evs,
        |k| matches!(k, EventKind::ChildRestarted { child, .. } if child == "inner"),
    )
    .await;
    started(&mut rx, "inner-w").await;
    sup.stop_and_wait(None, Some(WAIT)).await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hanging_child_is_killed_after_its_shutdown_timeout() {
    let (tx, mut rx) = life_channel();
    let (sink, mut evs) = ChannelSink::new();
    let spec = SupervisorSpec::new(Strategy::OneForOne)
        .child(worker("first", &tx))
        .child(worker("hang", &tx).shutdown(Shutdown::Timeout(Duration::from_millis(300))));
    let (sup, _) = Supervisor::spawn(None, spec, Arc::new(sink), None)
        .await
        .expect("spawn");
    next_n(&mut rx, 2).await;
    tell(&sup, "hang", WorkerMsg::Hang).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let t0 = Instant::now();
    sup.stop_and_wait(None, Some(WAIT)).await.expect("stop");
    let took = t0.elapsed();
    assert!(took >= Duration::from_millis(300), "{took:?}");
    assert!(took < Duration::from_secs(3), "{took:?}");
    // The killed child's post_stop never ran; the other one stopped normally after it.
    assert_eq!(next_n(&mut rx, 1).await, ["stopped:first"]);
    let kinds = drain(&mut evs);
    assert!(kinds.contains(&EventKind::ChildKilled {
        child: "hang".into(),
        after: Duration::from_millis(300)
    }));
    assert!(kinds.contains(&EventKind::ChildShutdown {
        child: "first".into()
    }));
    assert_eq!(kinds.last(), Some(&EventKind::SupervisorShutdown));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn brutal_shutdown_kills_without_post_stop() {
    let (tx, mut rx) = life_channel();
    let spec =
        SupervisorSpec::new(Strategy::OneForOne).child(worker("b", &tx).shutdown(Shutdown::Brutal));
    let (sup, _) = Supervisor::spawn(None, spec, noop_sink(), None)
        .await
        .expect("spawn");
    next_n(&mut rx, 1).await;
    sup.stop_and_wait(None, Some(WAIT)).await.expect("stop");
    quiet(&mut rx, Duration::from_millis(100)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backoff_delays_restarts_exponentially_via_timer() {
    let (tx, mut rx) = life_channel();
    let (sink, mut evs) = ChannelSink::new();
    let backoff = Backoff::exponential(Duration::from_millis(100), Duration::from_secs(10))
        .jitter(0.0)
        .reset_after(Duration::from_secs(10));
    let spec = SupervisorSpec::new(Strategy::OneForOne)
        .intensity(10, Duration::from_secs(5))
        .child(worker("slow", &tx).backoff(backoff))
        .child(worker("other", &tx));
    let (sup, _) = Supervisor::spawn(None, spec, Arc::new(sink), None)
        .await
        .expect("spawn");
    next_n(&mut rx, 2).await;
    for expected in [100u64, 200] {
        let t0 = Instant::now();
        tell(&sup, "slow", WorkerMsg::Fail).await;
        let ev = event(&mut evs, |k| {
            matches!(k, EventKind::RestartScheduled { .. })
        })
        .await;
        assert!(
            matches!(ev.kind, EventKind::RestartScheduled { delay, .. } if delay == Duration::from_millis(expected))
        );
        // The supervisor keeps serving during the backoff (never sleeps in its handler).
        let rows = Supervisor::which_children(&sup, Duration::from_millis(50))
            .await
            .expect("answers during backoff");
        assert_eq!(
            rows[0].status,
            tradeplane_actors::ChildStatus::RestartPending
        );
        started(&mut rx, "slow").await;
        let waited = t0.elapsed();
        assert!(waited >= Duration::from_millis(expected), "{waited:?}");
    }
    sup.stop_and_wait(None, Some(WAIT)).await.expect("stop");
}

#[test]
fn backoff_jitter_stays_within_bounds() {
    let b = Backoff::exponential(Duration::from_millis(100), Duration::from_secs(1)).jitter(0.5);
    for n in 0..20 {
        let cap = Duration::from_millis(100 * (1u64 << n.min(10))).min(Duration::from_secs(1));
        let d = b.delay(n);
        assert!(d <= cap && d >= cap / 2, "n={n} d={d:?} cap={cap:?}");
    }
    assert_eq!(Backoff::NONE.delay(5), Duration::ZERO);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_restarts_count_against_intensity() {
    let (tx, mut rx) = life_channel();
    let (sink, mut evs) = ChannelSink::new();
    let attempts = Arc::new(AtomicU32::new(0));
    let a = attempts.clone();
    let tx2 = tx.clone();
    // Starts fine once; every later start function call errors.
    let flaky = ChildSpec::new("flaky", move |sup| {
        let n = a.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let spec = worker("flaky", &tx2);
        async move {
            if n == 0 {
                (spec.start)(sup).await
            } else {
                Err(ractor::SpawnErr::StartupFailed("down".into()))
            }
        }
    });
    let spec = SupervisorSpec::new(Strategy::OneForOne)
        .intensity(3, Duration::from_secs(5))
        .child(flaky);
    let (sup, handle) = Supervisor::spawn(None, spec, Arc::new(sink), None)
        .await
        .expect("spawn");
    next_n(&mut rx, 1).await;
    tell(&sup, "flaky", WorkerMsg::Fail).await;
    let mut start_failures = 0;
    loop {
        let ev = event(&mut evs, |_| true).await;
        match ev.kind {
            EventKind::ChildStartFailed { .. } => start_failures += 1,
            EventKind::Meltdown { restarts, .. } => {
                assert_eq!(restarts, 4);
                break;
            }
            _ => {}
        }
    }
    tokio::time::timeout(WAIT, handle)
        .await
        .expect("supervisor exits")
        .expect("join");
    // 1 good start, then 3 failed restart attempts; the 4th restart crosses the limit.
    assert_eq!(start_failures, 3);
    assert_eq!(attempts.load(std::sync::atomic::Ordering::SeqCst), 4);
}
