//! Load figure: `GET /api/integrations/status` latency with N usage events in the table.
//!
//!   DATABASE_URL=… cargo run --example status_load -- [events=10000000] [requests=2000]
//!
//! Fills `integration_usage_events` (through the real insert trigger, in 1M-row statements,
//! spread over 30 days and 17 providers) unless it already holds that many rows, then serves
//! the real app on a free port and times sequential status requests.

use std::time::{Duration, Instant};

use sqlx::PgPool;
use tradeplane::{
    api::{self, AppState},
    config::Config,
    integrations::registry::EnvMap,
    store,
};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let events = args.first().copied().unwrap_or(10_000_000);
    let requests = args.get(1).copied().unwrap_or(2000);
    let url = std::env::var("DATABASE_URL")?;
    let pool = store::connect(&url).await?;
    store::migrate(&pool).await?;
    fill(&pool, events).await?;

    let state = AppState::with_env(pool.clone(), Config::default(), &EnvMap::new());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, api::app(state)).await });
    let client = reqwest::Client::new();
    let url = format!("http://{addr}/api/integrations/status");
    for _ in 0..50 {
        client.get(&url).send().await?.bytes().await?;
    }
    let mut times = Vec::with_capacity(requests as usize);
    for _ in 0..requests {
        let t = Instant::now();
        let res = client.get(&url).send().await?;
        anyhow::ensure!(res.status() == 200, "status {}", res.status());
        res.bytes().await?;
        times.push(t.elapsed());
    }
    times.sort();
    let pct = |p: f64| times[((times.len() as f64 * p) as usize).min(times.len() - 1)];
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "status over {events} usage events, {requests} requests: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        ms(pct(0.50)),
        ms(pct(0.99)),
        ms(*times.last().unwrap_or(&Duration::ZERO))
    );
    Ok(())
}

async fn fill(pool: &PgPool, target: u64) -> anyhow::Result<()> {
    let have: i64 = sqlx::query_scalar("SELECT count(*) FROM integration_usage_events")
        .fetch_one(pool)
        .await?;
    let mut have = u64::try_from(have)?;
    let started = Instant::now();
    while have < target {
        let n = (target - have).min(1_000_000) as i64;
        sqlx::query(
            "INSERT INTO integration_usage_events \
             (id, created_at, provider_id, action, status, latency_ms, error_code, trace_id, metadata) \
             SELECT gen_random_uuid(), now() - (random() * interval '30 days'), \
                    (ARRAY['databento','polygon','finnhub','alphavantage','fmp','fred','ironbeam','tradovate', \
                           'openai','anthropic','google_gemini','groq','xai','openrouter','unusual_whales', \
                           'redis','discord'])[1 + (g % 17)], \
                    'bars.fetch', CASE WHEN g % 50 = 0 THEN 'ERROR' ELSE 'OK' END, (g % 300)::int, \
                    CASE WHEN g % 50 = 0 THEN 'TIMEOUT' END, md5(g::text), '{}'::jsonb \
             FROM generate_series(1, $1::bigint) g",
        )
        .bind(n)
        .execute(pool)
        .await?;
        have += n as u64;
        println!(
            "filled {have} events ({:.0} s)",
            started.elapsed().as_secs_f64()
        );
    }
    sqlx::query("ANALYZE integration_usage_events")
        .execute(pool)
        .await?;
    sqlx::query("ANALYZE integration_usage_minutely")
        .execute(pool)
        .await?;
    Ok(())
}
