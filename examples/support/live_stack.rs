//! LIVE execution figures of issue 17 on an in-process stack, shared by the examples
//! (`order_wire_latency`, `global_kill_cancels`: the figures) and `tests/it/exec_figures.rs`
//! (their bounded CI versions).
//!
//! **Decision → order request on the wire.**
//! In one process: the runtime with LIVE bots (demo environment) on the broker simulator, whose
//! HTTP listener is the test's own: a layer in front of the simulator's router stamps each
//! order placement with the shared clock the moment its request reaches the listener (headers
//! parsed, before the body is read) — the only thing between the two stamps that is not ours is
//! loopback. The decision's stamp is the order's `created_at`: the runner takes it when the
//! engine's `Decision` effect is performed, before the write-ahead transaction
//! (`orders::place`). At that same arrival the layer counts the LIVE orders committed
//! `SENDING`: a write-ahead that came after the send would show none.
//!
//! Bar ticks are replayed (one boundary at a time, each evaluation awaited) on a continuous CME
//! session, paced so the vendor's request budget (`BrokerVendor::trading_rate_limit`) is never
//! what an order waits for.
//!
//! **Global kill.** LIVE bots, each with resting limit orders at the simulator (placed there as
//! another terminal would, and written in the ledger as WORKING under their broker ids); the
//! global kill switch through the runtime's lifecycle; the listener logs every broker request,
//! so the cancels' pace is read at the wire against the vendor's limit.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use axum::{body::Body, extract::Request, middleware::Next, response::Response};
use chrono::{DateTime, TimeZone, Utc};
use sqlx::PgPool;
use tradeplane::{
    clock::Clock,
    domain::{instruments::Symbol, risk::AutonomyTier, timeframe::Timeframe},
    integrations::registry::EnvMap,
    runtime::{BarTick, RunnerOptions, Runtime, RuntimeConfig, RuntimeHandle, SchedulerConfig},
};
use uuid::Uuid;

/// One order placement as the simulator's listener saw it.
#[derive(Debug, Clone)]
pub struct Arrival {
    pub at: DateTime<Utc>,
    /// The broker's id in the simulator's answer.
    pub broker_order_id: Option<String>,
    /// LIVE orders committed `SENDING` when the request arrived.
    pub sending_committed: i64,
}

/// One broker request as the simulator's listener saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub at: DateTime<Utc>,
    pub method: String,
    pub path: String,
}

/// One order's latency.
#[derive(Debug, Clone)]
pub struct Sample {
    pub order: Uuid,
    /// Decision (`created_at`) → request at the listener.
    pub latency: Duration,
    pub write_ahead_before_send: bool,
}

/// The in-process stack.
pub struct Stack {
    pub pool: PgPool,
    pub rt: RuntimeHandle,
    pub runtime: Runtime,
    pub clock: Clock,
    pub vendor: &'static str,
    pub bots: Vec<Uuid>,
    pub arrivals: Arc<Mutex<Vec<Arrival>>>,
    pub requests: Arc<Mutex<Vec<Seen>>>,
    /// The simulator's root URL.
    pub sim: String,
}

/// Where the replay starts: Tuesday 2026-11-17 17:00 CT (23:00 UTC), the open of a session
/// that runs to Wednesday 16:00 CT.
pub fn replay_start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 17, 23, 0, 0).unwrap()
}

/// Minute ticks the session holds before the clock's now.
pub const SESSION_MINUTES: i64 = 20 * 60;

fn place_path(path: &str) -> bool {
    path.ends_with("/order/placeorder")
        || (path.starts_with("/ironbeam/") && path.contains("/order/") && path.ends_with("/place"))
}

