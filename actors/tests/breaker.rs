//! Circuit breaker state machine on a manual clock, snapshot round trip, and the breaker as a
//! supervised actor publishing its reading.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::TimeDelta;
use ractor::{Actor, ActorId, ActorRef};
use tradeplane_actors::{
    BreakerActor, BreakerConfig, BreakerSnapshot, BreakerState, CircuitBreaker, Clock, EventKind,
    Report, Sent, SharedBreaker, Strategy, SupervisionEvent, SupervisionEventSink, Supervisor,
    SupervisorMsg, SupervisorSpec, noop_sink,
};

#[derive(Default)]
struct Recorder(Mutex<Vec<SupervisionEvent>>);

impl SupervisionEventSink for Recorder {
    fn emit(&self, ev: SupervisionEvent) {
        self.0.lock().unwrap().push(ev);
    }
}

impl Recorder {
    fn transitions(&self) -> Vec<(BreakerState, BreakerState)> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter_map(|e| match e.kind {
                EventKind::BreakerTransition { from, to, .. } => Some((from, to)),
                _ => None,
            })
            .collect()
    }
}

const MIN: Duration = Duration::from_secs(60);

/// A manual clock at a fixed instant, so the tests are reproducible.
fn manual_clock() -> Clock {
    Clock::manual("2025-01-01T00:00:00Z".parse().unwrap())
}

/// The breaker's config speaks std durations.
fn delta(d: Duration) -> TimeDelta {
    TimeDelta::from_std(d).unwrap()
}

fn breaker(config: BreakerConfig) -> (CircuitBreaker, Clock, Arc<Recorder>) {
    let clock = manual_clock();
    let rec = Arc::new(Recorder::default());
    let b = CircuitBreaker::new("svc", config, clock.clone(), rec.clone());
    (b, clock, rec)
}

fn fail(b: &mut CircuitBreaker) {
    let p = b.try_acquire().expect("admitted");
    b.record_failure(p);
}

#[test]
fn defaults_are_three_failures_in_thirty_minutes() {
    let c = BreakerConfig::default();
    assert_eq!(
        (c.failure_threshold, c.window, c.half_open_probes),
        (3, 30 * MIN, 1)
    );
}

#[test]
fn opens_on_third_failure_within_window() {
    let (mut b, clock, rec) = breaker(BreakerConfig::default());
    fail(&mut b);
    clock.advance(delta(10 * MIN));
    fail(&mut b);
    assert_eq!(b.state(), BreakerState::Closed);
    clock.advance(delta(10 * MIN));
    fail(&mut b);
    assert_eq!(b.state(), BreakerState::Open);
    assert_eq!(
        rec.transitions(),
        [(BreakerState::Closed, BreakerState::Open)]
    );
}

#[test]
fn failures_outside_window_do_not_count() {
    let (mut b, clock, _) = breaker(BreakerConfig::default());
    for _ in 0..10 {
        fail(&mut b);
        clock.advance(delta(16 * MIN));
        fail(&mut b);
        clock.advance(delta(16 * MIN));
        // Never 3 within 30 min.
        assert_eq!(b.state(), BreakerState::Closed);
    }
    // Successes do not clear the window (a count rule, not a consecutive rule).
    fail(&mut b);
    let p = b.try_acquire().expect("closed");
    b.record_success(p);
    fail(&mut b);
    assert_eq!(b.state(), BreakerState::Open);
}

#[test]
fn zero_calls_pass_while_open() {
    let cfg = BreakerConfig {
        cool_down: 5 * MIN,
        ..BreakerConfig::default()
    };
    let (mut b, clock, _) = breaker(cfg);
    for _ in 0..3 {
        fail(&mut b);
    }
    let mut last = Duration::MAX;
    for _ in 0..299 {
        let e = b.try_acquire().expect_err("open refuses");
        assert_eq!(e.state, BreakerState::Open);
        assert!(e.retry_after <= last && e.retry_after > Duration::ZERO);
        last = e.retry_after;
        clock.advance(delta(Duration::from_secs(1)));
    }
    clock.advance(delta(Duration::from_millis(999)));
    assert!(b.try_acquire().is_err(), "1 ms before the cool-down ends");
    clock.advance(delta(Duration::from_millis(1)));
    let p = b.try_acquire().expect("probe after cool-down");
    assert!(p.is_probe());
    assert_eq!(b.state(), BreakerState::HalfOpen);
}

