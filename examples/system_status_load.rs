//! Load figure: `GET /api/system/status` at a fixed request rate with N bots and M usage events,
//! over the real supervision tree (the autonomy scorer scoring every bot in the background).
//!
//!   DATABASE_URL=… cargo run --release --example system_status_load -- [bots=1000] \
//!       [events=10000000] [rate=500] [seconds=20]
//!
//! Fills the usage-event table (10 % of events carry one of the bots), creates the bots, starts
//! the runtime and the app, waits for the first full scoring pass, then fires requests at
//! `rate`/s open-loop (a request is sent on schedule whether or not earlier ones answered) and
//! reports latency percentiles of the full HTTP round trip.

#[path = "support/usage_fill.rs"]
mod usage_fill;

use std::time::{Duration, Instant};

use tradeplane::{
    api::{self, AppState},
    config::Config,
    runtime::{Runtime, RuntimeConfig},
    store,
};
use uuid::Uuid;

fn arg(i: usize, default: u64) -> u64 {
    std::env::args()
        .nth(i)
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let (bots, events, rate, seconds) = (arg(1, 1000), arg(2, 10_000_000), arg(3, 500), arg(4, 20));
    let url = std::env::var("DATABASE_URL")?;
    let pool = store::connect(&url).await?;
    store::migrate(&pool).await?;

    let have: i64 = sqlx::query_scalar("SELECT count(*) FROM bots")
        .fetch_one(&pool)
        .await?;
    if have < i64::try_from(bots)? {
        sqlx::query(
            "INSERT INTO bots (id, name, symbol, timeframe, stage, status, strategy, risk_limits) \
             SELECT gen_random_uuid(), 'status-load-' || i || '-' || $2, 'ES', '1m', 'PAPER', 'STOPPED', \
                    '{\"kind\":\"sma_crossover\",\"params\":{\"fast\":5,\"slow\":20,\"average\":\"sma\"}}', '{}' \
             FROM generate_series(1, $1) AS i",
        )
        .bind(i64::try_from(bots)? - have)
        .bind(Uuid::now_v7().to_string())
        .execute(&pool)
        .await?;
    }
    let ids: Vec<Uuid> = sqlx::query_scalar("SELECT id FROM bots")
        .fetch_all(&pool)
        .await?;
    usage_fill::fill(&pool, events, &ids).await?;

    let runtime = Runtime::start(pool.clone(), RuntimeConfig::default()).await?;
    let handle = runtime.handle();
    let state = AppState::new(pool.clone(), Config::default(), handle.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let app = api::app(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, app).await });

    // The first scoring pass over every bot (it reads the event table).
    let started = Instant::now();
    while handle.tiers().counts().values().sum::<usize>() < ids.len() {
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(600),
            "the scorer did not finish a pass"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!(
        "first scoring pass over {} bots took {:.1} s",
        ids.len(),
        started.elapsed().as_secs_f64()
    );

    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()?;
    let target = format!("http://{addr}/api/system/status");
    for _ in 0..100 {
        client.get(&target).send().await?.bytes().await?;
    }
    let total = rate * seconds;
    let gap = Duration::from_secs_f64(1.0 / rate as f64);
    let mut tasks = Vec::with_capacity(total as usize);
    let t0 = tokio::time::Instant::now();
    for i in 0..total {
        tokio::time::sleep_until(t0 + gap * u32::try_from(i)?).await;
        let (client, target) = (client.clone(), target.clone());
        tasks.push(tokio::spawn(async move {
            let t = Instant::now();
            let res = client.get(&target).send().await.ok()?;
            let ok = res.status() == 200;
            res.bytes().await.ok()?;
            ok.then(|| t.elapsed())
        }));
    }
    let mut times = Vec::with_capacity(tasks.len());
    let mut failed = 0;
    for t in tasks {
        match t.await? {
            Some(d) => times.push(d),
            None => failed += 1,
        }
    }
    let elapsed = t0.elapsed();
    times.sort();
    let pct = |p: f64| times[((times.len() as f64 * p) as usize).min(times.len() - 1)];
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let (_, body): (u16, serde_json::Value) = {
        let res = client.get(&target).send().await?;
        (res.status().as_u16(), res.json().await?)
    };
    println!(
        "{} requests at {rate}/s in {:.1} s ({failed} failed) with {} bots, {events} usage events: \
         p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; status {} tiers {}",
        times.len(),
        elapsed.as_secs_f64(),
        ids.len(),
        ms(pct(0.50)),
        ms(pct(0.99)),
        ms(*times.last().unwrap_or(&Duration::ZERO)),
        body["system_status"],
        body["bots"]["byAutonomyTier"],
    );
    runtime.shutdown().await;
    Ok(())
}
