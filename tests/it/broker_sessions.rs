//! Broker sessions as supervised actors (issue 17 parts 1 and 5) on the broker simulator:
//! heartbeats feed the integration's provider breaker (Connections shows it OPEN while the
//! broker is unreachable) and close the LIVE `broker_ready` gate; a session lost longer than
//! the configured time cancels the account's working orders at reconnect and holds the
//! account's LIVE bots until the account reconciles clean; a crashed session actor is
//! restarted by its supervisor and keeps its session.

use std::time::Duration as StdDuration;

use chrono::Duration;
use serde_json::{Value, json};
use sqlx::PgPool;
use tradeplane::{
    clock::Clock,
    integrations::registry::EnvMap,
    runtime::{RuntimeConfig, RuntimeHandle, broker_sessions::SessionConfig},
};
use tradeplane_actors::BreakerConfig;
use uuid::Uuid;

use crate::support::{
    TestApp,
    fixtures::{sandbox_broker_book, sandbox_broker_fault, start_sandbox_with_clock, until},
    live::broker_env,
    paper::{config, session_start},
    spawn_app_with_runtime_config,
};

async fn sandbox_post(env: &EnvMap, path: &str, body: Value) -> Value {
    let root = env["DATABENTO_BASE_URL"].trim_end_matches('/').to_owned();
    let res = reqwest::Client::new()
        .post(format!("{root}{path}"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

/// A runtime with `vendor`'s session heartbeating every 100 ms, cancel-on-disconnect after
/// `cancel_after`, a provider breaker cooling down in 300 ms, and one LIVE bot row routed to it.
/// A runtime on the sandbox's brokers in `env`, heartbeating every 100 ms, on `clock`.
fn session_config(env: &EnvMap, clock: Clock, cancel_after: StdDuration) -> RuntimeConfig {
    let mut cfg: RuntimeConfig = config(env);
    cfg.clock = clock;
    cfg.autonomy.enabled = false;
    cfg.broker_every = StdDuration::from_millis(100);
    cfg.broker_sessions = SessionConfig {
        heartbeat_every: StdDuration::from_millis(100),
        cancel_after,
        ..SessionConfig::default()
    };
    cfg
}

async fn setup(
    pool: &PgPool,
    vendor: &str,
    cancel_after: StdDuration,
) -> (TestApp, RuntimeHandle, EnvMap, Uuid) {
    let clock = Clock::starting_at(session_start() + Duration::hours(5));
    let sandbox = start_sandbox_with_clock(clock.clone()).await;
    let env = broker_env(&sandbox, vendor);
    let mut cfg = session_config(&env, clock, cancel_after);
    cfg.breaker = BreakerConfig {
        cool_down: StdDuration::from_millis(300),
        ..BreakerConfig::default()
    };
    // The leader's own runs stay out of the way: the session actor reconciles after the cancel.
    cfg.reconcile.every = StdDuration::from_secs(3600);
    let app = spawn_app_with_runtime_config(pool.clone(), cfg)
        .await
        .signed_in_as_admin()
        .await;
    let rt = app.state.runtime.clone();
    until("the broker session", async || {
        rt.brokers()?
            .for_live()
            .filter(|s| s.can_trade())
            .map(|_| ())
    })
    .await;
    let (status, body) = app
        .create_bot(json!({
            "name": format!("cod-{vendor}"), "symbol": "ES", "timeframe": "1m", "stage": "LAB",
            "strategy": {"kind": "sma_crossover", "params": {"fast": 2, "slow": 4}},
            "risk": {"max_order_size": 1, "max_position": 1, "daily_loss_limit": 100000.0,
                     "max_drawdown": 100000.0}
        }))
        .await;
    assert!((200..300).contains(&status), "{status} {body}");
    let bot: Uuid = body["bot"]["id"].as_str().unwrap().parse().unwrap();
    sqlx::query("UPDATE bots SET stage = 'LIVE', is_trading_enabled = true WHERE id = $1")
        .bind(bot)
        .execute(pool)
        .await
        .unwrap();
    (app, rt, env, bot)
}

async fn event(pool: &PgPool, code: &str) -> Option<(String, String, Value, Option<Uuid>)> {
    sqlx::query_as(
        "SELECT severity, message, metadata, bot_id FROM system_events WHERE code = $1 \
         ORDER BY created_at DESC LIMIT 1",
    )
    .bind(code)
    .fetch_optional(pool)
    .await
    .unwrap()
}

fn provider(body: &Value, id: &str) -> Value {
    body["providers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == id)
        .cloned()
        .unwrap()
}

async fn cancel_on_disconnect(pool: PgPool, vendor: &str) {
    let (app, rt, env, bot) = setup(&pool, vendor, StdDuration::from_secs(1)).await;
    let brokers = rt.brokers().unwrap();
    let session = brokers.get(session_vendor(vendor)).unwrap();
    assert!(brokers.live_ready());
    assert!(session.health().heartbeats >= 1, "{:?}", session.health());

    // Two orders rest at the account (limits far from the market).
    for price in [1000.0, 1001.0] {
        let placed = sandbox_post(
            &env,
            "/_sandbox/broker/external_order",
            json!({"vendor": vendor, "symbol": "ES", "side": "BUY", "quantity": 1,
                   "limit_price": price}),
        )
        .await;
        assert_eq!(placed["order"]["status"], "WORKING", "{placed}");
    }

    // The broker becomes unreachable: heartbeats fail, the session is lost, the gate closes
    // and the integration's breaker opens (Connections says so).
    sandbox_broker_fault(&env, vendor, json!("disconnect"), None).await;
    until("the session lost", async || {
        session.health().lost_since.map(|_| ())
    })
    .await;
    assert!(!brokers.live_ready());
    until("the provider breaker open", async || {
        let (status, body) = app.call("GET", "/api/integrations/status", None).await;
        assert_eq!(status, 200, "{body}");
        let p = provider(&body, vendor);
        (p["breaker_state"] == "OPEN").then_some(p)
    })
    .await;
    // Behind our back, while we cannot see: a position opens at the account.
    let placed = sandbox_post(
        &env,
        "/_sandbox/broker/external_order",
        json!({"vendor": vendor, "symbol": "ES", "side": "BUY", "quantity": 1}),
    )
    .await;
    assert_eq!(placed["order"]["status"], "FILLED", "{placed}");
    tokio::time::sleep(StdDuration::from_millis(1200)).await;
    assert!(!brokers.live_ready());

    // Back: the working orders are cancelled at the broker, the account is held.
    // From the moment the session is ready again it cannot trade: the hold comes first, so
    // no LIVE order leaves between the reconnect and the cancel of the working orders.
    sandbox_broker_fault(&env, vendor, Value::Null, None).await;
    let hold = until("the hold, the gate shut throughout", async || {
        for _ in 0..200 {
            if session.is_ready() {
                assert!(
                    !session.can_trade(),
                    "tradable before the hold: {:?}",
                    session.hold()
                );
            }
            if let Some(hold) = session.hold().filter(|h| !h.cancelled.is_empty()) {
                return Some(hold);
            }
            tokio::time::sleep(StdDuration::from_millis(1)).await;
        }
        None
    })
    .await;
    assert!(hold.lost_seconds >= 1, "{hold:?}");
    assert!(!hold.cancel_pending, "{hold:?}");
    assert_eq!(hold.cancelled.len(), 2, "{hold:?}");
    assert_eq!(hold.bots, vec![bot]);
    let book = sandbox_broker_book(&env, vendor).await;
    let statuses: Vec<&str> = book["orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == "CANCELLED").count(),
        2,
        "{book}"
    );
    assert!(
        !statuses.contains(&"WORKING"),
        "nothing left working: {book}"
    );
    let (severity, message, metadata, named) = until("the SEV-1 event", async || {
        event(&pool, "BROKER_SESSION_LOST").await
    })
    .await;
    assert_eq!(severity, "SEV-1");
    assert!(
        message.contains("2 working order(s) cancelled"),
        "{message}"
    );
    assert_eq!(named, Some(bot));
    assert_eq!(metadata["hold"]["bots"], json!([bot]), "{metadata}");
    // The account's position differs from the ledger: the hold stays, the gate stays closed.
    until("a mismatch seen after the cancel", async || {
        let (_, body) = app.call("GET", "/api/reconciliation", None).await;
        (!body["mismatches"].as_array()?.is_empty()).then_some(())
    })
    .await;
    assert!(session.hold().is_some());
    assert!(session.is_ready() && !session.can_trade());
    assert!(!brokers.live_ready());
    // The status says why LIVE is blocked on the account.
    let (_, status) = app.system_status().await;
    assert!(
        status["blockers"].as_array().unwrap().iter().any(|b| {
            b["code"] == "EXECUTION_BROKER_UNAVAILABLE"
                && b["message"].as_str().unwrap().contains("held since")
        }),
        "{status}"
    );

    // The position is closed behind our back again: the next clean run lifts the hold.
    let placed = sandbox_post(
        &env,
        "/_sandbox/broker/external_order",
        json!({"vendor": vendor, "symbol": "ES", "side": "SELL", "quantity": 1}),
    )
    .await;
    assert_eq!(placed["order"]["status"], "FILLED", "{placed}");
    until("the hold lifted", async || {
        session.hold().is_none().then_some(())
    })
    .await;
    assert!(brokers.live_ready());
    let (severity, _, _, named) = until("the INFO event", async || {
        event(&pool, "BROKER_SESSION_RESUMED").await
    })
    .await;
    assert_eq!(severity, "INFO");
    assert_eq!(named, Some(bot));
    // The integration's breaker closed again on the heartbeats that passed.
    until("the provider breaker closed", async || {
        let (_, body) = app.call("GET", "/api/integrations/status", None).await;
        (provider(&body, vendor)["breaker_state"] == "CLOSED").then_some(())
    })
    .await;
    // One login: the disconnect never caused a login loop.
    let book = sandbox_broker_book(&env, vendor).await;
    assert_eq!(book["logins"], 1, "{book}");
}

fn session_vendor(vendor: &str) -> tradeplane::integrations::brokers::BrokerVendor {
    tradeplane::integrations::brokers::BrokerVendor::parse(vendor).unwrap()
}

#[sqlx::test]
async fn a_lost_tradovate_session_cancels_working_orders_and_holds_the_account(pool: PgPool) {
    cancel_on_disconnect(pool, "tradovate").await;
}

#[sqlx::test]
async fn a_lost_ironbeam_session_cancels_working_orders_in_bulk_and_holds_the_account(
    pool: PgPool,
) {
    cancel_on_disconnect(pool, "ironbeam").await;
}

/// A short loss (under the configured time) cancels nothing and holds nothing.
#[sqlx::test]
async fn a_short_loss_cancels_nothing(pool: PgPool) {
    let vendor = "tradovate";
    let (_app, rt, env, _bot) = setup(&pool, vendor, StdDuration::from_secs(10)).await;
    let session = rt.brokers().unwrap().get(session_vendor(vendor)).unwrap();
    let placed = sandbox_post(
        &env,
        "/_sandbox/broker/external_order",
        json!({"vendor": vendor, "symbol": "ES", "side": "BUY", "quantity": 1,
               "limit_price": 1000.0}),
    )
    .await;
    assert_eq!(placed["order"]["status"], "WORKING", "{placed}");
    // A loss well under the configured 10 s (the call path retries a failed read, so the
    // broker stays down until a heartbeat has failed).
    let failed = session.health().heartbeat_failures;
    sandbox_broker_fault(&env, vendor, json!("disconnect"), None).await;
    until("a failed heartbeat", async || {
        (session.health().heartbeat_failures > failed).then_some(())
    })
    .await;
    sandbox_broker_fault(&env, vendor, Value::Null, None).await;
    until("the session back", async || {
        session.can_trade().then_some(())
    })
    .await;
    assert!(session.hold().is_none());
    let book = sandbox_broker_book(&env, vendor).await;
    assert_eq!(book["orders"][0]["status"], "WORKING", "{book}");
}

/// A crashed session actor is restarted by the Brokers supervisor and keeps its session (no
/// new login).
#[sqlx::test]
async fn a_crashed_session_actor_restarts_and_keeps_its_session(pool: PgPool) {
    let vendor = "ironbeam";
    let (_app, rt, env, _bot) = setup(&pool, vendor, StdDuration::from_secs(1)).await;
    let session = rt.brokers().unwrap().get(session_vendor(vendor)).unwrap();
    assert_eq!(session.health().restarts, 0);
    assert!(session.inject_failure("drill"));
    until("the restart", async || {
        (session.health().restarts == 1).then_some(())
    })
    .await;
    let beats = session.health().heartbeats;
    until("heartbeats again", async || {
        (session.health().heartbeats > beats + 2).then_some(())
    })
    .await;
    assert!(session.can_trade());
    let book = sandbox_broker_book(&env, vendor).await;
    assert_eq!(book["logins"], 1, "{book}");
}

/// With both brokers configured, LIVE orders go to the first (Tradovate) whether or not it is
/// ready: a lost Tradovate session closes the gate; it never sends a bot's exit to Ironbeam,
/// where the bot holds nothing.
#[sqlx::test]
async fn a_lost_primary_broker_closes_the_gate_and_never_reroutes_to_the_other(pool: PgPool) {
    let clock = Clock::starting_at(session_start() + Duration::hours(5));
    let env = start_sandbox_with_clock(clock.clone()).await;
    let cfg = session_config(&env, clock, SessionConfig::default().cancel_after);
    let app = spawn_app_with_runtime_config(pool.clone(), cfg).await;
    let brokers = app.state.runtime.brokers().unwrap();
    assert_eq!(brokers.sessions().len(), 2, "both brokers configured");
    until("both sessions ready", async || {
        brokers
            .sessions()
            .iter()
            .all(|s| s.can_trade())
            .then_some(())
    })
    .await;
    assert_eq!(brokers.for_live().unwrap().vendor().id(), "tradovate");
    assert!(brokers.live_ready());
    sandbox_broker_fault(&env, "tradovate", json!("disconnect"), None).await;
    until("the tradovate session lost", async || {
        (!brokers.for_live()?.is_ready()).then_some(())
    })
    .await;
    assert_eq!(brokers.for_live().unwrap().vendor().id(), "tradovate");
    assert!(!brokers.live_ready(), "the gate closes, nothing rerouted");
    assert!(brokers.sessions()[1].can_trade(), "ironbeam is still up");
}