fn order_id_of(body: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    match &v["orderId"] {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// `.env.sandbox` pointed at `http`, with only `vendor`'s broker, in its demo environment.
fn sandbox_env(http: &str, vendor: &str) -> anyhow::Result<EnvMap> {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/.env.sandbox"))?;
    let other = if vendor == "tradovate" {
        "IRONBEAM_"
    } else {
        "TRADOVATE_"
    };
    let mut env: EnvMap = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .filter(|(k, _)| !k.starts_with(other) && !k.starts_with("REDIS_"))
        .map(|(k, v)| (k.to_owned(), v.replace("127.0.0.1:9400", http)))
        .collect();
    env.insert(
        format!("{}_ENV", vendor.to_ascii_uppercase()),
        "demo".into(),
    );
    Ok(env)
}

/// The simulator behind the stamping layer, the runtime, `bots` LIVE sma_crossover(2,4) 1m
/// bots (the roots of `Symbol::ALL` in turn: ES, NQ, MES, …) with their runners started and
/// the broker session up.
pub async fn start(pool: PgPool, vendor: &'static str, bots: usize) -> anyhow::Result<Stack> {
    // The clock: Wednesday 14:00 CT, the replayed session's bars all in its past.
    let clock = Clock::starting_at(replay_start() + chrono::Duration::minutes(SESSION_MINUTES));
    let arrivals: Arc<Mutex<Vec<Arrival>>> = Arc::default();
    let requests: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let layer = {
        let (arrivals, requests, clock, pool) = (
            arrivals.clone(),
            requests.clone(),
            clock.clone(),
            pool.clone(),
        );
        axum::middleware::from_fn(move |req: Request, next: Next| {
            let (arrivals, requests, clock, pool) = (
                arrivals.clone(),
                requests.clone(),
                clock.clone(),
                pool.clone(),
            );
            async move {
                let at = clock.now();
                let path = req.uri().path().to_owned();
                if path.starts_with("/tradovate/") || path.starts_with("/ironbeam/") {
                    requests.lock().unwrap().push(Seen {
                        at,
                        method: req.method().to_string(),
                        path: path.clone(),
                    });
                }
                if !place_path(&path) {
                    return next.run(req).await;
                }
                let sending_committed: i64 = sqlx::query_scalar(
                    "SELECT count(*) FROM orders WHERE stage = 'LIVE' AND status = 'SENDING'",
                )
                .fetch_one(&pool)
                .await
                .unwrap_or(-1);
                let res = next.run(req).await;
                let (parts, body) = res.into_parts();
                let bytes = axum::body::to_bytes(body, usize::MAX)
                    .await
                    .unwrap_or_default();
                arrivals.lock().unwrap().push(Arrival {
                    at,
                    broker_order_id: order_id_of(&bytes),
                    sending_committed,
                });
                Response::from_parts(parts, Body::from(bytes))
            }
        })
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let http = listener.local_addr()?.to_string();
    let app = tradeplane::sandbox::router(clock.clone()).layer(layer);
    tokio::spawn(async move { axum::serve(listener, app).await });
    let env = sandbox_env(&http, vendor)?;

    let config = RuntimeConfig {
        provider_env: env,
        clock: clock.clone(),
        // The test replays every tick itself.
        scheduler: SchedulerConfig {
            timeframes: vec![Timeframe::D1],
            ..SchedulerConfig::default()
        },
        broker_every: Duration::from_millis(100),
        autonomy: tradeplane::runtime::ScorerConfig {
            enabled: false,
            ..Default::default()
        },
        ..RuntimeConfig::default()
    };
    let runtime = Runtime::start(pool.clone(), config).await?;
    let rt = runtime.handle();
    tradeplane::runtime::safety::set_trading_switch(&rt, &pool, true, "figure").await?;
    let waited = Instant::now();
    while rt.brokers().and_then(|b| b.for_live()).is_none() {
        anyhow::ensure!(
            waited.elapsed() < Duration::from_secs(20),
            "no {vendor} broker session"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let symbols = Symbol::ALL;
    let run = Uuid::now_v7().simple().to_string();
    let mut ids = Vec::new();
    for i in 0..bots {
        let id = Uuid::now_v7();
        sqlx::query(
            "INSERT INTO bots (id, name, symbol, timeframe, stage, status, strategy, risk_limits, \
             is_trading_enabled) VALUES ($1, $2, $3, '1m', 'LIVE', 'STOPPED', \
             '{\"kind\":\"sma_crossover\",\"params\":{\"fast\":2,\"slow\":4}}'::jsonb, \
             '{\"max_order_size\":1,\"max_position\":1,\"daily_loss_limit\":\"100000\",\"max_drawdown\":\"100000\"}'::jsonb, true)",
        )
        .bind(id)
        .bind(format!("wire-{run}-{i}"))
        .bind(symbols[i % symbols.len()].as_str())
        .execute(&pool)
        .await?;
        rt.tiers().set(id, AutonomyTier::FullAutonomy);
        rt.start_runner(
            id,
            RunnerOptions {
                timeframe: Timeframe::M1,
                live: true,
            },
        )
        .await?;
        ids.push(id);
    }
    Ok(Stack {
        pool,
        rt,
        runtime,
        clock,
        vendor,
        bots: ids,
        arrivals,
        requests,
        sim: format!("http://{http}"),
    })
}

impl Stack {
    /// Replays minute `n` of the session and waits until every bot evaluated it.
    pub async fn tick(&self, n: i64) -> anyhow::Result<()> {
        let before = self.rt.trading_stats().evaluations;
        let at = replay_start() + chrono::Duration::minutes(n);
        let sent = self.rt.inject_tick(BarTick {
            timeframe: Timeframe::M1,
            bar_at: SystemTime::from(at),
            fired_at: SystemTime::from(self.clock.now()),
        });
        anyhow::ensure!(sent > 0, "no runner subscribed");
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.rt.trading_stats().evaluations < before + self.bots.len() as u64 {
            anyhow::ensure!(Instant::now() < deadline, "tick {at} not evaluated");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        Ok(())
    }

    /// Replays ticks until `orders` placements arrived (or the session ends), sleeping `pace`
    /// after each tick; answers every order's sample.
    pub async fn run(&self, orders: usize, pace: Duration) -> anyhow::Result<Vec<Sample>> {
        for n in 1..=SESSION_MINUTES {
            self.tick(n).await?;
            if self.arrivals.lock().unwrap().len() >= orders {
                break;
            }
            tokio::time::sleep(pace).await;
        }
        // The last sends' answers.
        tokio::time::sleep(Duration::from_millis(300)).await;
        self.samples().await
    }

    /// Each acknowledged LIVE order matched to its placement at the listener.
    pub async fn samples(&self) -> anyhow::Result<Vec<Sample>> {
        let rows: Vec<(Uuid, DateTime<Utc>, Option<String>)> = sqlx::query_as(
            "SELECT id, created_at, broker_order_id FROM orders WHERE stage = 'LIVE' \
             AND bot_id = ANY($1) ORDER BY created_at",
        )
        .bind(&self.bots)
        .fetch_all(&self.pool)
        .await?;
        let arrivals = self.arrivals.lock().unwrap().clone();
        let mut out = Vec::new();
        for (id, created, broker_id) in rows {
            let Some(broker_id) = broker_id else { continue };
            let Some(a) = arrivals
                .iter()
                .find(|a| a.broker_order_id.as_deref() == Some(broker_id.as_str()))
            else {
                continue;
            };
            out.push(Sample {
                order: id,
                latency: (a.at - created).to_std().unwrap_or_default(),
                write_ahead_before_send: a.sending_committed > 0,
            });
        }
        Ok(out)
    }
}

/// The `p`-quantile (nearest rank) of sorted durations.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// What the global kill did.
#[derive(Debug, Clone)]
pub struct KillFigure {
    pub bots: usize,
    pub orders: usize,
    /// Activation → the lifecycle's answer (every removal done).
    pub elapsed: Duration,
    /// Cancel requests at the listener, and the most in any sliding second and minute.
    pub cancel_requests: usize,
    pub max_per_second: usize,
    pub max_per_minute: usize,
    /// Our orders still working at the simulator, and in the ledger, after the kill.
    pub working_at_broker: usize,
    pub working_in_ledger: i64,
}

fn cancel_path(path: &str) -> bool {
    path.ends_with("/order/cancelorder")
        || path.ends_with("/cancelMultiple")
        || (path.starts_with("/ironbeam/") && path.contains("/cancel/"))
}

/// The most of `times` (sorted) inside any window of `width`.
fn max_in_window(times: &[DateTime<Utc>], width: chrono::Duration) -> usize {
    let mut best = 0;
    let mut start = 0;
    for end in 0..times.len() {
        while times[end] - times[start] >= width {
            start += 1;
        }
        best = best.max(end - start + 1);
    }
    best
}

impl Stack {
    /// `bots` LIVE bots (no runners), each with `per_bot` buy limits resting far below the
    /// market at the simulator, written in the ledger as WORKING under their broker ids.
    pub async fn working_orders(&self, bots: usize, per_bot: usize) -> anyhow::Result<Vec<Uuid>> {
        let session = self
            .rt
            .brokers()
            .and_then(|b| b.for_live())
            .ok_or_else(|| anyhow::anyhow!("no broker session"))?;
        let account = session
            .account()
            .ok_or_else(|| anyhow::anyhow!("no account"))?
            .id;
        let http = reqwest::Client::new();
        let run = Uuid::now_v7().simple().to_string();
        let mut ids = Vec::new();
        for b in 0..bots {
            let bot = Uuid::now_v7();
            sqlx::query(
                "INSERT INTO bots (id, name, symbol, timeframe, stage, status, strategy, \
                 is_trading_enabled) VALUES ($1, $2, 'ES', '1m', 'LIVE', 'STOPPED', \
                 '{\"kind\":\"sma_crossover\",\"params\":{\"fast\":2,\"slow\":4}}'::jsonb, true)",
            )
            .bind(bot)
            .bind(format!("kill-{run}-{b}"))
            .execute(&self.pool)
            .await?;
            for k in 0..per_bot {
                let placed: serde_json::Value = http
                    .post(format!("{}/_sandbox/broker/external_order", self.sim))
                    .json(&serde_json::json!({
                        "vendor": self.vendor, "symbol": "ES", "side": "BUY", "quantity": 1,
                        "limit_price": 1.0
                    }))
                    .send()
                    .await?
                    .json()
                    .await?;
                let n = placed["order"]["id"]
                    .as_u64()
                    .ok_or_else(|| anyhow::anyhow!("not placed: {placed}"))?;
                let broker_id = match self.vendor {
                    "tradovate" => n.to_string(),
                    _ => format!("{account}-{n}"),
                };
                let now = self.clock.now();
                sqlx::query(
                    "INSERT INTO orders (id, bot_id, idempotency_key, symbol, side, quantity, \
                     order_type, limit_price, stage, status, created_at, updated_at, broker, \
                     broker_account, broker_order_id, sent_at) VALUES ($1, $2, $3, 'ES', 'BUY', 1, \
                     'LIMIT', 1.0, 'LIVE', 'WORKING', $4, $4, $5, $6, $7, $4)",
                )
                .bind(Uuid::now_v7())
                .bind(bot)
                .bind(format!("kill-{run}-{b}-{k}"))
                .bind(now)
                .bind(self.vendor)
                .bind(&account)
                .bind(&broker_id)
                .execute(&self.pool)
                .await?;
            }
            ids.push(bot);
        }
        Ok(ids)
    }

    /// Activates the global kill switch (as `POST /api/system/kill-switch` does) over the
    /// working orders of `bots`, and reads what it left at the simulator and in the ledger.
    pub async fn global_kill(&self, bots: &[Uuid]) -> anyhow::Result<KillFigure> {
        let orders: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM orders WHERE bot_id = ANY($1) AND status = 'WORKING'",
        )
        .bind(bots)
        .fetch_one(&self.pool)
        .await?;
        let lifecycle = tradeplane::runtime::lifecycle::Lifecycle::new(
            self.pool.clone(),
            self.rt.clone(),
            self.rt.integrations(),
        );
        let from = self.requests.lock().unwrap().len();
        let started = Instant::now();
        lifecycle
            .set_kill_switch(true, Some("figure: global kill"), "figure")
            .await
            .map_err(|e| anyhow::anyhow!("kill switch: {e:?}"))?;
        let elapsed = started.elapsed();
        let mut cancels: Vec<DateTime<Utc>> = self.requests.lock().unwrap()[from..]
            .iter()
            .filter(|r| cancel_path(&r.path))
            .map(|r| r.at)
            .collect();
        cancels.sort();
        let book: serde_json::Value = reqwest::Client::new()
            .get(format!(
                "{}/_sandbox/broker/orders?vendor={}",
                self.sim, self.vendor
            ))
            .send()
            .await?
            .json()
            .await?;
        let working_at_broker = book["orders"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter(|o| o["status"] == "WORKING" || o["status"] == "PARTIALLY_FILLED")
                    .count()
            })
            .unwrap_or(usize::MAX);
        let working_in_ledger: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM orders WHERE bot_id = ANY($1) \
             AND status IN ('NEW', 'WORKING', 'PARTIALLY_FILLED')",
        )
        .bind(bots)
        .fetch_one(&self.pool)
        .await?;
        Ok(KillFigure {
            bots: bots.len(),
            orders: usize::try_from(orders)?,
            elapsed,
            cancel_requests: cancels.len(),
            max_per_second: max_in_window(&cancels, chrono::Duration::seconds(1)),
            max_per_minute: max_in_window(&cancels, chrono::Duration::minutes(1)),
            working_at_broker,
            working_in_ledger,
        })
    }
}
