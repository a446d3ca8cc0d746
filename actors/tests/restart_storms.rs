//! Issue 21 part 6: a restart policy that ends. Backoff keeps growing while failures continue
//! (failed starts included, however far the backoff spreads them) and resets only after the
//! child has run healthily for `reset_after`.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use common::*;
use tradeplane_actors::{
    Backoff, ChannelSink, ChildSpec, EventKind, Strategy, Supervisor, SupervisorSpec,
};

/// The next `RestartScheduled`: (attempt, delay).
async fn scheduled(
    evs: &mut tokio::sync::mpsc::UnboundedReceiver<tradeplane_actors::SupervisionEvent>,
) -> (u32, Duration) {
    let ev = event(evs, |k| matches!(k, EventKind::RestartScheduled { .. })).await;
    match ev.kind {
        EventKind::RestartScheduled { attempt, delay, .. } => (attempt, delay),
        _ => unreachable!(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backoff_grows_while_starts_keep_failing_and_resets_only_after_a_healthy_spell() {
    let (tx, mut rx) = life_channel();
    let (sink, mut evs) = ChannelSink::new();
    let calls = Arc::new(AtomicU32::new(0));
    let c = calls.clone();
    let tx2 = tx.clone();
    // Start 0 works, starts 1–5 fail (the database is down), later ones work.
    let flaky = ChildSpec::new("flaky", move |sup| {
        let n = c.fetch_add(1, Ordering::SeqCst);
        let spec = worker("flaky", &tx2);
        async move {
            if (1..=5).contains(&n) {
                Err(ractor::SpawnErr::StartupFailed("database down".into()))
            } else {
                (spec.start)(sup).await
            }
        }
    })
    .backoff(
        Backoff::exponential(Duration::from_millis(20), Duration::from_secs(10))
            .jitter(0.0)
            .reset_after(Duration::from_millis(30)),
    );
    let spec = SupervisorSpec::new(Strategy::OneForOne)
        .intensity(100, Duration::from_secs(60))
        .child(flaky);
    let (sup, _) = Supervisor::spawn(None, spec, Arc::new(sink), None)
        .await
        .expect("spawn");
    started(&mut rx, "flaky").await;
    // The first instance ran healthily for longer than reset_after: its failure starts a
    // streak at attempt 1.
    tokio::time::sleep(Duration::from_millis(60)).await;
    tell(&sup, "flaky", WorkerMsg::Fail).await;
    let mut seen = vec![scheduled(&mut evs).await];
    // Five failed starts follow, each long after the last successful start (the old rule
    // reset the streak on that and fell back to attempt 1).
    for _ in 0..5 {
        seen.push(scheduled(&mut evs).await);
    }
    let ms = |d: u64| Duration::from_millis(d);
    assert_eq!(
        seen,
        vec![
            (1, ms(20)),
            (2, ms(40)),
            (3, ms(80)),
            (4, ms(160)),
            (5, ms(320)),
            (6, ms(640)),
        ]
    );
    started(&mut rx, "flaky").await;
    assert_eq!(calls.load(Ordering::SeqCst), 7);

    // An instance that dies young continues the streak…
    tell(&sup, "flaky", WorkerMsg::Fail).await;
    assert_eq!(scheduled(&mut evs).await, (7, ms(1280)));
    started(&mut rx, "flaky").await;
    // …one that ran healthily for reset_after starts a new one.
    tokio::time::sleep(Duration::from_millis(60)).await;
    tell(&sup, "flaky", WorkerMsg::Fail).await;
    assert_eq!(scheduled(&mut evs).await, (1, ms(20)));
    started(&mut rx, "flaky").await;
    sup.stop_and_wait(None, Some(WAIT)).await.expect("stop");
}
