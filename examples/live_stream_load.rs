//! Live-stream latency (issue 16): N PAPER bots on 1-second bars fed by Databento's live
//! stream from the in-process sandbox gateway; for every bar boundary, the time from the bar's
//! arrival on the stream (decoded by the live client) to the moment every bot's evaluation of
//! that boundary is done, plus the vendor subscriptions the run needed.
//!
//! ```sh
//! DATABASE_URL=postgres://… cargo run --release --example live_stream_load -- [bots] [seconds]
//! ```
//! Defaults: 1,000 bots, 60 s, spread in turn over the ten roots the product trades
//! (`Symbol::ALL`: ES, NQ, MES, MNQ, RTY, YM, M2K, MYM, EMD, NKD; one `ohlcv-1s` subscription
//! each). The clock is shifted to an ordinary session (Tuesday 2026-11-17 15:00 UTC) and runs
//! at wall speed, so the market is open.
//!
//! Measurement: a sampler thread reads the runtime's evaluation counter every 50 µs (the
//! counter first, then the time: a sample stamped before an arrival was read before it); a
//! boundary's bars arrive together (one gateway write); the boundary is done when the counter
//! has grown by N since its first bar arrived (every bot evaluates once per boundary, after its
//! bar: a read of a streamed series waits for it). Checked, not assumed: each boundary's
//! baseline must be the first one's plus N per boundary since (`baseline off` counts those
//! that are not: an evaluation of the boundary before its bar, or one of the previous boundary
//! still running). The figures are also split by whether the boundary wrote orders (a PAPER
//! decision writes its order and decision trace in one transaction, the next bar's fill its
//! own; both inside the evaluation) or only no-trade traces (queued to the batch writer).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use chrono::TimeZone;
use futures::StreamExt;
use tradeplane::clock::Clock;
use tradeplane::domain::{instruments::Symbol, timeframe::Timeframe};
use tradeplane::integrations::registry::EnvMap;
use tradeplane::runtime::{RunnerOptions, Runtime, RuntimeConfig, SchedulerConfig};
use uuid::Uuid;

