//! Shared fixtures: configurations, provider environments, rows written straight to the store,
//! the sandbox, and waiting for a condition.

use std::time::{Duration, Instant};

use base64::{Engine, engine::general_purpose::STANDARD};
use serde_json::{Value, json};
use sqlx::PgPool;
use tradeplane::{
    config::{AuthConfig, Config, EncKey},
    domain::{
        execution::{OrderStatus, OrderType},
        instruments::Symbol,
        risk::Stage,
        side::Side,
        timeframe::Timeframe,
    },
    integrations::registry::{EnvMap, spec},
    runtime::{RunnerConfig, Runtime, RuntimeConfig, RuntimeHandle, SchedulerConfig, ScorerConfig},
    sandbox,
    store::{
        bot_leases::{self, Fence},
        bots::{self, NewBot},
        nodes,
        orders::{self, NewOrder, Order},
        usage_events::{self, UsageEvent},
    },
};
use tradeplane_actors::Backoff;
use uuid::Uuid;

use super::app::now;

pub const ADMIN_EMAIL: &str = "admin@example.com";
pub const ADMIN_PASSWORD: &str = "correct horse battery staple";

/// The configuration tests run with: plain-http cookies and a valid APP_ENC_KEY.
pub fn test_config() -> Config {
    Config {
        enc_key: EncKey::parse(Some(&STANDARD.encode([42u8; 32]))),
        auth: AuthConfig {
            insecure_cookies: true,
            ..AuthConfig::default()
        },
        ..Config::default()
    }
}

/// The runtime with small limits, so supervision plays out in about a second.
pub fn runtime_config() -> RuntimeConfig {
    RuntimeConfig {
        runner: RunnerConfig {
            beat_every: Duration::from_millis(50),
            heartbeat_timeout: Duration::from_millis(400),
            shutdown_timeout: Duration::from_millis(300),
            backoff: Backoff::exponential(Duration::from_millis(100), Duration::from_secs(5))
                .jitter(0.0),
            stuck_kill_after: 2,
            healthy_after: Duration::from_millis(200),
            evaluation_limit: RunnerConfig::default().evaluation_limit,
        },
        scheduler: SchedulerConfig {
            job_sweep_every: Duration::from_millis(200),
            heartbeat_flush_every: Duration::from_millis(200),
            ..SchedulerConfig::default()
        },
        heartbeat_check: Duration::from_millis(50),
        autonomy: ScorerConfig {
            every: Duration::from_millis(300),
            debounce: Duration::from_millis(20),
            enabled: true,
        },
        // Tests refresh macro data explicitly (`runtime::macro_data::refresh_*`).
        macro_data: tradeplane::runtime::macro_data::MacroConfig {
            auto_refresh: false,
            ..Default::default()
        },
        ..RuntimeConfig::default()
    }
}

/// Recognisable fake key: it must appear in no log line, response or event.
pub const FAKE_KEY: &str = "FAKEKEY-must-never-leak-4242";

/// Env for `id` with every required variable set to the fake key and the base URL at `base`.
pub fn env_for(id: &str, base: &str) -> EnvMap {
    let spec = spec(id).unwrap();
    let mut env = EnvMap::new();
    for var in spec.required_env_vars {
        let value = match *var {
            "TRADOVATE_CID" => "42".to_owned(),
            "REDIS_URL" => format!("redis://:{FAKE_KEY}@127.0.0.1:6379/0"),
            "DISCORD_WEBHOOK_URL" => format!("https://discord.com/api/webhooks/123/{FAKE_KEY}"),
            _ => FAKE_KEY.to_owned(),
        };
        env.insert((*var).to_owned(), value);
    }
    env.insert(spec.base_url_var(), base.to_owned());
    env
}

/// Starts the simulator on free ports and reads `.env.sandbox` pointed at them.
pub async fn start_sandbox() -> EnvMap {
    start_sandbox_with_clock(tradeplane::clock::Clock::system()).await
}

/// [`start_sandbox`] on `clock` (its market status, token expiries and the broker
/// simulator's matching engine follow it). Bars come from Databento's historical API: the
/// live gateway runs but `DATABENTO_LIVE_ADDR` is left out ([`start_live_sandbox`] keeps it).
pub async fn start_sandbox_with_clock(clock: tradeplane::clock::Clock) -> EnvMap {
    let mut env = start_live_sandbox(clock).await;
    env.remove("DATABENTO_LIVE_ADDR");
    env
}

/// The simulator on `clock` with its Databento live gateway wired in (`DATABENTO_LIVE_ADDR`).
pub async fn start_live_sandbox(clock: tradeplane::clock::Clock) -> EnvMap {
    let (http, redis) = sandbox::bind(
        "127.0.0.1:0".parse().unwrap(),
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    let gateway = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let http_addr = http.local_addr().unwrap().to_string();
    let redis_addr = redis.local_addr().unwrap().to_string();
    let live_addr = gateway.local_addr().unwrap().to_string();
    tokio::spawn(sandbox::serve_with_live(http, redis, gateway, clock));
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/.env.sandbox")).unwrap();
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| {
            let v = v
                .replace("127.0.0.1:9400", &http_addr)
                .replace("127.0.0.1:9401", &redis_addr)
                .replace("127.0.0.1:9402", &live_addr);
            (k.to_owned(), v)
        })
        .collect()
}

