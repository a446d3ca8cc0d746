//! Criterion benches (means). Per-event percentiles and RSS come from
//! `examples/supervision_load.rs`, which shares `support`.

mod support;

use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use support::*;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn restart(c: &mut Criterion) {
    let rt = runtime();
    let mut g = c.benchmark_group("supervision/restart");
    g.sample_size(20).measurement_time(Duration::from_secs(3));
    let mut rig = rt.block_on(RestartRig::new(10_000));
    // Measures failure → replacement post_start, as timed inside the actors.
    g.bench_function("latency_10k_siblings", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    total += rig.restart_once().await;
                }
                total
            })
        })
    });
    g.finish();
    rt.block_on(rig.stop());
}

fn spawn_and_terminate(c: &mut Criterion) {
    let rt = runtime();
    let mut g = c.benchmark_group("supervision/spawn");
    g.sample_size(10).measurement_time(Duration::from_secs(5));
    for n in [1_000usize, 10_000] {
        g.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, &n| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let (sup, took) = spawn_idle(n, false).await;
                        total += took;
                        let _ = sup.stop_and_wait(None, None).await;
                    }
                    total
                })
            })
        });
    }
    g.finish();

    let mut g = c.benchmark_group("supervision/terminate");
    g.sample_size(10).measurement_time(Duration::from_secs(5));
    for n in [1_000usize, 10_000] {
        g.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, &n| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        total += terminate_time(n).await;
                    }
                    total
                })
            })
        });
    }
    g.finish();
}

fn meltdown(c: &mut Criterion) {
    let rt = runtime();
    let mut g = c.benchmark_group("supervision/meltdown");
    g.sample_size(10).measurement_time(Duration::from_secs(3));
    g.bench_function("detect_and_escalate_1k_siblings", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    total += meltdown_latency(1_000).await;
                }
                total
            })
        })
    });
    g.finish();
}

criterion_group!(benches, restart, spawn_and_terminate, meltdown);
criterion_main!(benches);
