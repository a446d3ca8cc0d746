//! Trading-loop load: N PAPER bots on 1-second bars against the in-process sandbox, driven by
//! the real scheduler clock on a 2-worker runtime.
//!
//! ```sh
//! DATABASE_URL=postgres://… cargo run --release --example trading_load -- [bots] [seconds]
//! ```
//! Defaults: 10,000 bots, 60 s. Bots are spread over the six symbols and the three strategy
//! kinds. Reports the scheduler's tick lag (p50/p99/max of fired − boundary over every 1 s
//! tick), evaluations per second against the bots × ticks expected, ticks runners skipped,
//! process RSS, the CPU seconds per evaluation of this process and of the Postgres beside it
//! (comparable at any load, unlike evaluations per second), and, after a clean shutdown,
//! whether Postgres holds exactly one trace per evaluation (decision rows + the counts of
//! folded no-trade rows; a trace refused as stale, from an evaluation run under a lease that
//! lapsed while the node starved, is fenced out and counted apart).
//!
//! The market clock is the wall clock: outside CME hours every evaluation is a MARKET_CLOSED
//! suppression (the run prints the session state); the cost per evaluation is the same.

use std::time::{Duration, Instant};

use futures::StreamExt;
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

fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// CPU seconds (user + system) of one process, from `/proc/<pid>/stat` (clock ticks of 1/100 s).
fn cpu_seconds(pid: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            // Fields after the command name (which may hold spaces) start at `state`.
            let rest = s.rsplit_once(')')?.1;
            let f: Vec<&str> = rest.split_whitespace().collect();
            Some(f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?)
        })
        .map_or(0.0, |ticks| ticks / 100.0)
}

/// CPU seconds of every process on this machine named `postgres` (the database beside us).
fn postgres_cpu_seconds() -> f64 {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|pid| pid.bytes().all(|b| b.is_ascii_digit()))
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|c| c.trim() == "postgres")
        })
        .map(|pid| cpu_seconds(&pid))
        .sum()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

/// `.env.sandbox` pointed at the sandbox's ports.
fn sandbox_env(http: &str, redis: &str) -> anyhow::Result<EnvMap> {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/.env.sandbox"))?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| {
            let v = v
                .replace("127.0.0.1:9400", http)
                .replace("127.0.0.1:9401", redis);
            (k.to_owned(), v)
        })
        .collect())
}

async fn create_bots(pool: &sqlx::PgPool, run: &str, n: u64) -> anyhow::Result<Vec<Uuid>> {
    let ids: Vec<Uuid> = sqlx::query_scalar(
        "INSERT INTO bots (id, name, symbol, timeframe, stage, status, strategy, risk_limits) \
         SELECT gen_random_uuid(), $1 || '-' || i, \
                ($3::text[])[(1 + i % cardinality($3::text[]))::int], '1s', 'PAPER', 'STOPPED', \
                (ARRAY['{\"kind\":\"sma_crossover\",\"params\":{\"fast\":5,\"slow\":20,\"average\":\"sma\"}}', \
                       '{\"kind\":\"donchian_breakout\",\"params\":{\"lookback\":20}}', \
                       '{\"kind\":\"rsi_mean_reversion\",\"params\":{\"period\":14,\"oversold\":30,\"overbought\":70}}'])[1 + i % 3]::jsonb, \
                '{}'::jsonb \
         FROM generate_series(1, $2) AS i RETURNING id",
    )
    .bind(run)
    .bind(i64::try_from(n)?)
    .bind(Symbol::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>())
    .fetch_all(pool)
    .await?;
    Ok(ids)
}