#[test]
fn half_open_admits_exactly_n_probes_and_closes_when_all_succeed() {
    let cfg = BreakerConfig {
        half_open_probes: 3,
        cool_down: MIN,
        ..BreakerConfig::default()
    };
    let (mut b, clock, rec) = breaker(cfg);
    for _ in 0..3 {
        fail(&mut b);
    }
    clock.advance(delta(MIN));
    let probes: Vec<_> = (0..3).map(|_| b.try_acquire().expect("probe")).collect();
    for _ in 0..10 {
        let e = b.try_acquire().expect_err("only 3 probes");
        assert_eq!(e.state, BreakerState::HalfOpen);
    }
    b.record_success(probes[0]);
    b.record_success(probes[1]);
    assert_eq!(b.state(), BreakerState::HalfOpen);
    assert!(
        b.try_acquire().is_err(),
        "admitted probes are not replenished"
    );
    b.record_success(probes[2]);
    assert_eq!(b.state(), BreakerState::Closed);
    assert_eq!(b.failures_in_window(), 0);
    assert_eq!(
        rec.transitions(),
        [
            (BreakerState::Closed, BreakerState::Open),
            (BreakerState::Open, BreakerState::HalfOpen),
            (BreakerState::HalfOpen, BreakerState::Closed)
        ]
    );
}

#[test]
fn probe_failure_reopens_and_restarts_cool_down() {
    let (mut b, clock, rec) = breaker(BreakerConfig::default());
    for _ in 0..3 {
        fail(&mut b);
    }
    clock.advance(delta(MIN));
    let p = b.try_acquire().expect("probe");
    b.record_failure(p);
    assert_eq!(b.state(), BreakerState::Open);
    let e = b.try_acquire().expect_err("open again");
    assert_eq!(e.retry_after, MIN);
    assert_eq!(
        rec.transitions().last(),
        Some(&(BreakerState::HalfOpen, BreakerState::Open))
    );
}

#[test]
fn stale_permits_do_not_change_state() {
    let (mut b, clock, _) = breaker(BreakerConfig::default());
    let slow = b.try_acquire().expect("closed");
    for _ in 0..3 {
        fail(&mut b);
    }
    clock.advance(delta(MIN));
    let probe = b.try_acquire().expect("probe");
    // The slow call from before the trip finishes now: ignored.
    b.record_success(slow);
    assert_eq!(b.state(), BreakerState::HalfOpen);
    b.record_failure(slow);
    assert_eq!(b.state(), BreakerState::HalfOpen);
    b.record_success(probe);
    assert_eq!(b.state(), BreakerState::Closed);
}

#[test]
fn lost_probe_reopens_after_cool_down() {
    let (mut b, clock, _) = breaker(BreakerConfig::default());
    for _ in 0..3 {
        fail(&mut b);
    }
    clock.advance(delta(MIN));
    let _lost = b.try_acquire().expect("probe");
    clock.advance(delta(MIN - Duration::from_secs(1)));
    assert_eq!(
        b.try_acquire().expect_err("busy").state,
        BreakerState::HalfOpen
    );
    clock.advance(delta(Duration::from_secs(1)));
    assert_eq!(
        b.try_acquire().expect_err("reopened").state,
        BreakerState::Open
    );
    clock.advance(delta(MIN));
    assert!(b.try_acquire().is_ok(), "new probe after another cool-down");
}

