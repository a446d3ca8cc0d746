//! Issue 18 figures, measured on `tradeplane serve` processes (the built binary) sharing one
//! database with PAPER bots on the sandbox's 1 s bars. Ignored by default (minutes of load);
//! `scripts/node-figures.sh` runs them and prints the figures recorded in docs/benchmarks.md.
//!
//! - `failover_of_a_node_owning_many_bots`: node-0 (capacity 1000) owns all `FIG_BOTS + 1`
//!   (default 1,001) bots, node-1 (capacity 1) stands by; kill -9 node-0 → per bot, the time
//!   from the kill to its first evaluation on node-1 (p50, p99, max) against TTL + 2 s
//!   (`FIG_TTL`, default 10 s).
//! - `three_nodes_share_a_fleet`: `FIG_BOTS` bots spread over 3 nodes; for `FIG_SECONDS`
//!   (default 60) each node's scheduler tick lag (sampled from `/api/runtime/status`),
//!   evaluations per second per node (from the traces' `node_id`) and bots held.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sqlx::PgPool;
use tradeplane::clock::Clock;
use tradeplane::domain::instruments::Symbol;
use uuid::Uuid;

use crate::support::{
    cluster::{Cluster, admin_client, post},
    fixtures::{set_stage, start_sandbox},
};

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn percentile<T: Copy + Default>(sorted: &[T], p: f64) -> T {
    if sorted.is_empty() {
        return T::default();
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Verifies the market-data providers through node `i` and creates one PAPER bot through the
/// API, then clones it in SQL to `n` RUNNING bots (one API start each would take minutes);
/// answers their ids. The nodes running then do not run them: start nodes after this.
async fn fleet(cluster: &Cluster, pool: &PgPool, i: usize, n: u64) -> Vec<Uuid> {
    let base = cluster.nodes[i].base.clone();
    let admin = admin_client(&base).await;
    for provider in ["databento", "polygon"] {
        let (status, body) = post(
            &admin,
            &base,
            "/api/integrations/verify",
            json!({ "provider_id": provider }),
        )
        .await;
        assert_eq!(status, 200, "verify {provider}: {body}");
    }
    let (status, body) = post(
        &admin,
        &base,
        "/api/bots",
        json!({
            "name": "figure-template", "symbol": "ES", "timeframe": "1s", "stage": "LAB",
            "strategy": {"kind": "sma_crossover", "params": {"fast": 5, "slow": 20}},
            "risk": {"max_order_size": 1, "max_position": 1, "daily_loss_limit": 1.0e9,
                     "max_drawdown": 1.0e9}
        }),
    )
    .await;
    assert_eq!(status, 201, "create: {body}");
    let template: Uuid = body["bot"]["id"].as_str().unwrap().parse().unwrap();
    set_stage(pool, template, "PAPER").await;
    sqlx::query_scalar(
        "INSERT INTO bots (id, name, symbol, timeframe, stage, status, strategy, risk_limits, \
                           created_by, created_at, updated_at) \
         SELECT gen_random_uuid(), 'figure-' || i, \
                ($3::text[])[(1 + i % cardinality($3::text[]))::int], t.timeframe, t.stage, \
                'RUNNING', t.strategy, t.risk_limits, t.created_by, t.created_at, t.updated_at \
         FROM bots t, generate_series(1, $2) AS i WHERE t.id = $1 RETURNING id",
    )
    .bind(template)
    .bind(i64::try_from(n).unwrap())
    .bind(Symbol::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>())
    .fetch_all(pool)
    .await
    .unwrap()
}

async fn held(pool: &PgPool) -> HashMap<String, i64> {
    sqlx::query_as::<_, (String, i64)>(
        "SELECT node, count(*) FROM bot_leases WHERE node IS NOT NULL \
         AND expires_at > now() GROUP BY node",
    )
    .fetch_all(pool)
    .await
    .unwrap()
    .into_iter()
    .collect()
}

#[sqlx::test]
#[ignore = "a figure: minutes of load (scripts/node-figures.sh)"]
async fn failover_of_a_node_owning_many_bots(pool: PgPool) {
    let n = env_u64("FIG_BOTS", 1000);
    let ttl_s = env_u64("FIG_TTL", 10);
    let env = start_sandbox().await;
    let mut cluster = Cluster::new(&pool, 2, env, ttl_s).await;
    cluster.nodes[0]
        .env
        .push(("TRADEPLANE_NODE_CAPACITY".into(), "1000".into()));
    cluster.nodes[1]
        .env
        .push(("TRADEPLANE_NODE_CAPACITY".into(), "1".into()));
    cluster.spawn(0).await;
    let bots = fleet(&cluster, &pool, 0, n + 1).await;
    // node-0 resumes them all when it starts again; node-1 then takes its share (one bot).
    cluster.kill(0);
    let resumed = Instant::now();
    cluster.spawn(0).await;
    println!(
        "node-0 resumed {} bots in {:.1?}",
        bots.len(),
        resumed.elapsed()
    );
    cluster.spawn(1).await;
    let settle = Instant::now();
    let mut on_a;
    loop {
        let h = held(&pool).await;
        on_a = h.get("node-0").copied().unwrap_or(0);
        // node-1's share (capacity 1 of 1001) rounds to one bot but node-0 is not above its
        // own, so nothing moves: node-0 holds every bot, node-1 stands by.
        if on_a == i64::try_from(n + 1).unwrap() {
            break;
        }
        assert!(
            settle.elapsed() < Duration::from_secs(120),
            "never settled with node-0 holding {}: {h:?}",
            n + 1
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // Every bot evaluates before the kill (its runner loaded its history).
    tokio::time::sleep(Duration::from_secs(5)).await;
    let owned: Vec<Uuid> =
        sqlx::query_scalar("SELECT bot_id FROM bot_leases WHERE node = 'node-0'")
            .fetch_all(&pool)
            .await
            .unwrap();
    let killed_at: DateTime<Utc> = Clock::system().now();
    let killed = Instant::now();
    cluster.kill(0);
    let mut firsts: HashMap<Uuid, DateTime<Utc>> = HashMap::new();
    while firsts.len() < owned.len() && killed.elapsed() < Duration::from_secs(ttl_s * 6 + 60) {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let rows: Vec<(Uuid, DateTime<Utc>)> = sqlx::query_as(
            "SELECT bot_id, min(at) FROM ( \
                 SELECT bot_id, created_at AS at FROM decision_traces \
                 WHERE node_id = 'node-1' AND created_at > $1 \
                 UNION ALL \
                 SELECT bot_id, created_at FROM no_trade_traces \
                 WHERE node_id = 'node-1' AND created_at > $1) x \
             WHERE bot_id = ANY($2) GROUP BY bot_id",
        )
        .bind(killed_at)
        .bind(&owned)
        .fetch_all(&pool)
        .await
        .unwrap();
        firsts.extend(rows);
    }
    let claims: Vec<DateTime<Utc>> = sqlx::query_scalar(
        "SELECT began_at FROM bot_lease_epochs WHERE node = 'node-1' AND began_at > $1 \
         AND bot_id = ANY($2) ORDER BY began_at",
    )
    .bind(killed_at)
    .bind(&owned)
    .fetch_all(&pool)
    .await
    .unwrap();
    let ms = |t: &DateTime<Utc>| (*t - killed_at).num_milliseconds();
    let mut took: Vec<i64> = firsts.values().map(ms).collect();
    took.sort_unstable();
    let claim_ms: Vec<i64> = claims.iter().map(ms).collect();
    let goal = i64::try_from((ttl_s + 2) * 1000).unwrap();
    println!(
        "failover: kill -9 of node-0 owning {} PAPER bots (TTL {ttl_s} s): {} evaluate on node-1; \
         kill → first evaluation p50 {} ms, p99 {} ms, max {} ms (goal TTL + 2 s = {goal} ms); \
         leases claimed from {} ms to {} ms",
        owned.len(),
        took.len(),
        percentile(&took, 0.5),
        percentile(&took, 0.99),
        took.last().copied().unwrap_or_default(),
        claim_ms.first().copied().unwrap_or_default(),
        claim_ms.last().copied().unwrap_or_default(),
    );
    cluster.stop_all();
    assert_eq!(took.len(), owned.len(), "bots never evaluated on node-1");
}

/// The scheduler lag of each node, sampled.
async fn lag_ms(client: &reqwest::Client, base: &str) -> Option<u64> {
    let body: Value = client
        .get(format!("{base}/api/runtime/status"))
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    body["scheduler"]["last_lag_ms"].as_u64()
}

#[sqlx::test]
#[ignore = "a figure: minutes of load (scripts/node-figures.sh)"]
async fn three_nodes_share_a_fleet(pool: PgPool) {
    let n = env_u64("FIG_BOTS", 1000);
    let seconds = env_u64("FIG_SECONDS", 60);
    let env = start_sandbox().await;
    let mut cluster = Cluster::new(&pool, 3, env, 10).await;
    cluster.spawn(0).await;
    let bots = fleet(&cluster, &pool, 0, n).await;
    cluster.kill(0);
    for i in 0..3 {
        cluster.spawn(i).await;
    }
    let settle = Instant::now();
    loop {
        let h = held(&pool).await;
        // Spread: every bot held, no node above its share (ceil(n / 3)); with n = 3k + 1 that
        // is k + 1, k + 1, k − 1 as well as k + 1, k, k.
        let fair = i64::try_from(n.div_ceil(3)).unwrap();
        let all = h.values().sum::<i64>() == i64::try_from(n).unwrap();
        if h.len() == 3 && all && h.values().all(|c| *c <= fair) {
            println!(
                "{} bots spread over 3 nodes in {:.1?}: {h:?}",
                bots.len(),
                settle.elapsed()
            );
            break;
        }
        assert!(
            settle.elapsed() < Duration::from_secs(300),
            "never spread: {h:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    tokio::time::sleep(Duration::from_secs(5)).await;
    let mut clients = Vec::new();
    for node in &cluster.nodes {
        clients.push((admin_client(&node.base).await, node.base.clone()));
    }
    let from: DateTime<Utc> = Clock::system().now();
    let t0 = Instant::now();
    let mut lags: Vec<Vec<u64>> = vec![Vec::new(); 3];
    while t0.elapsed() < Duration::from_secs(seconds) {
        for (i, (client, base)) in clients.iter().enumerate() {
            if let Some(l) = lag_ms(client, base).await {
                lags[i].push(l);
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let to: DateTime<Utc> = Clock::system().now();
    let window = (to - from).num_milliseconds() as f64 / 1000.0;
    // Evaluations per node in the window: decisions, and no-trade rows' folded counts
    // prorated to the part of each row's span inside the window.
    let per_node: Vec<(String, f64)> = sqlx::query_as(
        "SELECT node_id, sum(n)::float8 FROM ( \
             SELECT node_id, count(*)::float8 AS n FROM decision_traces \
             WHERE created_at BETWEEN $1 AND $2 GROUP BY node_id \
             UNION ALL \
             SELECT node_id, sum(CASE WHEN last_seen_at = created_at THEN 1.0 ELSE \
                 count * extract(epoch FROM (LEAST(last_seen_at, $2) - GREATEST(created_at, $1))) \
                       / extract(epoch FROM (last_seen_at - created_at)) END) \
             FROM no_trade_traces WHERE last_seen_at >= $1 AND created_at <= $2 GROUP BY node_id) x \
         GROUP BY node_id ORDER BY 1",
    )
    .bind(from)
    .bind(to)
    .fetch_all(&pool)
    .await
    .unwrap();
    let h = held(&pool).await;
    for (i, l) in lags.iter_mut().enumerate() {
        l.sort_unstable();
        let name = format!("node-{i}");
        let evals = per_node
            .iter()
            .find(|(n, _)| *n == name)
            .map_or(0.0, |(_, e)| *e);
        println!(
            "{name}: {} bots, scheduler tick lag over {} samples p50 {} ms, p99 {} ms, max {} ms; \
             {:.0} evaluations/s ({:.1}% of its bots × 1/s)",
            h.get(&name).copied().unwrap_or(0),
            l.len(),
            percentile(l, 0.5),
            percentile(l, 0.99),
            l.last().copied().unwrap_or_default(),
            evals / window,
            100.0 * evals / window / h.get(&name).copied().unwrap_or(1).max(1) as f64,
        );
    }
    cluster.stop_all();
}
