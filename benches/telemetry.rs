//! Criterion benches of telemetry ingest (group `telemetry/*`). They need a database:
//! `DATABASE_URL=… cargo bench --bench telemetry`; without one they print why and do nothing.

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use tradeplane::clock::Clock;
use tradeplane::runtime::{TelemetryConfig, TelemetryWriter};
use tradeplane::store::usage_events::{self, UsageEvent, UsageStatus};

fn events(n: u64) -> Vec<UsageEvent> {
    let clock = Clock::system();
    (0..n)
        .map(|i| {
            UsageEvent::new(
                "bench",
                "bars.fetch",
                UsageStatus::Ok,
                (i % 200) as u32,
                clock.now(),
            )
        })
        .collect()
}

fn telemetry(c: &mut Criterion) {
    let Ok(url) = std::env::var("DATABASE_URL") else {
        eprintln!("telemetry benches skipped: set DATABASE_URL");
        return;
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let pool = rt.block_on(async {
        let pool = tradeplane::store::connect(&url).await.expect("connect");
        tradeplane::store::migrate(&pool).await.expect("migrate");
        pool
    });
    let mut group = c.benchmark_group("telemetry");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    // One multi-row statement of 5,000 usage events.
    group.bench_function("insert_many/5000", |b| {
        b.to_async(&rt).iter(|| {
            let pool = pool.clone();
            async move {
                usage_events::insert_many(&pool, &events(5_000))
                    .await
                    .expect("insert")
            }
        })
    });
    // The writer end to end: 100,000 events queued, then shutdown (everything flushed).
    group.bench_function("writer/100k_events", |b| {
        b.to_async(&rt).iter(|| {
            let pool = pool.clone();
            async move {
                let writer =
                    TelemetryWriter::start(pool, TelemetryConfig::default(), Clock::system());
                let t = writer.handle();
                for e in events(100_000) {
                    assert!(t.usage(e));
                }
                let stats = writer.shutdown().await;
                assert_eq!(stats.written_usage, 100_000);
            }
        })
    });
    group.finish();
}

criterion_group!(benches, telemetry);
criterion_main!(benches);
