//! OTP supervisor_SUITE: one_for_one, one_for_all, rest_for_one, start order and shutdown
//! order, temporary children under group restarts.

mod common;

use std::sync::Arc;
use std::sync::atomic::AtomicU32;
use std::time::Duration;

use common::*;
use tradeplane_actors::{
    ChannelSink, Clock, EventKind, Restart, Strategy, Supervisor, SupervisorSpec, noop_sink,
};

fn spec(
    strategy: Strategy,
    tags: &[&str],
    tx: &tokio::sync::mpsc::UnboundedSender<Life>,
) -> SupervisorSpec {
    SupervisorSpec::new(strategy)
        .intensity(10, Duration::from_secs(5))
        .children(tags.iter().map(|t| worker(t, tx)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn children_start_in_order_and_stop_in_reverse() {
    let (tx, mut rx) = life_channel();
    let (sink, mut evs) = ChannelSink::new();
    let (sup, _) = Supervisor::spawn(
        None,
        spec(Strategy::OneForOne, &["a", "b", "c"], &tx),
        Arc::new(sink),
        None,
    )
    .await
    .expect("spawn");
    // Start order: spawn_linked returns after pre_start, post_start runs concurrently, so
    // the order is checked on the supervisor's ChildStarted events.
    let mut order = Vec::new();
    while order.len() < 3 {
        if let EventKind::ChildStarted { child } =
            event(&mut evs, |k| matches!(k, EventKind::ChildStarted { .. }))
                .await
                .kind
        {
            order.push(child);
        }
    }
    assert_eq!(order, ["a", "b", "c"]);
    assert_eq!(next_n(&mut rx, 3).await.len(), 3);
    sup.stop_and_wait(None, Some(WAIT)).await.expect("stop");
    assert_eq!(
        next_n(&mut rx, 3).await,
        ["stopped:c", "stopped:b", "stopped:a"]
    );
    let shut: Vec<String> = drain(&mut evs)
        .into_iter()
        .filter_map(|k| match k {
            EventKind::ChildShutdown { child } => Some(child),
            _ => None,
        })
        .collect();
    assert_eq!(shut, ["c", "b", "a"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_for_one_restarts_only_the_failed_child() {
    let (tx, mut rx) = life_channel();
    let (sup, _) = Supervisor::spawn(
        None,
        spec(Strategy::OneForOne, &["a", "b", "c"], &tx),
        noop_sink(),
        None,
    )
    .await
    .expect("spawn");
    let before = next_n(&mut rx, 3).await;
    assert_eq!(before.len(), 3);
    tell(&sup, "b", WorkerMsg::Fail).await;
    assert_eq!(next_n(&mut rx, 1).await, ["started:b"]);
    quiet(&mut rx, Duration::from_millis(200)).await;
    let rows = Supervisor::which_children(&sup, WAIT).await.expect("which");
    let restarts: Vec<_> = rows.iter().map(|c| (c.id.as_str(), c.restarts)).collect();
    assert_eq!(restarts, [("a", 0), ("b", 1), ("c", 0)]);
    sup.stop_and_wait(None, Some(WAIT)).await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_for_all_restarts_everyone_in_order() {
    let (tx, mut rx) = life_channel();
    let (sink, mut evs) = ChannelSink::new();
    let (sup, _) = Supervisor::spawn(
        None,
        spec(Strategy::OneForAll, &["a", "b", "c"], &tx),
        Arc::new(sink),
        None,
    )
    .await
    .expect("spawn");
    next_n(&mut rx, 3).await;
    drain(&mut evs);
    tell(&sup, "b", WorkerMsg::Fail).await;
    // Others stop in reverse start order (b failed, so no post_stop for it).
    assert_eq!(next_n(&mut rx, 2).await, ["stopped:c", "stopped:a"]);
    let mut restarted = Vec::new();
    while restarted.len() < 3 {
        if let EventKind::ChildRestarted { child, .. } =
            event(&mut evs, |k| matches!(k, EventKind::ChildRestarted { .. }))
                .await
                .kind
        {
            restarted.push(child);
        }
    }
    assert_eq!(restarted, ["a", "b", "c"]);
    let mut again = next_n(&mut rx, 3).await;
    again.sort();
    assert_eq!(again, ["started:a", "started:b", "started:c"]);
    sup.stop_and_wait(None, Some(WAIT)).await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_for_all_never_restarts_temporary_children() {
    let (tx, mut rx) = life_channel();
    let spec = SupervisorSpec::new(Strategy::OneForAll)
        .intensity(10, Duration::from_secs(5))
        .child(worker("a", &tx))
        .child(worker("tmp", &tx).restart(Restart::Temporary))
        .child(worker("c", &tx).restart(Restart::Transient));
    let (sup, _) = Supervisor::spawn(None, spec, noop_sink(), None)
        .await
        .expect("spawn");
    next_n(&mut rx, 3).await;
    tell(&sup, "a", WorkerMsg::Fail).await;
    assert_eq!(next_n(&mut rx, 2).await, ["stopped:c", "stopped:tmp"]);
    let mut again = next_n(&mut rx, 2).await;
    again.sort();
    assert_eq!(again, ["started:a", "started:c"]);
    quiet(&mut rx, Duration::from_millis(200)).await;
    let ids: Vec<String> = Supervisor::which_children(&sup, WAIT)
        .await
        .expect("which")
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(ids, ["a", "c"]);
    sup.stop_and_wait(None, Some(WAIT)).await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_for_one_restarts_exactly_the_later_siblings_in_order() {
    let (tx, mut rx) = life_channel();
    let (sink, mut evs) = ChannelSink::new();
    let (sup, _) = Supervisor::spawn(
        None,
        spec(Strategy::RestForOne, &["a", "b", "c", "d"], &tx),
        Arc::new(sink),
        None,
    )
    .await
    .expect("spawn");
    next_n(&mut rx, 4).await;
    drain(&mut evs);
    tell(&sup, "b", WorkerMsg::Fail).await;
    assert_eq!(next_n(&mut rx, 2).await, ["stopped:d", "stopped:c"]);
    let mut restarted = Vec::new();
    while restarted.len() < 3 {
        if let EventKind::ChildRestarted { child, .. } =
            event(&mut evs, |k| matches!(k, EventKind::ChildRestarted { .. }))
                .await
                .kind
        {
            restarted.push(child);
        }
    }
    assert_eq!(restarted, ["b", "c", "d"]);
    let mut again = next_n(&mut rx, 3).await;
    again.sort();
    assert_eq!(again, ["started:b", "started:c", "started:d"]);
    quiet(&mut rx, Duration::from_millis(200)).await;
    let restarts: Vec<_> = Supervisor::which_children(&sup, WAIT)
        .await
        .expect("which")
        .into_iter()
        .map(|c| (c.id, c.restarts))
        .collect();
    let expect: Vec<(String, u32)> = [("a", 0), ("b", 1), ("c", 1), ("d", 1)]
        .iter()
        .map(|(i, r)| (i.to_string(), *r))
        .collect();
    assert_eq!(restarts, expect);
    sup.stop_and_wait(None, Some(WAIT)).await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_for_one_failure_of_last_child_restarts_only_it() {
    let (tx, mut rx) = life_channel();
    let (sup, _) = Supervisor::spawn(
        None,
        spec(Strategy::RestForOne, &["a", "b", "c"], &tx),
        noop_sink(),
        None,
    )
    .await
    .expect("spawn");
    next_n(&mut rx, 3).await;
    tell(&sup, "c", WorkerMsg::Fail).await;
    assert_eq!(next_n(&mut rx, 1).await, ["started:c"]);
    quiet(&mut rx, Duration::from_millis(200)).await;
    sup.stop_and_wait(None, Some(WAIT)).await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_initial_start_stops_started_children_and_fails_spawn() {
    let (tx, mut rx) = life_channel();
    // "b" fails in post_start: spawn_linked succeeds but the child fails right away, so the
    // supervisor must see it as a failure and restart it. A child whose *start function*
    // errors fails the supervisor spawn instead.
    let failing = tradeplane_actors::ChildSpec::new("boom", |_sup| async {
        Err(ractor::SpawnErr::StartupFailed("no".into()))
    });
    let spec = SupervisorSpec::new(Strategy::OneForOne)
        .child(worker("a", &tx))
        .child(failing)
        .child(worker_with("c", &tx, Arc::new(AtomicU32::new(0)), None));
    let r = Supervisor::spawn(None, spec, noop_sink(), None).await;
    assert!(r.is_err());
    assert_eq!(next_n(&mut rx, 2).await, ["started:a", "stopped:a"]);
    quiet(&mut rx, Duration::from_millis(100)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_are_stamped_with_the_spec_clock() {
    let (tx, _rx) = life_channel();
    let (sink, mut evs) = ChannelSink::new();
    let at: chrono::DateTime<chrono::Utc> = "2026-11-28T12:00:00Z".parse().unwrap();
    let clock = Clock::manual(at);
    let (sup, _) = Supervisor::spawn(
        None,
        spec(Strategy::OneForOne, &["a"], &tx).clock(clock.clone()),
        Arc::new(sink),
        None,
    )
    .await
    .expect("spawn");
    let started = event(&mut evs, |k| matches!(k, EventKind::ChildStarted { .. })).await;
    assert_eq!(started.at, at.into());
    clock.advance(chrono::TimeDelta::minutes(5));
    sup.stop_and_wait(None, Some(WAIT)).await.expect("stop");
    let shut = event(&mut evs, |k| matches!(k, EventKind::ChildShutdown { .. })).await;
    assert_eq!(shut.at, (at + chrono::TimeDelta::minutes(5)).into());
}
