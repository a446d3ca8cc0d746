//! Telemetry ingest load: usage events through the real `TelemetryWriter` into Postgres on a
//! 2-worker runtime, then the rows are counted (zero loss means rows == events sent).
//!
//! ```sh
//! DATABASE_URL=postgres://… cargo run --release --example telemetry_load -- [rate] [seconds]
//! ```
//! Phase 1 paces producers at `rate` events/s (default 50,000) for `seconds` (default 10) and
//! reports drops and the time until every row is in. Phase 2 pushes 1,000,000 events as fast
//! as the buffer accepts them (producers wait for room rather than drop) to find the ceiling.

use std::time::{Duration, Instant};

use tradeplane::clock::Clock;
use tradeplane::runtime::{TelemetryConfig, TelemetryWriter};
use tradeplane::store::usage_events::{UsageEvent, UsageStatus};
use uuid::Uuid;

/// `TELEMETRY_BATCH` overrides the batch size (default: the writer's default).
fn config() -> TelemetryConfig {
    let mut c = TelemetryConfig::default();
    if let Some(n) = std::env::var("TELEMETRY_BATCH")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        c.batch_max = n;
    }
    c
}

fn event(clock: &Clock, tag: &str, i: u64) -> UsageEvent {
    let mut e = UsageEvent::new(
        tag,
        "bars.fetch",
        UsageStatus::Ok,
        (i % 200) as u32,
        clock.now(),
    );
    if i.is_multiple_of(10) {
        e.bot_id = Some(Uuid::now_v7());
    }
    e
}

async fn count(pool: &sqlx::PgPool, tag: &str) -> anyhow::Result<i64> {
    Ok(
        sqlx::query_scalar("SELECT count(*) FROM integration_usage_events WHERE provider_id = $1")
            .bind(tag)
            .fetch_one(pool)
            .await?,
    )
}

async fn paced(pool: &sqlx::PgPool, rate: u64, seconds: u64) -> anyhow::Result<()> {
    let tag = format!("load-{}", Uuid::now_v7());
    let writer = TelemetryWriter::start(pool.clone(), config(), Clock::system());
    let t = writer.handle();
    let total = rate * seconds;
    let per_ms = rate / 1000;
    let start = Instant::now();
    let mut sent = 0u64;
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    while sent < total {
        tick.tick().await;
        for _ in 0..per_ms {
            t.usage(event(t.clock(), &tag, sent));
            sent += 1;
        }
    }
    let produced_in = start.elapsed();
    // Wait until the writer has caught up (without stopping it).
    while t.stats().written_usage + t.stats().dropped < total {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let caught_up = start.elapsed();
    let stats = writer.shutdown().await;
    let rows = count(pool, &tag).await?;
    println!(
        "paced: {total} events at {rate}/s, produced in {:.2} s, all written after {:.2} s \
         → sustained {:.0} rows/s; rows counted {rows}, dropped {}, failed writes {}",
        produced_in.as_secs_f64(),
        caught_up.as_secs_f64(),
        rows as f64 / caught_up.as_secs_f64(),
        stats.dropped,
        stats.failed_writes,
    );
    anyhow::ensure!(rows as u64 == total && stats.dropped == 0, "loss detected");
    Ok(())
}

async fn flat_out(pool: &sqlx::PgPool, total: u64) -> anyhow::Result<()> {
    let tag = format!("load-{}", Uuid::now_v7());
    let writer = TelemetryWriter::start(pool.clone(), config(), Clock::system());
    let t = writer.handle();
    let start = Instant::now();
    let mut sent = 0u64;
    while sent < total {
        if t.free_capacity() == 0 {
            tokio::time::sleep(Duration::from_micros(200)).await;
            continue;
        }
        t.usage(event(t.clock(), &tag, sent));
        sent += 1;
        if sent.is_multiple_of(1024) {
            tokio::task::yield_now().await;
        }
    }
    let stats = writer.shutdown().await;
    let elapsed = start.elapsed();
    let rows = count(pool, &tag).await?;
    println!(
        "flat out: {total} events written in {:.2} s → {:.0} rows/s; rows counted {rows}, dropped {}",
        elapsed.as_secs_f64(),
        rows as f64 / elapsed.as_secs_f64(),
        stats.dropped
    );
    anyhow::ensure!(rows as u64 == total && stats.dropped == 0, "loss detected");
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let rate: u64 = args
        .next()
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(50_000);
    let seconds: u64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(10);
    let url = std::env::var("DATABASE_URL")
        .map_err(|_| anyhow::anyhow!("set DATABASE_URL (e.g. from `tradeplane db start`)"))?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async {
        let pool = tradeplane::store::connect(&url).await?;
        tradeplane::store::migrate(&pool).await?;
        paced(&pool, rate, seconds).await?;
        flat_out(&pool, 1_000_000).await?;
        pool.close().await;
        Ok(())
    })
}