fn arg(i: usize, default: u64) -> u64 {
    std::env::args()
        .nth(i)
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

/// `.env.sandbox` pointed at the sandbox's ports.
fn sandbox_env(http: &str, redis: &str, live: &str) -> anyhow::Result<EnvMap> {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/.env.sandbox"))?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| {
            let v = v
                .replace("127.0.0.1:9400", http)
                .replace("127.0.0.1:9401", redis)
                .replace("127.0.0.1:9402", live);
            (k.to_owned(), v)
        })
        .collect())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let bots = arg(1, 1_000);
    let seconds = arg(2, 60);
    let url = std::env::var("DATABASE_URL")?;
    let pool = tradeplane::store::pool_options().connect(&url).await?;
    tradeplane::store::MIGRATOR.run(&pool).await?;

    let clock = Clock::starting_at(
        chrono::Utc
            .with_ymd_and_hms(2026, 11, 17, 15, 0, 0)
            .unwrap(),
    );
    let (http, redis) =
        tradeplane::sandbox::bind("127.0.0.1:0".parse()?, "127.0.0.1:0".parse()?).await?;
    let gateway = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let env = sandbox_env(
        &http.local_addr()?.to_string(),
        &redis.local_addr()?.to_string(),
        &gateway.local_addr()?.to_string(),
    )?;
    tokio::spawn(tradeplane::sandbox::serve_with_live(
        http,
        redis,
        gateway,
        clock.clone(),
    ));

    let run = format!("live-{}", Uuid::now_v7());
    let roots: Vec<String> = Symbol::ALL.iter().map(|s| s.as_str().to_owned()).collect();
    let ids: Vec<Uuid> = sqlx::query_scalar(
        "INSERT INTO bots (id, name, symbol, timeframe, stage, status, strategy, risk_limits) \
         SELECT gen_random_uuid(), $1 || '-' || i, \
                ($3::text[])[(1 + i % cardinality($3::text[]))::int], '1s', 'PAPER', 'STOPPED', \
                '{\"kind\":\"sma_crossover\",\"params\":{\"fast\":5,\"slow\":20,\"average\":\"sma\"}}'::jsonb, \
                '{}'::jsonb \
         FROM generate_series(1, $2) AS i RETURNING id",
    )
    .bind(&run)
    .bind(i64::try_from(bots)?)
    .bind(roots)
    .fetch_all(&pool)
    .await?;
    let config = RuntimeConfig {
        provider_env: env,
        clock: clock.clone(),
        scheduler: SchedulerConfig {
            timeframes: vec![Timeframe::S1],
            ..SchedulerConfig::default()
        },
        bots_intensity: 100_000,
        ..RuntimeConfig::default()
    };
    let runtime = Runtime::start(pool.clone(), config).await?;
    let rt = runtime.handle();
    let live = rt
        .live_stream()
        .ok_or_else(|| anyhow::anyhow!("no live stream"))?;
    let options = RunnerOptions {
        timeframe: Timeframe::S1,
        live: false,
    };
    let failures = futures::stream::iter(ids.iter().copied())
        .map(|id| {
            let rt = rt.clone();
            async move { rt.start_runner(id, options).await.is_err() }
        })
        .buffer_unordered(64)
        .filter(|failed| std::future::ready(*failed))
        .count()
        .await;
    println!("{bots} runners started ({failures} failed to start)");

    // Warm-up: every series subscribed and streaming.
    tokio::time::sleep(Duration::from_secs(8)).await;

    // The sampler: (when, evaluations) every 50 µs.
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (rt, stop) = (rt.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut samples: Vec<(Instant, u64)> = Vec::with_capacity(2_000_000);
            while !stop.load(Ordering::Relaxed) {
                let evaluations = rt.trading_stats().evaluations;
                samples.push((Instant::now(), evaluations));
                std::thread::sleep(Duration::from_micros(50));
            }
            samples
        })
    };
    let mut arrivals = live.arrivals();
    let mut firsts: Vec<(chrono::DateTime<chrono::Utc>, Instant)> = Vec::new();
    let before = rt.trading_stats();
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(seconds) {
        match tokio::time::timeout(Duration::from_secs(2), arrivals.recv()).await {
            Ok(Ok(a)) if firsts.last().is_none_or(|(ts, _)| a.ts_open > *ts) => {
                firsts.push((a.ts_open, a.at));
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => println!("arrivals: {e}"),
            Err(_) => println!("no bar for 2 s"),
        }
    }
    // Let the last boundary finish.
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::Relaxed);
    let samples = sampler.join().map_err(|_| anyhow::anyhow!("sampler"))?;
    let after = rt.trading_stats();
    let count_at = |t: Instant| {
        let i = samples.partition_point(|(s, _)| *s <= t);
        samples[i.saturating_sub(1)].1
    };
    // Orders written at each boundary: decided on the bar that opened at `ts` (placed when it
    // closed) or filled at the open of the next one (decided on the bar before).
    let decided: Vec<(chrono::DateTime<chrono::Utc>, i64)> = sqlx::query_as(
        "SELECT decision_bar_at, count(*) FROM orders WHERE bot_id = ANY($1) \
         AND decision_bar_at IS NOT NULL GROUP BY 1",
    )
    .bind(&ids)
    .fetch_all(&pool)
    .await?;
    let decided_at = |ts: chrono::DateTime<chrono::Utc>| -> i64 {
        decided
            .iter()
            .filter(|(at, _)| *at == ts)
            .map(|(_, n)| n)
            .sum()
    };
    // (placed, filled) at the boundary of the bar that opened at `ts`.
    let writes_at = |ts: chrono::DateTime<chrono::Utc>| {
        (
            decided_at(ts),
            decided_at(ts - chrono::Duration::seconds(1)),
        )
    };
    let orders_at = |ts: chrono::DateTime<chrono::Utc>| {
        let (placed, filled) = writes_at(ts);
        placed + filled
    };
    let mut latencies = Vec::new();
    let mut slowest: Vec<(f64, i64, i64)> = Vec::new();
    let (mut with_orders, mut without) = (Vec::new(), Vec::new());
    let mut incomplete = 0;
    let mut baseline_off = 0;
    let first = firsts.first().map(|(_, at)| count_at(*at));
    for (k, (ts, arrived)) in firsts.iter().enumerate() {
        let base = count_at(*arrived);
        if first.is_some_and(|f| base != f + bots * k as u64) {
            baseline_off += 1;
        }
        let target = base + bots;
        match samples.iter().find(|(s, n)| s >= arrived && *n >= target) {
            Some((done, _)) => {
                let ms = done.duration_since(*arrived).as_secs_f64() * 1000.0;
                latencies.push(ms);
                let (placed, filled) = writes_at(*ts);
                slowest.push((ms, placed, filled));
                if orders_at(*ts) > 0 {
                    with_orders.push(ms);
                } else {
                    without.push(ms);
                }
            }
            None => incomplete += 1,
        }
    }
    for v in [&mut latencies, &mut with_orders, &mut without] {
        v.sort_by(f64::total_cmp);
    }
    let figure = |v: &[f64]| {
        format!(
            "p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            percentile(v, 0.5),
            percentile(v, 0.99),
            v.last().copied().unwrap_or(f64::NAN)
        )
    };
    println!(
        "arrival → all {bots} evaluations done over {} boundaries: {} ({incomplete} boundaries \
         not complete, {baseline_off} baseline off)",
        latencies.len(),
        figure(&latencies),
    );
    println!(
        "  {} boundaries writing orders ({} orders placed or filled): {}",
        with_orders.len(),
        firsts.iter().map(|(ts, _)| orders_at(*ts)).sum::<i64>(),
        figure(&with_orders),
    );
    println!(
        "  {} boundaries of no-trade traces only: {}",
        without.len(),
        figure(&without)
    );
    slowest.sort_by(|a, b| b.0.total_cmp(&a.0));
    println!(
        "  slowest boundaries (ms, orders placed, orders filled): {}",
        slowest
            .iter()
            .take(5)
            .map(|(ms, p, f)| format!("{ms:.1} ({p}, {f})"))
            .collect::<Vec<_>>()
            .join("; ")
    );
    println!(
        "PAPER orders and fills: {} writes in {} group commits ({} written alone)",
        after.paper_writes - before.paper_writes,
        after.paper_batches - before.paper_batches,
        after.paper_alone - before.paper_alone,
    );
    println!(
        "vendor: {} subscriptions (one per symbol × schema), {} connects; bars {}, gap fills {}, \
         duplicates {}; evaluations {} ({} skipped ticks, {} fenced ticks)",
        live.subscriptions(),
        live.stats.connects.load(Ordering::Relaxed),
        live.stats.bars.load(Ordering::Relaxed),
        live.stats.gap_fills.load(Ordering::Relaxed),
        live.stats.duplicates.load(Ordering::Relaxed),
        after.evaluations - before.evaluations,
        after.skipped_ticks - before.skipped_ticks,
        rt.ownership().map_or(0, |o| o.stats().fenced_ticks),
    );
    runtime.shutdown().await;
    sqlx::query("DELETE FROM bots WHERE name LIKE $1 || '-%'")
        .bind(&run)
        .execute(&pool)
        .await?;
    Ok(())
}
