//! Decision → order request on the wire, p50/p99/max (issue 17 figure; target p99 ≤ 1 ms
//! excluding network): LIVE bots on the in-process broker simulator, whose listener stamps each
//! placement as it arrives (`support/live_stack.rs` says exactly what is measured).
//!
//! ```sh
//! DATABASE_URL=postgres://… cargo run --release --example order_wire_latency -- \
//!     [vendor=ironbeam] [orders=200] [bots=3] [pace_ms=250] [commit=sync|async]
//! ```
//! Runs in a database of its own (created, migrated, dropped). `pace_ms` is the pause after
//! each replayed tick, so the vendor's request budget (Ironbeam 8 per second, Tradovate 80 per
//! minute, shared with the fills polling) is never what an order waits for. `commit=async`
//! runs that database with `synchronous_commit = off` — NOT how the product runs (the
//! write-ahead must be on disk before the send) — to show how much of the figure is the WAL
//! flush of the write-ahead's commit.

// Each example uses part of the shared stack.
#[allow(dead_code)]
#[path = "support/live_stack.rs"]
mod live_stack;

use std::time::Duration;

fn arg<T: std::str::FromStr>(i: usize, default: T) -> T {
    std::env::args()
        .nth(i)
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let vendor: &'static str = match arg(1, "ironbeam".to_owned()).as_str() {
        "tradovate" => "tradovate",
        _ => "ironbeam",
    };
    let orders: usize = arg(2, 200);
    let bots: usize = arg(3, 3);
    let pace = Duration::from_millis(arg(4, 250));
    let async_commit = arg(5, "sync".to_owned()) == "async";
    let url = std::env::var("DATABASE_URL")?;
    let admin = sqlx::PgPool::connect(&url).await?;
    let db = format!("wire_{}", uuid::Uuid::now_v7().simple());
    sqlx::query(&format!("CREATE DATABASE {db}"))
        .execute(&admin)
        .await?;
    if async_commit {
        sqlx::query(&format!("ALTER DATABASE {db} SET synchronous_commit = off"))
            .execute(&admin)
            .await?;
    }
    let mut db_url = url::Url::parse(&url)?;
    db_url.set_path(&db);
    let pool = tradeplane::store::pool_options()
        .connect(db_url.as_str())
        .await?;
    tradeplane::store::MIGRATOR.run(&pool).await?;
    println!(
        "load average before: {}",
        std::fs::read_to_string("/proc/loadavg")?.trim()
    );

    let stack = live_stack::start(pool.clone(), vendor, bots).await?;
    let samples = stack.run(orders, pace).await?;
    let mut lat: Vec<Duration> = samples.iter().map(|s| s.latency).collect();
    lat.sort();
    let ahead = samples.iter().filter(|s| s.write_ahead_before_send).count();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{vendor}, {bots} LIVE bots, commit {}, {} orders: decision → request at the listener p50 {:.3} ms, \
         p90 {:.3} ms, p99 {:.3} ms, max {:.3} ms; {ahead}/{} with the write-ahead SENDING committed first",
        if async_commit { "async" } else { "sync" },
        lat.len(),
        ms(live_stack::percentile(&lat, 0.5)),
        ms(live_stack::percentile(&lat, 0.9)),
        ms(live_stack::percentile(&lat, 0.99)),
        ms(lat.last().copied().unwrap_or_default()),
        samples.len(),
    );
    println!(
        "load average after: {}",
        std::fs::read_to_string("/proc/loadavg")?.trim()
    );
    stack.runtime.shutdown().await;
    pool.close().await;
    sqlx::query(&format!("DROP DATABASE {db} WITH (FORCE)"))
        .execute(&admin)
        .await?;
    Ok(())
}
