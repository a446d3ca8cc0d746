//! Load program for the supervision figures that need per-event latencies (p50/p99/max) or
//! RSS. Run: `cargo run --release -p tradeplane-actors --example supervision_load`

#[path = "../benches/support/mod.rs"]
mod support;

use std::time::Duration;

use support::*;

const SIBLINGS: usize = 10_000;
const RESTARTS: usize = 5_000;
const IDLE: usize = 100_000;

#[tokio::main]
async fn main() {
    // 1. Restart latency with 10k live siblings.
    let mut rig = RestartRig::new(SIBLINGS).await;
    for _ in 0..200 {
        rig.restart_once().await; // warm-up
    }
    let mut lat = Vec::with_capacity(RESTARTS);
    for _ in 0..RESTARTS {
        lat.push(rig.restart_once().await);
    }
    let (p50, p99, max) = percentiles(lat);
    println!(
        "restart latency, {SIBLINGS} idle siblings, {RESTARTS} restarts: p50 {p50:?} p99 {p99:?} max {max:?} (target p99 <= 500us, max <= 10ms)"
    );
    // Same, while a task keeps every core busy pinging the siblings.
    let stop = rig.load().await;
    let mut lat = Vec::with_capacity(RESTARTS);
    for _ in 0..RESTARTS {
        lat.push(rig.restart_once().await);
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    rig.stop().await;
    let (p50, p99, max) = percentiles(lat);
    println!(
        "restart latency, {SIBLINGS} siblings under ping load, {RESTARTS} restarts: p50 {p50:?} p99 {p99:?} max {max:?} (target p99 <= 500us, max <= 10ms)"
    );

    // 2. 100k supervised idle actors: spawn time and RSS.
    let rss0 = rss_bytes();
    let (sup, took) = spawn_idle(IDLE, false).await;
    let rss1 = rss_bytes();
    println!(
        "spawn {IDLE} supervised idle actors: {took:?}, RSS {:.1} MiB (+{:.1} MiB, {:.0} B/actor) (target <= 5s, <= 1.5 GiB)",
        rss1 as f64 / 1048576.0,
        (rss1.saturating_sub(rss0)) as f64 / 1048576.0,
        (rss1.saturating_sub(rss0)) as f64 / IDLE as f64
    );
    let t0 = std::time::Instant::now();
    sup.stop_and_wait(None, None).await.expect("stop");
    println!("terminate {IDLE} (ordered, reverse): {:?}", t0.elapsed());
    let (dsup, dtook) = spawn_idle(IDLE, true).await;
    println!("dynamic: start_child x {IDLE}: {dtook:?}");
    let t0 = std::time::Instant::now();
    dsup.stop_and_wait(None, None).await.expect("stop");
    println!("dynamic: terminate {IDLE} (concurrent): {:?}", t0.elapsed());

    // 3. Termination scaling, median of 5.
    let med = |mut v: Vec<Duration>| {
        v.sort_unstable();
        v[v.len() / 2]
    };
    let mut t1k = Vec::new();
    let mut t10k = Vec::new();
    for _ in 0..5 {
        t1k.push(terminate_time(1_000).await);
        t10k.push(terminate_time(10_000).await);
    }
    let (a, b) = (med(t1k), med(t10k));
    println!(
        "terminate 1k: {a:?}, 10k: {b:?}, ratio {:.1}x (target <= 20x)",
        b.as_secs_f64() / a.as_secs_f64()
    );

    // 4. Meltdown: limit crossed → parent sees ActorFailed.
    let mut m = Vec::new();
    for _ in 0..20 {
        m.push(meltdown_latency(1_000).await);
    }
    let (p50, _, max) = percentiles(m);
    println!(
        "meltdown (1k siblings shut down first) → parent ActorFailed: p50 {p50:?} max {max:?} over 20 runs (target <= 100ms)"
    );
}
