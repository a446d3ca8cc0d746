//! OTP supervisor_SUITE: each restart type × normal / shutdown / abnormal exit.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use tradeplane_actors::{
    ChannelSink, ChildStatus, EventKind, Restart, Strategy, Supervisor, SupervisorSpec,
};

async fn run(restart: Restart, msg: WorkerMsg) -> (bool, Vec<EventKind>) {
    let (tx, mut rx) = life_channel();
    let (sink, mut evs) = ChannelSink::new();
    let spec = SupervisorSpec::new(Strategy::OneForOne)
        .intensity(5, Duration::from_secs(5))
        .child(worker("w", &tx).restart(restart));
    let (sup, _) = Supervisor::spawn(None, spec, Arc::new(sink), None)
        .await
        .expect("spawn");
    let first = started(&mut rx, "w").await;
    tell(&sup, "w", msg).await;
    // The first instance ends (post_stop runs only for non-failed exits, so wait on the
    // supervisor's view instead of the worker's own records).
    event(&mut evs, |k| {
        matches!(
            k,
            EventKind::ChildFailed { .. } | EventKind::ChildExited { .. }
        )
    })
    .await;
    let restarted = match tokio::time::timeout(Duration::from_millis(300), async {
        loop {
            if let Life::Started { id, .. } = next_life(&mut rx).await
                && id != first
            {
                return;
            }
        }
    })
    .await
    {
        Ok(()) => true,
        Err(_) => false,
    };
    let children = Supervisor::which_children(&sup, WAIT).await.expect("which");
    if restarted {
        assert_eq!(children.len(), 1);
        assert_eq!(children[0].status, ChildStatus::Running);
        assert_eq!(children[0].restarts, 1);
    }
    sup.stop_and_wait(None, Some(WAIT)).await.expect("stop");
    (restarted, drain(&mut evs))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permanent_restarts_after_normal_exit() {
    assert!(run(Restart::Permanent, WorkerMsg::Stop(None)).await.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permanent_restarts_after_shutdown_exit() {
    let r = run(Restart::Permanent, WorkerMsg::Stop(Some("shutdown".into()))).await;
    assert!(r.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permanent_restarts_after_error() {
    assert!(run(Restart::Permanent, WorkerMsg::Fail).await.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permanent_restarts_after_panic() {
    assert!(run(Restart::Permanent, WorkerMsg::Panic).await.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_not_restarted_after_normal_exit() {
    let (restarted, _) = run(Restart::Transient, WorkerMsg::Stop(None)).await;
    assert!(!restarted);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_not_restarted_after_shutdown_exit() {
    let (restarted, _) = run(
        Restart::Transient,
        WorkerMsg::Stop(Some("shutdown: done".into())),
    )
    .await;
    assert!(!restarted);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_restarted_after_abnormal_reason() {
    let (restarted, _) = run(Restart::Transient, WorkerMsg::Stop(Some("boom".into()))).await;
    assert!(restarted);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_restarted_after_error() {
    assert!(run(Restart::Transient, WorkerMsg::Fail).await.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn temporary_never_restarted() {
    for msg in [
        WorkerMsg::Stop(None),
        WorkerMsg::Stop(Some("boom".into())),
        WorkerMsg::Fail,
        WorkerMsg::Panic,
    ] {
        let (restarted, evs) = run(Restart::Temporary, msg).await;
        assert!(!restarted);
        assert!(
            !evs.iter()
                .any(|k| matches!(k, EventKind::RestartScheduled { .. })),
            "{evs:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_normal_exit_kept_as_stopped_in_static_supervisor() {
    let (tx, mut rx) = life_channel();
    let spec = SupervisorSpec::new(Strategy::OneForOne)
        .child(worker("t", &tx).restart(Restart::Transient))
        .child(worker("tmp", &tx).restart(Restart::Temporary));
    let (sup, _) = Supervisor::spawn(None, spec, tradeplane_actors::noop_sink(), None)
        .await
        .expect("spawn");
    started(&mut rx, "tmp").await;
    tell(&sup, "t", WorkerMsg::Stop(None)).await;
    tell(&sup, "tmp", WorkerMsg::Stop(None)).await;
    let mut stopped = 0;
    while stopped < 2 {
        if let Life::Stopped { .. } = next_life(&mut rx).await {
            stopped += 1;
        }
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let children = Supervisor::which_children(&sup, WAIT).await.expect("which");
    let rows: Vec<_> = children.iter().map(|c| (c.id.as_str(), c.status)).collect();
    // Temporary children are forgotten; transient ones stay listed as stopped (OTP).
    assert_eq!(rows, vec![("t", ChildStatus::Stopped)]);
    sup.stop_and_wait(None, Some(WAIT)).await.expect("stop");
}