/// Only the sandbox's `databento` (bars for backtests), for an app whose other providers are
/// mocks.
pub async fn sandbox_databento_env() -> EnvMap {
    start_sandbox()
        .await
        .into_iter()
        .filter(|(k, _)| k.starts_with("DATABENTO_"))
        .collect()
}

/// Sets a fault on the sandbox's market-data endpoints (`base`: a vendor base URL from
/// [`start_sandbox`]'s env; `fault`: `"outage"`, `"rate_limited"`, `"not_authorized"` or null).
pub async fn sandbox_fault(base: &str, vendor: &str, fault: Value, count: Option<u32>) {
    let root = base.trim_end_matches("/polygon");
    let res = reqwest::Client::new()
        .post(format!("{root}/_sandbox/faults"))
        .json(&json!({"vendor": vendor, "fault": fault, "count": count}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

/// Sets a fault on the sandbox's LLM endpoints (`env`: [`start_sandbox`]'s; `vendor`: an LLM
/// provider id; `fault`: `"outage"`, `"rate_limited"`, `"not_authorized"`, `"timeout"`,
/// `"refusal"` or null).
pub async fn sandbox_llm_fault(env: &EnvMap, vendor: &str, fault: Value, count: Option<u32>) {
    sandbox_fault(&env["DATABENTO_BASE_URL"], vendor, fault, count).await;
}

/// The body of `POST /api/bots` for an ES 1m SMA-crossover bot at `stage`.
pub fn sma_bot(name: &str, stage: &str) -> Value {
    json!({
        "name": name, "symbol": "ES", "timeframe": "1m", "stage": stage,
        "strategy": {"kind": "sma_crossover", "params": {"fast": 10, "slow": 30}},
        "risk": {"max_order_size": 2, "daily_loss_limit": 1500.0}
    })
}

/// Moves a bot to `stage` in the database. A new bot starts in LAB (`POST /api/bots` refuses
/// any other stage); this stands in for the evidence its promotions would ask (a backtest for
/// PAPER, PAPER results for SHADOW), whose gates are tested in `bots.rs`.
pub async fn set_stage(pool: &PgPool, bot: impl std::fmt::Display, stage: &str) {
    let moved = sqlx::query("UPDATE bots SET stage = $2 WHERE id = $1::uuid")
        .bind(bot.to_string())
        .bind(stage)
        .execute(pool)
        .await
        .unwrap();
    assert_eq!(moved.rows_affected(), 1, "bot {bot}");
}

/// How many rows `table` holds.
pub async fn rows(pool: &PgPool, table: &str) -> i64 {
    sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
        .fetch_one(pool)
        .await
        .unwrap()
}

/// A PAPER bot row for a runner to load (runners read their bot from Postgres).
pub async fn bot_row(pool: &PgPool) -> Uuid {
    let bot = bots::insert(
        pool,
        NewBot {
            name: format!("rt-{}", Uuid::now_v7()),
            symbol: Symbol::Es,
            timeframe: Timeframe::S1,
            stage: Stage::Paper,
            strategy: json!({"kind": "sma_crossover", "params": {"fast": 2, "slow": 4, "average": "sma"}}),
            risk_limits: json!({}),
            created_by: None,
        },
        now(),
    )
    .await
    .unwrap();
    bot.id
}

/// A lease on `bot` for a test node, as a node's runner holds it (fills are fenced by it).
pub async fn lease(pool: &PgPool, bot: Uuid) -> Fence {
    let at = now();
    nodes::register(
        pool,
        &nodes::NodeRegistration {
            name: "test-node",
            incarnation: Uuid::now_v7(),
            host: "test",
            version: "test",
            capacity: 1,
            presence_key: None,
        },
        at,
    )
    .await
    .unwrap();
    let epoch = bot_leases::acquire(pool, bot, "test-node", at, at + chrono::Duration::hours(1))
        .await
        .unwrap()
        .expect("the test node takes the lease");
    Fence {
        bot_id: bot,
        node: "test-node".into(),
        epoch,
    }
}

/// A WORKING paper market order for `bot`, written as the runner writes it.
pub async fn working_order(pool: &PgPool, bot: Uuid, key: &str, side: Side, qty: i32) -> Order {
    let mut conn = pool.acquire().await.unwrap();
    orders::insert_once(
        &mut conn,
        NewOrder {
            bot_id: bot,
            run_id: None,
            decision_trace_id: None,
            idempotency_key: key.into(),
            symbol: Symbol::Es,
            side,
            quantity: qty,
            order_type: OrderType::Market,
            limit_price: None,
            stop_price: None,
            stage: Stage::Paper,
            status: OrderStatus::Working,
            decision_bar_at: None,
            reference_price: None,
        },
        now(),
    )
    .await
    .unwrap()
    .0
}

/// The entry for provider `id` in an `/api/integrations/status` body.
pub fn provider<'a>(body: &'a Value, id: &str) -> &'a Value {
    body["providers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == id)
        .unwrap()
}

/// Usage events are written asynchronously: wait (bounded) until `n` exist for `provider`.
pub async fn wait_for_usage_events(pool: &PgPool, provider: &str, n: usize) -> Vec<UsageEvent> {
    for _ in 0..100 {
        let events = usage_events::latest_for_provider(pool, provider, 100)
            .await
            .unwrap();
        if events.len() >= n {
            return events;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("fewer than {n} usage events for {provider}");
}

/// Polls `f` every 20 ms until it returns `Some` (at most 15 s, then fails naming `what`).
pub async fn until<T>(what: &str, mut f: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A runtime on its own tokio runtime and pool: dropping that tokio runtime drops every
/// in-flight future at whatever await it was in (no lease released, no node marked stopped),
/// the in-process equivalent of `kill -9`.
pub async fn crashable_runtime(
    pool: &PgPool,
    config: RuntimeConfig,
) -> (tokio::runtime::Runtime, RuntimeHandle, PgPool) {
    let options = (*pool.connect_options()).clone();
    tokio::task::spawn_blocking(move || {
        let tokio_rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let (handle, pool) = tokio_rt.block_on(async move {
            let pool = tradeplane::store::pool_options()
                .max_connections(8)
                .connect_with(options)
                .await
                .unwrap();
            let runtime = Runtime::start(pool.clone(), config).await.unwrap();
            let handle = runtime.handle();
            std::mem::forget(runtime);
            (handle, pool)
        });
        (tokio_rt, handle, pool)
    })
    .await
    .unwrap()
}

/// The sandbox's root URL from [`start_sandbox`]'s env.
fn sandbox_root(env: &EnvMap) -> String {
    env["DATABENTO_BASE_URL"].trim_end_matches('/').to_owned()
}

/// Arms a broker simulator fault (`vendor`: `tradovate`|`ironbeam`; `fault`: a
/// `sandbox::broker::BrokerFault` name or null to clear the vendor's faults).
pub async fn sandbox_broker_fault(env: &EnvMap, vendor: &str, fault: Value, count: Option<u32>) {
    post_broker_fault(
        env,
        json!({"vendor": vendor, "fault": fault, "count": count}),
    )
    .await;
}

/// The next `count` order answers of `vendor`'s simulator come `delay` late.
pub async fn sandbox_broker_delayed_ack(env: &EnvMap, vendor: &str, delay: Duration, count: u32) {
    let delay_ms = u64::try_from(delay.as_millis()).unwrap();
    post_broker_fault(
        env,
        json!({"vendor": vendor, "fault": "delayed_ack", "count": count, "delay_ms": delay_ms}),
    )
    .await;
}

async fn post_broker_fault(env: &EnvMap, command: Value) {
    let res = reqwest::Client::new()
        .post(format!("{}/_sandbox/broker/faults", sandbox_root(env)))
        .json(&command)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

/// Every order, fill and login the broker simulator holds for `vendor`.
pub async fn sandbox_broker_book(env: &EnvMap, vendor: &str) -> Value {
    reqwest::Client::new()
        .get(format!(
            "{}/_sandbox/broker/orders?vendor={vendor}",
            sandbox_root(env)
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// A closed round trip of `bot` at `stage` (PAPER or SHADOW: the promotion gates' evidence),
/// closed at `closed_at` with `net` PnL after a 2.50 commission.
pub async fn closed_trade(
    pool: &PgPool,
    bot: &str,
    stage: &str,
    closed_at: &str,
    net: rust_decimal::Decimal,
) {
    let commission = rust_decimal::Decimal::new(250, 2);
    sqlx::query(
        "INSERT INTO trades (id, bot_id, symbol, side, quantity, entry_price, exit_price, \
             opened_at, closed_at, realized_pnl, commission, stage) \
         VALUES ($1, $2::uuid, 'ES', 'LONG', 1, 6000, 6001, $3::timestamptz - interval '10 minutes', \
             $3::timestamptz, $4, $5, $6)",
    )
    .bind(Uuid::now_v7())
    .bind(bot)
    .bind(closed_at)
    .bind(net + commission)
    .bind(commission)
    .bind(stage)
    .execute(pool)
    .await
    .unwrap();
}

/// A read of ten minutes of ES 1-minute bars (a session the sandbox serves).
pub fn ten_minutes_of_es() -> tradeplane::runtime::BarsRequest {
    tradeplane::runtime::BarsRequest {
        instrument: tradeplane::domain::instruments::Symbol::Es,
        contract: None,
        timeframe: tradeplane::domain::timeframe::Timeframe::M1,
        from: chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 11, 24, 15, 0, 0).unwrap(),
        to: chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 11, 24, 15, 10, 0).unwrap(),
        ctx: tradeplane::integrations::http::CallContext::default(),
    }
}
