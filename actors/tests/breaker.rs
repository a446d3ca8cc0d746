//! Circuit breaker state machine on a manual clock, snapshot round trip, actor wrapper.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::TimeDelta;
use tradeplane_actors::breaker::actor::{BreakerActor, BreakerMsg};
use tradeplane_actors::{
    BreakerConfig, BreakerSnapshot, BreakerState, CircuitBreaker, Clock, EventKind,
    SupervisionEvent, SupervisionEventSink,
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

#[tokio::test]
async fn actor_wrapper_serves_the_same_machine() {
    let clock = manual_clock();
    let rec = Arc::new(Recorder::default());
    let b = CircuitBreaker::new(
        "svc-actor",
        BreakerConfig::default(),
        clock.clone(),
        rec.clone(),
    );
    let (actor, handle) = ractor::Actor::spawn(None, BreakerActor, b).await.unwrap();
    for _ in 0..3 {
        let p = ractor::call!(actor, BreakerMsg::Acquire).unwrap().unwrap();
        actor.cast(BreakerMsg::Failure(p)).unwrap();
    }
    assert_eq!(
        ractor::call!(actor, BreakerMsg::State).unwrap(),
        BreakerState::Open
    );
    assert!(ractor::call!(actor, BreakerMsg::Acquire).unwrap().is_err());
    actor.cast(BreakerMsg::Reset).unwrap();
    let snap = ractor::call!(actor, BreakerMsg::Snapshot).unwrap();
    assert_eq!(snap.state, BreakerState::Closed);
    assert_eq!(rec.transitions().len(), 2);
    actor.stop(None);
    handle.await.unwrap();
}
