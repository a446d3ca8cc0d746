//! Load figure: `GET /api/integrations/status` latency with N usage events in the table.
//!
//!   DATABASE_URL=… cargo run --example status_load -- [events=10000000] [requests=2000]
//!
//! Fills `integration_usage_events` (through the real insert trigger, in 1M-row statements,
//! spread over 30 days and 17 providers) unless it already holds that many rows, then serves
//! the real app on a free port and times sequential status requests.

#[path = "support/usage_fill.rs"]
mod usage_fill;

use std::time::{Duration, Instant};

use tradeplane::{
    api::{self, AppState},
    config::Config,
    integrations::registry::EnvMap,
    runtime::RuntimeHandle,
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
    usage_fill::fill(&pool, events, &[]).await?;

    // Plain-http cookies: the load goes through the real session guard, as a browser's would.
    let mut config = Config::default();
    config.auth.insecure_cookies = true;
    let state = AppState::with_env(
        pool.clone(),
        config,
        RuntimeHandle::detached(tradeplane::clock::Clock::system()),
        &EnvMap::new(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let app = api::app(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let client = signed_in_client(&format!("http://{addr}")).await?;
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

/// Registers the first admin (or reuses it) and returns a client sending its session cookie.
async fn signed_in_client(base: &str) -> anyhow::Result<reqwest::Client> {
    let plain = reqwest::Client::new();
    let credentials =
        serde_json::json!({ "email": "load@example.com", "password": "status load password" });
    // 201 on an empty database; FORBIDDEN once a user exists (then the login below decides).
    plain
        .post(format!("{base}/api/auth/register"))
        .json(&credentials)
        .send()
        .await?;
    let res = plain
        .post(format!("{base}/api/auth/login"))
        .json(&credentials)
        .send()
        .await?;
    anyhow::ensure!(res.status() == 200, "login failed: {}", res.status());
    let cookie = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .filter(|pair| pair.contains("session="))
        .collect::<Vec<_>>()
        .join("; ");
    anyhow::ensure!(!cookie.is_empty(), "no session cookie");
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(reqwest::header::COOKIE, cookie.parse()?);
    Ok(reqwest::Client::builder()
        .default_headers(headers)
        .build()?)
}
