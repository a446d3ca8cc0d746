//! Global kill with LIVE bots and their working orders at the broker simulator (issue 17
//! figure: 100 LIVE bots, 500 working orders): time from activation to every order cancelled
//! (at the simulator and in the ledger), the cancel requests it took and their most per
//! sliding second and minute at the simulator's listener (`support/live_stack.rs`).
//!
//! ```sh
//! DATABASE_URL=postgres://… cargo run --release --example global_kill_cancels -- \
//!     [vendor=ironbeam] [bots=10,50,100] [orders_per_bot=5]
//! ```
//! One database of its own (created, migrated, dropped); one run per fleet size, the kill
//! switch released between them.

// Each example uses part of the shared stack.
#[allow(dead_code)]
#[path = "support/live_stack.rs"]
mod live_stack;

fn arg(i: usize, default: &str) -> String {
    std::env::args()
        .nth(i)
        .unwrap_or_else(|| default.to_owned())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let vendor: &'static str = match arg(1, "ironbeam").as_str() {
        "tradovate" => "tradovate",
        _ => "ironbeam",
    };
    let sizes: Vec<usize> = arg(2, "10,50,100")
        .split(',')
        .filter_map(|s| s.parse().ok())
        .collect();
    let per_bot: usize = arg(3, "5").parse()?;
    let url = std::env::var("DATABASE_URL")?;
    let admin = sqlx::PgPool::connect(&url).await?;
    let db = format!("kill_{}", uuid::Uuid::now_v7().simple());
    sqlx::query(&format!("CREATE DATABASE {db}"))
        .execute(&admin)
        .await?;
    let mut db_url = url::Url::parse(&url)?;
    db_url.set_path(&db);
    let pool = tradeplane::store::pool_options()
        .connect(db_url.as_str())
        .await?;
    tradeplane::store::MIGRATOR.run(&pool).await?;
    let stack = live_stack::start(pool.clone(), vendor, 0).await?;
    let lifecycle = tradeplane::runtime::lifecycle::Lifecycle::new(
        pool.clone(),
        stack.rt.clone(),
        stack.rt.integrations(),
    );
    println!(
        "| vendor | bots | working orders | cancel requests | max per 1 s | max per 60 s | activation → all cancelled | left working (broker / ledger) | load average |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for bots in sizes {
        let ids = stack.working_orders(bots, per_bot).await?;
        let f = stack.global_kill(&ids).await?;
        println!(
            "| {vendor} | {} | {} | {} | {} | {} | {:.0} ms | {} / {} | {} |",
            f.bots,
            f.orders,
            f.cancel_requests,
            f.max_per_second,
            f.max_per_minute,
            f.elapsed.as_secs_f64() * 1000.0,
            f.working_at_broker,
            f.working_in_ledger,
            std::fs::read_to_string("/proc/loadavg")?
                .split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" "),
        );
        lifecycle
            .set_kill_switch(false, None, "figure")
            .await
            .map_err(|e| anyhow::anyhow!("release: {e:?}"))?;
    }
    stack.runtime.shutdown().await;
    pool.close().await;
    sqlx::query(&format!("DROP DATABASE {db} WITH (FORCE)"))
        .execute(&admin)
        .await?;
    Ok(())
}
