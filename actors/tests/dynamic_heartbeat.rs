//! Dynamic one_for_one supervisor (children added/removed at run time) and heartbeat
//! watchdog (silent child restarted; stuck child killed with a kill-trigger event).

mod common;

use std::sync::Arc;
use std::sync::atomic::AtomicU32;
use std::time::Duration;

use common::*;
use tradeplane_actors::{
    ChannelSink, ChildStatus, EventKind, Heartbeat, Restart, Shutdown, Strategy, Supervisor,
    SupervisorError, SupervisorSpec, noop_sink,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamic_children_start_list_terminate_and_cap() {
    let (tx, mut rx) = life_channel();
    let (sink, mut evs) = ChannelSink::new();
    let spec = SupervisorSpec::dynamic(Some(2)).intensity(5, Duration::from_secs(5));
    let (sup, _) = Supervisor::spawn(None, spec, Arc::new(sink), None)
        .await
        .expect("spawn");
    Supervisor::start_child(&sup, worker("x", &tx))
        .await
        .expect("x");
    Supervisor::start_child(&sup, worker("y", &tx).restart(Restart::Transient))
        .await
        .expect("y");
    assert_eq!(
        Supervisor::start_child(&sup, worker("x", &tx)).await,
        Err(SupervisorError::AlreadyExists("x".into()))
    );
    assert_eq!(
        Supervisor::start_child(&sup, worker("z", &tx)).await,
        Err(SupervisorError::MaxChildren(2))
    );
    next_n(&mut rx, 2).await;
    let rows = Supervisor::which_children(&sup, WAIT).await.expect("which");
    let ids: Vec<_> = rows.iter().map(|c| (c.id.as_str(), c.status)).collect();
    assert_eq!(
        ids,
        [("x", ChildStatus::Running), ("y", ChildStatus::Running)]
    );

    Supervisor::terminate_child(&sup, "x")
        .await
        .expect("terminate");
    assert_eq!(next_n(&mut rx, 1).await, ["stopped:x"]);
    assert_eq!(
        Supervisor::terminate_child(&sup, "x").await,
        Err(SupervisorError::NotFound("x".into()))
    );
    // A transient child that exits normally is forgotten by a dynamic supervisor.
    tell(&sup, "y", WorkerMsg::Stop(None)).await;
    event(
        &mut evs,
        |k| matches!(k, EventKind::ChildRemoved { child } if child == "y"),
    )
    .await;
    assert!(
        Supervisor::which_children(&sup, WAIT)
            .await
            .expect("which")
            .is_empty()
    );
    // Room again.
    Supervisor::start_child(&sup, worker("z", &tx))
        .await
        .expect("z");
    tell(&sup, "z", WorkerMsg::Fail).await;
    event(
        &mut evs,
        |k| matches!(k, EventKind::ChildRestarted { child, .. } if child == "z"),
    )
    .await;
    sup.stop_and_wait(None, Some(WAIT)).await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamic_start_failure_is_reported_and_not_kept() {
    let spec = SupervisorSpec::dynamic(None);
    let (sup, _) = Supervisor::spawn(None, spec, noop_sink(), None)
        .await
        .expect("spawn");
    let bad = tradeplane_actors::ChildSpec::new("bad", |_| async {
        Err(ractor::SpawnErr::StartupFailed("nope".into()))
    });
    let r = Supervisor::start_child(&sup, bad).await;
    assert!(
        matches!(r, Err(SupervisorError::StartFailed { ref id, .. }) if id == "bad"),
        "{r:?}"
    );
    assert!(
        Supervisor::which_children(&sup, WAIT)
            .await
            .expect("which")
            .is_empty()
    );
    sup.stop_and_wait(None, Some(WAIT)).await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamic_shutdown_stops_all_children() {
    let (tx, mut rx) = life_channel();
    let (sup, _) = Supervisor::spawn(None, SupervisorSpec::dynamic(None), noop_sink(), None)
        .await
        .expect("spawn");
    for i in 0..50 {
        Supervisor::start_child(&sup, worker(&format!("c{i}"), &tx))
            .await
            .expect("start");
    }
    next_n(&mut rx, 50).await;
    sup.stop_and_wait(None, Some(WAIT)).await.expect("stop");
    let stopped = next_n(&mut rx, 50).await;
    assert!(stopped.iter().all(|s| s.starts_with("stopped:")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_child_is_treated_as_failed_and_restarted() {
    let (tx, mut rx) = life_channel();
    let (sink, mut evs) = ChannelSink::new();
    let hb = Heartbeat::new();
    let child = worker_with("quiet", &tx, Arc::new(AtomicU32::new(0)), Some(hb.clone()))
        .heartbeat(hb.clone(), Duration::from_millis(150));
    let spec = SupervisorSpec::new(Strategy::OneForOne)
        .intensity(5, Duration::from_secs(5))
        .heartbeat_check(Duration::from_millis(25))
        .child(child)
        .child(worker("beating", &tx));
    let (sup, _) = Supervisor::spawn(None, spec, Arc::new(sink), None)
        .await
        .expect("spawn");
    let first = started(&mut rx, "quiet").await;
    // Beating keeps it alive well past the limit.
    for _ in 0..8 {
        tell(&sup, "quiet", WorkerMsg::Beat).await;
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    assert!(
        !drain(&mut evs)
            .iter()
            .any(|k| matches!(k, EventKind::HeartbeatTimeout { .. }))
    );
    // Then it goes silent.
    let ev = event(&mut evs, |k| {
        matches!(k, EventKind::HeartbeatTimeout { .. })
    })
    .await;
    assert!(
        matches!(ev.kind, EventKind::HeartbeatTimeout { ref child, silent_for } if child == "quiet" && silent_for > Duration::from_millis(150))
    );
    let ev = event(&mut evs, |k| matches!(k, EventKind::ChildFailed { .. })).await;
    assert!(
        matches!(ev.kind, EventKind::ChildFailed { ref reason, .. } if reason == tradeplane_actors::HEARTBEAT_TIMEOUT)
    );
    let second = started(&mut rx, "quiet").await;
    assert_ne!(first, second);
    sup.stop_and_wait(None, Some(WAIT)).await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stuck_child_ignoring_stop_is_killed_with_kill_trigger() {
    let (tx, mut rx) = life_channel();
    let (sink, mut evs) = ChannelSink::new();
    let hb = Heartbeat::new();
    let child = worker_with("stuck", &tx, Arc::new(AtomicU32::new(0)), Some(hb.clone()))
        .heartbeat(hb.clone(), Duration::from_millis(100))
        .shutdown(Shutdown::Timeout(Duration::from_millis(200)));
    let spec = SupervisorSpec::new(Strategy::OneForOne)
        .intensity(5, Duration::from_secs(5))
        .heartbeat_check(Duration::from_millis(25))
        .child(child);
    let (sup, _) = Supervisor::spawn(None, spec, Arc::new(sink), None)
        .await
        .expect("spawn");
    let first = started(&mut rx, "stuck").await;
    tell(&sup, "stuck", WorkerMsg::Hang).await;
    event(&mut evs, |k| {
        matches!(k, EventKind::HeartbeatTimeout { .. })
    })
    .await;
    let ev = event(&mut evs, |k| matches!(k, EventKind::KillTrigger { .. })).await;
    assert_eq!(
        ev.kind,
        EventKind::KillTrigger {
            child: "stuck".into(),
            after: Duration::from_millis(200)
        }
    );
    let ev = event(&mut evs, |k| matches!(k, EventKind::ChildFailed { .. })).await;
    assert!(matches!(ev.kind, EventKind::ChildFailed { ref reason, .. } if reason == "killed"));
    let second = started(&mut rx, "stuck").await;
    assert_ne!(first, second);
    sup.stop_and_wait(None, Some(WAIT)).await.expect("stop");
}