async fn traces_on_record(pool: &sqlx::PgPool, run: &str) -> anyhow::Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM decision_traces d JOIN bots b ON b.id = d.bot_id WHERE b.name LIKE $1 || '-%') \
              + (SELECT COALESCE(sum(n.count), 0) FROM no_trade_traces n JOIN bots b ON b.id = n.bot_id WHERE b.name LIKE $1 || '-%')",
    )
    .bind(run)
    .fetch_one(pool)
    .await?)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let bots = arg(1, 10_000);
    let seconds = arg(2, 60);
    let url = std::env::var("DATABASE_URL")?;
    let pool = tradeplane::store::pool_options().connect(&url).await?;
    tradeplane::store::MIGRATOR.run(&pool).await?;

    let (http, redis) =
        tradeplane::sandbox::bind("127.0.0.1:0".parse()?, "127.0.0.1:0".parse()?).await?;
    let env = sandbox_env(
        &http.local_addr()?.to_string(),
        &redis.local_addr()?.to_string(),
    )?;
    tokio::spawn(tradeplane::sandbox::serve(
        http,
        redis,
        tradeplane::clock::Clock::system(),
    ));

    let run = format!("load-{}", Uuid::now_v7());
    let rss_before = rss_mib();
    let ids = create_bots(&pool, &run, bots).await?;
    let config = RuntimeConfig {
        provider_env: env,
        scheduler: SchedulerConfig {
            timeframes: vec![Timeframe::S1],
            ..SchedulerConfig::default()
        },
        bots_intensity: 100_000,
        ..RuntimeConfig::default()
    };
    let runtime = Runtime::start(pool.clone(), config).await?;
    let rt = runtime.handle();
    let started = Instant::now();
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
    println!(
        "{bots} runners started in {:.1} s ({failures} failed to start); RSS {:.0} MiB → {:.0} MiB",
        started.elapsed().as_secs_f64(),
        rss_before,
        rss_mib()
    );
    let calendar = tradeplane::store::cme_holidays::load_calendar(&pool).await?;
    let session = calendar.is_open(tradeplane::clock::Clock::system().now());
    println!("market session now: {session:?}");

    // Let every runner load its history, then measure a steady window.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let mut ticks = rt.ticks();
    let before = rt.trading_stats();
    let (cpu0, pg0) = (cpu_seconds("self"), postgres_cpu_seconds());
    let t0 = Instant::now();
    let mut lags = Vec::new();
    let mut rss_peak = rss_mib();
    while t0.elapsed() < Duration::from_secs(seconds) {
        match tokio::time::timeout(Duration::from_secs(2), ticks.recv()).await {
            Ok(Ok(t)) if t.timeframe == Timeframe::S1 => {
                let lag = t
                    .fired_at
                    .duration_since(t.bar_at)
                    .unwrap_or_default()
                    .as_secs_f64()
                    * 1000.0;
                lags.push(lag);
                rss_peak = rss_peak.max(rss_mib());
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => println!("tick receiver: {e}"),
            Err(_) => println!("no tick for 2 s"),
        }
    }
    let window = t0.elapsed().as_secs_f64();
    let after = rt.trading_stats();
    let (cpu, pg) = (cpu_seconds("self") - cpu0, postgres_cpu_seconds() - pg0);
    lags.sort_by(f64::total_cmp);
    let evaluations = after.evaluations - before.evaluations;
    let expected = bots * lags.len() as u64;
    println!(
        "scheduler tick lag over {} ticks: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        lags.len(),
        percentile(&lags, 0.5),
        percentile(&lags, 0.99),
        lags.last().copied().unwrap_or(f64::NAN)
    );
    println!(
        "evaluations: {evaluations} in {window:.1} s = {:.0}/s ({:.1}% of {bots} bots × {} ticks); \
         skipped ticks {}; RSS peak {rss_peak:.0} MiB",
        evaluations as f64 / window,
        100.0 * evaluations as f64 / expected.max(1) as f64,
        lags.len(),
        after.skipped_ticks - before.skipped_ticks,
    );
    // The cost of an evaluation, whatever share of the ticks the machine kept up with.
    let per = |seconds: f64| seconds * 1e6 / evaluations.max(1) as f64;
    println!(
        "CPU in the window: this process {cpu:.1} s, postgres {pg:.1} s = {:.0} µs + {:.0} µs per evaluation",
        per(cpu),
        per(pg),
    );
    let telemetry = rt.telemetry_stats();
    let stats = runtime.shutdown().await;
    let final_stats = rt.trading_stats();
    let on_record = traces_on_record(&pool, &run).await?;
    println!(
        "after shutdown: {} evaluations, {on_record} traces on record ({}); no-trade rows {} + folds {}, \
         failed batches {}, refused as stale {}; usage events dropped {} (of {} queued)",
        final_stats.evaluations,
        // A trace refused as stale belongs to an evaluation its node ran under a lease that
        // lapsed meanwhile (a starved node): fenced out, as it must be.
        match (
            i64::try_from(final_stats.evaluations)?
                == on_record + i64::try_from(final_stats.no_trade_refused)?,
            final_stats.no_trade_refused,
        ) {
            (true, 0) => "one per evaluation",
            (true, _) => "one per evaluation but those refused as stale",
            (false, _) => "MISMATCH",
        },
        final_stats.no_trade_rows_inserted,
        final_stats.no_trade_folds,
        final_stats.trace_batches_failed,
        final_stats.no_trade_refused,
        stats.dropped,
        telemetry.queued,
    );
    sqlx::query("DELETE FROM bots WHERE name LIKE $1 || '-%'")
        .bind(&run)
        .execute(&pool)
        .await?;
    Ok(())
}