#[test]
fn manual_reset_and_trip() {
    let (mut b, _, rec) = breaker(BreakerConfig::default());
    b.trip("operator");
    assert!(b.try_acquire().is_err());
    b.reset();
    assert_eq!(b.state(), BreakerState::Closed);
    assert!(b.try_acquire().is_ok());
    let reasons: Vec<String> = rec
        .0
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::BreakerTransition { reason, .. } => Some(reason.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(reasons, ["operator", "manual reset"]);
}

#[test]
fn snapshot_round_trips_through_json_and_restores_behaviour() {
    let (mut b, clock, _) = breaker(BreakerConfig::default());
    fail(&mut b);
    clock.advance(delta(MIN));
    fail(&mut b);
    let snap = b.snapshot();
    assert_eq!(snap.state, BreakerState::Closed);
    assert_eq!(snap.failures_ms.len(), 2);
    let json = serde_json::to_string(&snap).unwrap();
    let back: BreakerSnapshot = serde_json::from_str(&json).unwrap();
    assert_eq!(back, snap);

    let rec = Arc::new(Recorder::default());
    let mut restored = CircuitBreaker::restore(
        "svc",
        BreakerConfig::default(),
        clock.clone(),
        rec.clone(),
        &back,
    );
    assert_eq!(restored.snapshot(), snap);
    fail(&mut restored);
    assert_eq!(
        restored.state(),
        BreakerState::Open,
        "third failure counts the restored two"
    );

    // Open state with its opened_at survives: still refusing, same remaining cool-down.
    let open = restored.snapshot();
    clock.advance(delta(Duration::from_secs(20)));
    let mut again = CircuitBreaker::restore(
        "svc",
        BreakerConfig::default(),
        clock.clone(),
        rec.clone(),
        &open,
    );
    assert_eq!(
        again.try_acquire().unwrap_err().retry_after,
        Duration::from_secs(40)
    );
}

#[test]
fn restore_drops_expired_failures_and_forgets_in_flight_probes() {
    let (mut b, clock, _) = breaker(BreakerConfig::default());
    for _ in 0..3 {
        fail(&mut b);
    }
    clock.advance(delta(MIN));
    let _probe = b.try_acquire().expect("probe");
    let snap = b.snapshot();
    assert_eq!(
        (snap.state, snap.probes_in_flight),
        (BreakerState::HalfOpen, 1)
    );
    let mut r = CircuitBreaker::restore(
        "svc",
        BreakerConfig::default(),
        clock.clone(),
        Arc::new(Recorder::default()),
        &snap,
    );
    let p = r.try_acquire().expect("the lost probe is forgotten");
    r.record_success(p);
    assert_eq!(r.state(), BreakerState::Closed);

    let closed = BreakerSnapshot {
        state: BreakerState::Closed,
        failures_ms: vec![0, 1],
        opened_at_ms: None,
        half_opened_at_ms: None,
        probes_in_flight: 0,
        probe_successes: 0,
    };
    let r = CircuitBreaker::restore(
        "svc",
        BreakerConfig::default(),
        clock,
        Arc::new(Recorder::default()),
        &closed,
    );
    assert_eq!(r.failures_in_window(), 0);
}

// ---- the breaker as a supervised actor ----

/// A breaker on a manual clock behind a `SharedBreaker`, counting its published changes.
fn shared(config: BreakerConfig) -> (Arc<SharedBreaker>, Clock, Arc<Recorder>, Arc<AtomicUsize>) {
    let (b, clock, rec) = breaker(config);
    let changes = Arc::new(AtomicUsize::new(0));
    let counted = changes.clone();
    let shared = SharedBreaker::new(
        b,
        Box::new(move |_| {
            counted.fetch_add(1, Ordering::SeqCst);
        }),
        None,
    );
    (shared, clock, rec, changes)
}

async fn supervised(shared: &Arc<SharedBreaker>) -> ActorRef<SupervisorMsg> {
    let spec = SupervisorSpec::new(Strategy::OneForOne)
        .intensity(10, Duration::from_secs(5))
        .child(BreakerActor::child_spec("breaker:svc", shared.clone()));
    let (sup, _) = Supervisor::spawn(None, spec, noop_sink(), None)
        .await
        .unwrap();
    sup
}

/// Waits for an instance other than `old` to own the breaker.
async fn new_instance(shared: &SharedBreaker, old: &ActorId) -> ActorRef<Sent> {
    for _ in 0..200 {
        if let Some(a) = shared.actor().filter(|a| a.get_id() != *old) {
            return a;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("the breaker actor was not restarted");
}

const CALL: Duration = Duration::from_secs(2);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_actor_publishes_every_change_and_replies_after_recording() {
    let (shared, _clock, rec, changes) = shared(BreakerConfig::default());
    let sup = supervised(&shared).await;
    assert!(shared.actor().is_some(), "the actor owns the breaker");
    for n in 1..=3 {
        // CLOSED: admitted from the reading, no round trip.
        let p = shared.admit(CALL).await.expect("closed");
        assert!(!p.is_probe());
        let (tx, rx) = tokio::sync::oneshot::channel();
        shared.report_then(Report::Failure(p), move |r| {
            let _ = tx.send((r.state(), r.failures_in_window()));
        });
        let (state, failures) = rx.await.unwrap();
        assert_eq!(failures, n);
        // Whoever got the answer reads the new state.
        assert_eq!(shared.state(), state);
    }
    assert_eq!(shared.state(), BreakerState::Open);
    assert_eq!(changes.load(Ordering::SeqCst), 3);
    let refused = shared.admit(CALL).await.expect_err("open refuses");
    assert_eq!(refused.state, BreakerState::Open);
    let reset = shared.reset(CALL).await.unwrap();
    assert_eq!(reset.from, BreakerState::Open);
    assert_eq!(reset.reading.state(), BreakerState::Closed);
    assert_eq!(shared.state(), BreakerState::Closed);
    assert_eq!(
        rec.transitions(),
        [
            (BreakerState::Closed, BreakerState::Open),
            (BreakerState::Open, BreakerState::Closed)
        ]
    );
    sup.stop_and_wait(None, None).await.unwrap();
    assert!(shared.actor().is_none(), "a stopped instance lets go");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_open_admits_exactly_its_probe_among_concurrent_callers() {
    let (shared, clock, _, _) = shared(BreakerConfig::default());
    let sup = supervised(&shared).await;
    for _ in 0..3 {
        shared.report(Report::FailureWithoutPermit);
    }
    let reading = shared.subscribe();
    let mut reading = reading;
    reading
        .wait_for(|r| r.state() == BreakerState::Open)
        .await
        .unwrap();
    clock.advance(delta(MIN));
    let calls: Vec<_> = (0..32)
        .map(|_| {
            let shared = shared.clone();
            tokio::spawn(async move { shared.admit(CALL).await })
        })
        .collect();
    let mut probes = Vec::new();
    for call in calls {
        if let Ok(p) = call.await.unwrap() {
            probes.push(p);
        }
    }
    assert_eq!(probes.len(), 1, "exactly one probe");
    assert!(probes[0].is_probe());
    assert_eq!(shared.state(), BreakerState::HalfOpen);
    shared.report(Report::Success(probes[0]));
    reading
        .wait_for(|r| r.state() == BreakerState::Closed)
        .await
        .unwrap();
    sup.stop_and_wait(None, None).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_breaker_actor_is_restarted_with_its_window_and_probes() {
    let (shared, clock, _, _) = shared(BreakerConfig::default());
    let sup = supervised(&shared).await;
    let mut reading = shared.subscribe();
    for _ in 0..2 {
        shared.report(Report::FailureWithoutPermit);
    }
    reading
        .wait_for(|r| r.failures_in_window() == 2)
        .await
        .unwrap();
    let first = shared.actor().unwrap();
    first.kill();
    let second = new_instance(&shared, &first.get_id()).await;
    assert_eq!(shared.failures_in_window(), 2, "the window survives");
    // The restarted instance counts them: one more failure opens.
    let p = shared.admit_in_order(CALL).await.unwrap();
    shared.report(Report::Failure(p));
    reading
        .wait_for(|r| r.state() == BreakerState::Open)
        .await
        .unwrap();

    // A probe in flight when its instance dies still holds the slot in the next one.
    clock.advance(delta(MIN));
    let probe = shared.admit(CALL).await.expect("the probe");
    second.kill();
    new_instance(&shared, &second.get_id()).await;
    let busy = shared.admit(CALL).await.expect_err("one probe at a time");
    assert_eq!(busy.state, BreakerState::HalfOpen);
    shared.report(Report::Success(probe));
    reading
        .wait_for(|r| r.state() == BreakerState::Closed)
        .await
        .unwrap();
    sup.stop_and_wait(None, None).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_no_instance_running_messages_run_in_the_sender() {
    let (shared, _clock, rec, changes) = shared(BreakerConfig::default());
    assert!(shared.actor().is_none());
    for _ in 0..3 {
        let p = shared.admit(CALL).await.expect("closed");
        shared.report(Report::Failure(p));
    }
    assert_eq!(shared.state(), BreakerState::Open);
    assert_eq!(changes.load(Ordering::SeqCst), 3);
    let ran = Arc::new(AtomicUsize::new(0));
    let seen = ran.clone();
    shared.after(move |r| {
        assert_eq!(r.state(), BreakerState::Open);
        seen.fetch_add(1, Ordering::SeqCst);
    });
    assert_eq!(ran.load(Ordering::SeqCst), 1);
    assert_eq!(
        shared.reset(CALL).await.unwrap().reading.state(),
        BreakerState::Closed
    );
    assert_eq!(rec.transitions().len(), 2);

    // An instance started later takes over from the reading.
    let sup = supervised(&shared).await;
    let p = shared.admit_in_order(CALL).await.unwrap();
    shared.report(Report::Failure(p));
    let mut reading = shared.subscribe();
    reading
        .wait_for(|r| r.failures_in_window() == 1)
        .await
        .unwrap();
    sup.stop_and_wait(None, None).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_then_runs_even_when_its_instance_dies_with_it_queued() {
    let (shared, _clock, _, _) = shared(BreakerConfig::default());
    let (actor, handle) = Actor::spawn(None, BreakerActor, shared.clone())
        .await
        .unwrap();
    let ran = Arc::new(AtomicUsize::new(0));
    // The first effect holds the actor until the rest are queued and the kill is sent.
    let (release, held) = std::sync::mpsc::channel::<()>();
    let first = ran.clone();
    shared.after(move |_| {
        let _ = held.recv();
        first.fetch_add(1, Ordering::SeqCst);
    });
    for _ in 0..999 {
        let ran = ran.clone();
        shared.after(move |_| {
            ran.fetch_add(1, Ordering::SeqCst);
        });
    }
    actor.kill();
    release.send(()).unwrap();
    handle.await.unwrap();
    assert_eq!(ran.load(Ordering::SeqCst), 1000);
    // Nothing owns it now: the next message runs here.
    shared.after(|r| assert_eq!(r.state(), BreakerState::Closed));
    assert!(shared.actor().is_none());
}

tokio::task_local! {
    static CALLER: u32;
}

/// Records the caller context each event was emitted in.
#[derive(Default)]
struct ContextRecorder(Mutex<Vec<Option<u32>>>);

impl SupervisionEventSink for ContextRecorder {
    fn emit(&self, _ev: SupervisionEvent) {
        self.0.lock().unwrap().push(CALLER.try_with(|c| *c).ok());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_a_message_causes_is_emitted_in_its_senders_context() {
    let clock = manual_clock();
    let rec = Arc::new(ContextRecorder::default());
    let b = CircuitBreaker::new("svc", BreakerConfig::default(), clock, rec.clone());
    let capture: tradeplane_actors::Capture = Box::new(|| {
        CALLER
            .try_with(|c| *c)
            .ok()
            .map(|c| -> tradeplane_actors::Within {
                Box::new(move |apply: &mut dyn FnMut()| CALLER.sync_scope(c, apply))
            })
    });
    let shared = SharedBreaker::new(b, Box::new(|_| {}), Some(capture));
    let sup = supervised(&shared).await;
    let mut reading = shared.subscribe();
    CALLER
        .scope(7, async {
            for _ in 0..3 {
                shared.report(Report::FailureWithoutPermit);
            }
        })
        .await;
    reading
        .wait_for(|r| r.state() == BreakerState::Open)
        .await
        .unwrap();
    // Outside any context: emitted with none.
    shared.reset(CALL).await.unwrap();
    assert_eq!(*rec.0.lock().unwrap(), [Some(7), None]);
    sup.stop_and_wait(None, None).await.unwrap();
}
