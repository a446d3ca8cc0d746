//! Login timing: does an unknown email answer in the same time as a known email with a wrong
//! password (ASVS 6.3.8; target: p95 difference < 5 ms over 1,000 tries each)?
//!
//! `DATABASE_URL=… cargo run --release --example login_timing [tries]`
//! Creates a scratch database next to DATABASE_URL's, serves the real app in-process on a
//! random port, registers one admin, then alternates 1,000 (default) logins with an unknown
//! email and 1,000 with the admin's email and a wrong password, over HTTP. The throttle table
//! is cleared before each try so every attempt reaches the password check (otherwise the
//! growing delays would answer `RATE_LIMITED` early, which is the point in production).

use std::{net::SocketAddr, time::Instant};

use sqlx::{Connection, PgConnection};
use tradeplane::{api, config::Config, store};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let tries: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1000);
    let base_url = std::env::var("DATABASE_URL")?;
    let scratch = format!("login_timing_{}", uuid::Uuid::now_v7().simple());
    let mut admin = PgConnection::connect(&base_url).await?;
    sqlx::query(&format!("CREATE DATABASE {scratch}"))
        .execute(&mut admin)
        .await?;
    let (prefix, _) = base_url
        .rsplit_once('/')
        .ok_or_else(|| anyhow::anyhow!("DATABASE_URL has no database name"))?;
    let pool = store::connect(&format!("{prefix}/{scratch}")).await?;
    store::migrate(&pool).await?;

    let mut config = Config::default();
    config.auth.insecure_cookies = true;
    let state = api::AppState::with_env(
        pool.clone(),
        config,
        tradeplane::runtime::RuntimeHandle::detached(tradeplane::clock::Clock::system()),
        &tradeplane::integrations::registry::EnvMap::new(),
    );
    tradeplane::auth::password::warm_up().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let app = api::app(state).into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let client = reqwest::Client::new();
    let url = format!("http://{addr}/api/auth/login");
    let register = client
        .post(format!("http://{addr}/api/auth/register"))
        .json(&serde_json::json!({ "email": "admin@example.com", "password": "correct horse battery staple" }))
        .send()
        .await?;
    anyhow::ensure!(register.status() == 201, "register failed");

    let mut unknown = Vec::with_capacity(tries);
    let mut wrong = Vec::with_capacity(tries);
    for i in 0..tries * 2 {
        sqlx::query("DELETE FROM auth_throttle")
            .execute(&pool)
            .await?;
        let email = if i % 2 == 0 {
            format!("nobody{i}@example.com")
        } else {
            "admin@example.com".to_owned()
        };
        let started = Instant::now();
        let res = client
            .post(&url)
            .json(&serde_json::json!({ "email": email, "password": "not the right password" }))
            .send()
            .await?;
        let status = res.status();
        let _ = res.bytes().await?;
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        anyhow::ensure!(status == 401, "expected 401, got {status}");
        if i % 2 == 0 {
            unknown.push(ms);
        } else {
            wrong.push(ms);
        }
    }
    pool.close().await;
    sqlx::query(&format!("DROP DATABASE {scratch} WITH (FORCE)"))
        .execute(&mut admin)
        .await?;

    let report = |name: &str, v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        let q = |p: f64| v[((v.len() as f64 - 1.0) * p).round() as usize];
        println!(
            "{name:<15} n={} p50={:.2} ms p95={:.2} ms p99={:.2} ms max={:.2} ms",
            v.len(),
            q(0.5),
            q(0.95),
            q(0.99),
            q(1.0)
        );
        q(0.95)
    };
    let p95_unknown = report("unknown email", &mut unknown);
    let p95_wrong = report("wrong password", &mut wrong);
    let diff = (p95_unknown - p95_wrong).abs();
    println!(
        "p95 difference {diff:.2} ms (target < 5 ms): {}",
        if diff < 5.0 { "met" } else { "NOT met" }
    );
    Ok(())
}
