//! Cost of the usage rollup trigger on batched inserts (`store::usage_events::insert_many`,
//! the path the telemetry writer uses), with the trigger on and then off.
//!
//!   DATABASE_URL=… cargo run --example usage_insert_load -- [events=200000] [batch=1000]

use std::time::Instant;

use tradeplane::store::{
    self,
    usage_events::{UsageEvent, UsageStatus, insert_many},
};

const PROVIDERS: [&str; 17] = [
    "databento",
    "polygon",
    "finnhub",
    "alphavantage",
    "fmp",
    "fred",
    "ironbeam",
    "tradovate",
    "openai",
    "anthropic",
    "google_gemini",
    "groq",
    "xai",
    "openrouter",
    "unusual_whales",
    "redis",
    "discord",
];

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let total = args.first().copied().unwrap_or(200_000);
    let batch = args.get(1).copied().unwrap_or(1000);
    let pool = store::connect(&std::env::var("DATABASE_URL")?).await?;
    store::migrate(&pool).await?;
    for (label, enabled) in [
        ("trigger on", true),
        ("trigger off", false),
        ("trigger on", true),
    ] {
        let toggle = if enabled { "ENABLE" } else { "DISABLE" };
        sqlx::query(&format!(
            "ALTER TABLE integration_usage_events {toggle} TRIGGER integration_usage_rollup"
        ))
        .execute(&pool)
        .await?;
        let started = Instant::now();
        let mut done = 0;
        let clock = tradeplane::clock::Clock::system();
        while done < total {
            let events: Vec<UsageEvent> = (0..batch)
                .map(|i| {
                    let status = if i % 50 == 0 {
                        UsageStatus::Error
                    } else {
                        UsageStatus::Ok
                    };
                    let mut e =
                        UsageEvent::new(PROVIDERS[i % 17], "bars.fetch", status, 12, clock.now());
                    if status == UsageStatus::Error {
                        e.error_code = Some("TIMEOUT".into());
                    }
                    e
                })
                .collect();
            insert_many(&pool, &events).await?;
            done += batch;
        }
        let secs = started.elapsed().as_secs_f64();
        println!(
            "{label}: {total} events in batches of {batch}: {secs:.2} s, {:.0} events/s (one connection)",
            total as f64 / secs
        );
    }
    Ok(())
}
