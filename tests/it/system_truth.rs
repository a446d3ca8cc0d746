//! The system status tells the truth an operator needs (issue 20 part 1): a KILLED bot is a
//! SEV-1 blocker while it still holds a position or a working order and a SEV-2 once flat, and
//! market data counts as usable only while some verified provider is actually answering
//! (breaker CLOSED, most recent calls succeeding): every data provider failing is BLOCKED.

use serde_json::{Value, json};
use sqlx::PgPool;
use tradeplane::{domain::side::Side, error_code::ErrorCode};
use uuid::Uuid;

use crate::support::{
    TestApp,
    fixtures::{
        bot_row, runtime_config, sandbox_fault, start_sandbox, ten_minutes_of_es, until,
        working_order,
    },
    spawn_admin_app, spawn_app_with_runtime_config,
};

/// The blockers of one status answer as `(code, severity, message)`.
async fn blockers(app: &TestApp) -> (Value, Vec<(String, String, String)>) {
    let (code, body) = app.system_status().await;
    assert_eq!(code, 200, "{body}");
    let list = body["blockers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            let s = |k: &str| b[k].as_str().unwrap().to_owned();
            (s("code"), s("severity"), s("message"))
        })
        .collect();
    (body, list)
}

/// Waits until the status has a `code` blocker at `severity`; returns the body and its message.
async fn until_blocker(app: &TestApp, code: &str, severity: &str) -> (Value, String) {
    until(&format!("{code} at {severity}"), async || {
        let (body, list) = blockers(app).await;
        let message = list
            .into_iter()
            .find(|(c, s, _)| c == code && s == severity)
            .map(|(_, _, m)| m)?;
        Some((body, message))
    })
    .await
}

async fn verified_app(
    pool: &PgPool,
    providers: &[&str],
) -> (TestApp, tradeplane::integrations::registry::EnvMap) {
    let env = start_sandbox().await;
    let app = spawn_admin_app(pool.clone(), &env).await;
    for provider in providers {
        let (code, body) = app.verify_integration(provider).await;
        assert_eq!(code, 200, "{provider}: {body}");
    }
    (app, env)
}

#[sqlx::test]
async fn a_killed_bot_blocks_the_status_while_it_holds_exposure(pool: PgPool) {
    let (app, _env) = verified_app(
        &pool,
        &["databento", "polygon", "ironbeam", "tradovate", "openai"],
    )
    .await;
    let rt = app.state.runtime.clone();
    until("nothing SEV-1", async || {
        let (body, _) = blockers(&app).await;
        (body["system_status"] != "BLOCKED").then_some(())
    })
    .await;

    // The bot holds one long ES contract when its daily-loss trigger kills it (the runner
    // calls the same `kill`).
    let bot = bot_row(&pool).await;
    let name: String = sqlx::query_scalar("SELECT name FROM bots WHERE id = $1")
        .bind(bot)
        .fetch_one(&pool)
        .await
        .unwrap();
    set_position(&pool, bot, 1).await;
    rt.kill(bot, "daily loss 1650.00 USD breached the 1500.00 USD limit");
    // At once (exposure not yet known), then from the database snapshot.
    let (body, message) = until("the position in the status", async || {
        let (body, m) = until_blocker(&app, "KILLED_WITH_EXPOSURE", "SEV-1").await;
        m.contains("contract(s)").then_some((body, m))
    })
    .await;
    assert_eq!(body["system_status"], "BLOCKED", "{body}");
    assert_eq!(body["autonomy_allowed"], false);
    assert!(message.contains(&name), "{message}");
    assert!(message.contains("1 contract(s)"), "{message}");
    assert!(message.contains("daily loss"), "{message}");
    assert_eq!(body["redacted"], false);

    // The route is public (it must answer with Postgres down): without a session the same
    // state and codes, but no bot name, amount or reason; a bad cookie or token is no session.
    let strangers = [
        app.anonymous(),
        app.with_token("tp_not-a-token"),
        app.with_client(forged_session_client()),
    ];
    for stranger in &strangers {
        let (public, list) = blockers(stranger).await;
        assert_eq!(public["redacted"], true, "{public}");
        assert_eq!(public["system_status"], "BLOCKED", "{public}");
        let (_, _, m) = list
            .iter()
            .find(|(c, s, _)| c == "KILLED_WITH_EXPOSURE" && s == "SEV-1")
            .expect("the same blocker, redacted");
        assert_eq!(m, ErrorCode::KilledWithExposure.message());
        let text = public.to_string();
        for secret in [name.as_str(), "daily loss", "1650.00"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
    }

    // Flat, but an order may still fill: still SEV-1.
    set_position(&pool, bot, 0).await;
    let order = working_order(&pool, bot, "tp1-killed-working", Side::Sell, 1).await;
    let (body, message) = until("the working order in the status", async || {
        let (body, m) = until_blocker(&app, "KILLED_WITH_EXPOSURE", "SEV-1").await;
        m.contains("1 working order(s)").then_some((body, m))
    })
    .await;
    assert_eq!(body["system_status"], "BLOCKED", "{message}");
    // A LIVE send the broker has not answered may be working there: it counts too.
    let sending = working_order(&pool, bot, "tp1-killed-sending", Side::Sell, 1).await;
    sqlx::query("UPDATE orders SET status = 'SENDING', stage = 'LIVE' WHERE id = $1")
        .bind(sending.id)
        .execute(&pool)
        .await
        .unwrap();
    until("the unanswered send in the status", async || {
        let (_, m) = until_blocker(&app, "KILLED_WITH_EXPOSURE", "SEV-1").await;
        m.contains("2 working order(s)").then_some(())
    })
    .await;

    // A re-arm would end the blocker and leave the exposure behind a STOPPED bot: refused,
    // nothing changed.
    let (code, b) = app.rearm_bot(bot).await;
    assert_eq!(
        (code, b["error"]["code"].as_str()),
        (409, Some("INVALID_STATE_TRANSITION")),
        "{b}"
    );
    assert!(
        b["error"]["message"]
            .as_str()
            .unwrap()
            .contains("2 open order(s)"),
        "{b}"
    );
    assert!(
        b["error"]["suggested_fix"]
            .as_str()
            .unwrap()
            .contains("flatten"),
        "{b}"
    );
    let status: String = sqlx::query_scalar("SELECT status FROM bots WHERE id = $1")
        .bind(bot)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(status, "KILLED");

    // Flat and nothing working: SEV-2 (it still needs a re-arm), trading is no longer blocked.
    sqlx::query("UPDATE orders SET status = 'CANCELLED' WHERE id = ANY($1)")
        .bind(vec![order.id, sending.id])
        .execute(&pool)
        .await
        .unwrap();
    let (body, message) = until_blocker(&app, "BOT_KILLED", "SEV-2").await;
    assert!(message.contains("flat"), "{message}");
    assert_eq!(body["system_status"], "DEGRADED", "{body}");
    assert_eq!(body["autonomy_allowed"], true);
    let (_, list) = blockers(&app).await;
    assert!(
        !list
            .iter()
            .any(|(c, s, _)| (c == "BOT_KILLED" || c == "KILLED_WITH_EXPOSURE") && s == "SEV-1"),
        "{list:?}"
    );

    // Re-armed: the blocker is gone.
    let (code, b) = app.rearm_bot(bot).await;
    assert_eq!(code, 200, "{b}");
    until("the re-arm in the status", async || {
        let (_, list) = blockers(&app).await;
        (!list.iter().any(|(c, _, _)| c == "BOT_KILLED")).then_some(())
    })
    .await;
}

/// A client sending a session cookie the server never issued (under both cookie names).
fn forged_session_client() -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        "cookie",
        reqwest::header::HeaderValue::from_static("tp_session=forged; __Host-tp_session=forged"),
    );
    reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .unwrap()
}

async fn set_position(pool: &PgPool, bot: Uuid, quantity: i32) {
    sqlx::query(
        "INSERT INTO positions (bot_id, symbol, quantity, average_price) VALUES ($1, 'ES', $2, 6000) \
         ON CONFLICT (bot_id, symbol) DO UPDATE SET quantity = $2",
    )
    .bind(bot)
    .bind(quantity)
    .execute(pool)
    .await
    .unwrap();
}

#[sqlx::test]
async fn every_market_data_provider_failing_blocks_trading(pool: PgPool) {
    let (app, env) = verified_app(&pool, &["databento", "polygon"]).await;
    let rt = app.state.runtime.clone();
    let connected_before = until("data usable", async || {
        let (body, list) = blockers(&app).await;
        (!list.iter().any(|(c, _, _)| c == "DATA_UNAVAILABLE"))
            .then(|| body["integrations"]["connected"].as_u64().unwrap())
    })
    .await;
    assert!(connected_before >= 2, "both verified: {connected_before}");

    // Two of Polygon's three calls (its verify, two reads) fail, its breaker still CLOSED:
    // Databento still answers, data is usable.
    sandbox_fault(&env["POLYGON_BASE_URL"], "polygon", json!("outage"), None).await;
    for _ in 0..2 {
        rt.fetch_bars("polygon", ten_minutes_of_es())
            .await
            .unwrap_err();
    }
    let (_, list) = blockers(&app).await;
    assert!(
        !list.iter().any(|(c, _, _)| c == "DATA_UNAVAILABLE"),
        "{list:?}"
    );

    // Databento fails too: nothing answers, though both passed verify and no breaker is open.
    sandbox_fault(&env["POLYGON_BASE_URL"], "databento", json!("outage"), None).await;
    for _ in 0..2 {
        rt.fetch_bars("databento", ten_minutes_of_es())
            .await
            .unwrap_err();
    }
    let (body, message) = until_blocker(&app, "DATA_UNAVAILABLE", "SEV-1").await;
    assert_eq!(body["system_status"], "BLOCKED", "{body}");
    assert_eq!(body["autonomy_allowed"], false);
    assert!(
        message.contains("databento: breaker CLOSED, 1/3 calls ok"),
        "{message}"
    );
    assert!(
        message.contains("polygon: breaker CLOSED, 1/3 calls ok"),
        "{message}"
    );

    // One more failure each opens their breakers: still BLOCKED, and the status says so.
    for provider in ["databento", "polygon"] {
        rt.fetch_bars(provider, ten_minutes_of_es())
            .await
            .unwrap_err();
    }
    let (body, message) = until_blocker(&app, "DATA_UNAVAILABLE", "SEV-1").await;
    assert_eq!(body["system_status"], "BLOCKED", "{body}");
    assert!(message.contains("databento: breaker OPEN"), "{message}");
    assert!(message.contains("polygon: breaker OPEN"), "{message}");
    // A verify that passed once is not "connected" while the breaker is open.
    assert_eq!(
        body["integrations"]["connected"].as_u64(),
        Some(connected_before - 2),
        "{body}"
    );
}

/// One provider of `GET /api/integrations/status`.
async fn provider(app: &TestApp, id: &str) -> Value {
    let (code, body) = app.integrations_status().await;
    assert_eq!(code, 200, "{body}");
    body["providers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == id)
        .cloned()
        .unwrap()
}

#[sqlx::test]
async fn connections_show_live_health_and_an_open_breaker_is_never_connected(pool: PgPool) {
    let (app, env) = verified_app(&pool, &["polygon"]).await;
    let rt = app.state.runtime.clone();
    // Configured but never called: no proof either way.
    let idle = provider(&app, "fred").await;
    assert_eq!(idle["health"], "UNKNOWN", "{idle}");
    assert_eq!(idle["breaker_state"], "CLOSED", "{idle}");

    // Verified and reading: proof now.
    rt.fetch_bars("polygon", ten_minutes_of_es()).await.unwrap();
    let p = provider(&app, "polygon").await;
    assert_eq!(p["health"], "CONNECTED", "{p}");
    assert_eq!(p["breaker_state"], "CLOSED");
    assert_eq!(
        (p["calls_15m"].as_u64(), p["ok_15m"].as_u64()),
        (Some(2), Some(2))
    );
    assert_eq!(p["success_rate_15m"], 1.0);
    assert_eq!(p["last_error"], Value::Null);
    let p = until("the read in the uptime bar", async || {
        let p = provider(&app, "polygon").await;
        let hours = p["uptime_24h"].as_array()?.clone();
        (hours.len() == 24 && hours.last()?["ok"].as_i64()? >= 1).then_some(p)
    })
    .await;
    assert_eq!(p["uptime_24h"][23]["errors"], 0, "{p}");

    // An outage: the first failure degrades, most failing fails, three open the breaker.
    sandbox_fault(&env["POLYGON_BASE_URL"], "polygon", json!("outage"), None).await;
    rt.fetch_bars("polygon", ten_minutes_of_es())
        .await
        .unwrap_err();
    let p = provider(&app, "polygon").await;
    assert_eq!(p["health"], "DEGRADED", "{p}");
    assert_eq!(p["last_error"]["code"], "PROVIDER_HTTP_5XX", "{p}");
    assert!(
        p["last_error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{p}"
    );
    assert!(p["last_error"]["at"].is_string(), "{p}");
    for _ in 0..2 {
        rt.fetch_bars("polygon", ten_minutes_of_es())
            .await
            .unwrap_err();
    }
    let p = provider(&app, "polygon").await;
    assert_eq!(p["breaker_state"], "OPEN", "{p}");
    assert_eq!(p["health"], "FAILING", "{p}");
    // It passed verify and was used in the last 24 h: neither makes it green.
    assert_eq!(p["connected"], true, "{p}");
    assert!(p["proof_of_use_count_24h"].as_i64().unwrap() >= 1, "{p}");
    rt.fetch_bars("polygon", ten_minutes_of_es())
        .await
        .unwrap_err();
    assert_eq!(provider(&app, "polygon").await["calls_refused"], 1);
    until("the failures in the uptime bar", async || {
        let p = provider(&app, "polygon").await;
        (p["uptime_24h"][23]["errors"].as_i64()? >= 4).then_some(())
    })
    .await;

    // The vendor is back and the operator resets the breaker: no proof yet, so UNKNOWN
    // (not CONNECTED); the next successful call proves it.
    sandbox_fault(&env["POLYGON_BASE_URL"], "polygon", Value::Null, None).await;
    let (code, body) = app.reset_breaker("polygon").await;
    assert_eq!(code, 200, "{body}");
    let p = provider(&app, "polygon").await;
    assert_eq!(p["breaker_state"], "CLOSED", "{p}");
    assert_eq!(p["health"], "UNKNOWN", "{p}");
    assert_eq!(p["calls_15m"], 0, "{p}");
    rt.fetch_bars("polygon", ten_minutes_of_es()).await.unwrap();
    let p = provider(&app, "polygon").await;
    assert_eq!(p["health"], "CONNECTED", "{p}");
    assert_eq!(p["success_rate_15m"], 1.0, "{p}");
}

/// A node serving `env`'s providers under `name`, signed in as an admin.
async fn node(
    pool: &PgPool,
    name: &str,
    env: &tradeplane::integrations::registry::EnvMap,
) -> TestApp {
    let config = tradeplane::runtime::RuntimeConfig {
        node: name.to_owned(),
        provider_env: env.clone(),
        ..runtime_config()
    };
    spawn_app_with_runtime_config(pool.clone(), config)
        .await
        .signed_in_as_admin()
        .await
}

/// Each node's provider breaker is its own (its calls, its network): node-b's Polygon breaker
/// opens while node-a's calls pass. node-a never shows Polygon green meanwhile: its Connections
/// say FAILING with "OPEN on node-b", its status and attention queue name node-b, and node-b's
/// row did not overwrite node-a's. A node that is not alive no longer counts; node-b's reset
/// (through node-b) clears it everywhere.
#[sqlx::test]
async fn a_breaker_open_on_another_node_is_never_shown_green(pool: PgPool) {
    let env_a = start_sandbox().await;
    let env_b = start_sandbox().await;
    let a = node(&pool, "node-a", &env_a).await;
    let b = node(&pool, "node-b", &env_b).await;
    let (code, body) = a.verify_integration("polygon").await;
    assert_eq!(code, 200, "{body}");
    let (rt_a, rt_b) = (a.state.runtime.clone(), b.state.runtime.clone());
    rt_a.fetch_bars("polygon", ten_minutes_of_es())
        .await
        .unwrap();
    assert_eq!(provider(&a, "polygon").await["health"], "CONNECTED");

    // node-b's endpoint is down: three failures open its breaker, node-a's stays CLOSED.
    sandbox_fault(&env_b["POLYGON_BASE_URL"], "polygon", json!("outage"), None).await;
    for _ in 0..3 {
        rt_b.fetch_bars("polygon", ten_minutes_of_es())
            .await
            .unwrap_err();
    }
    assert_eq!(provider(&b, "polygon").await["breaker_state"], "OPEN");
    rt_a.fetch_bars("polygon", ten_minutes_of_es())
        .await
        .unwrap();
    let p = until(
        "node-b's open breaker on node-a's Connections",
        async || {
            let p = provider(&a, "polygon").await;
            (p["breakers_elsewhere"].as_array()?.len() == 1).then_some(p)
        },
    )
    .await;
    assert_eq!(p["breaker_state"], "CLOSED", "{p}");
    assert_eq!(p["health"], "FAILING", "{p}");
    assert_eq!(p["breakers_elsewhere"][0]["node"], "node-b", "{p}");
    assert_eq!(p["breakers_elsewhere"][0]["state"], "OPEN", "{p}");
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT node, state FROM circuit_breakers WHERE scope = 'provider:polygon' ORDER BY node",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert!(rows.contains(&("node-b".into(), "OPEN".into())), "{rows:?}");
    assert!(
        !rows.contains(&("node-a".into(), "OPEN".into())),
        "{rows:?}"
    );
    let (_, message) = until_blocker(&a, "CIRCUIT_BREAKER_OPEN", "SEV-2").await;
    assert!(
        message.contains("provider:polygon is open on node node-b"),
        "{message}"
    );
    let item = until("the attention item", async || {
        let (_, body) = a.call("GET", "/api/attention", None).await;
        body["items"]
            .as_array()?
            .iter()
            .find(|i| i["code"] == "CIRCUIT_BREAKER_OPEN")
            .cloned()
    })
    .await;
    assert!(
        item["message"]
            .as_str()
            .is_some_and(|m| m.contains("provider polygon is OPEN on node node-b")),
        "{item}"
    );
    assert!(
        item["fix"]
            .as_str()
            .is_some_and(|f| f.contains("through node node-b")),
        "{item}"
    );

    // A node that stopped is not alive: its breakers no longer count; back, they do again.
    let stopped = |at: Option<chrono::DateTime<chrono::Utc>>| {
        sqlx::query("UPDATE nodes SET stopped_at = $1 WHERE name = 'node-b'")
            .bind(at)
            .execute(&pool)
    };
    stopped(Some(a.state.clock.now())).await.unwrap();
    assert_eq!(
        provider(&a, "polygon").await["breakers_elsewhere"],
        json!([])
    );
    stopped(None).await.unwrap();
    assert_eq!(provider(&a, "polygon").await["health"], "FAILING");

    // Reset through node-b: no longer open anywhere.
    sandbox_fault(&env_b["POLYGON_BASE_URL"], "polygon", Value::Null, None).await;
    let (code, body) = b.reset_breaker("polygon").await;
    assert_eq!(code, 200, "{body}");
    until("node-b's reset on node-a", async || {
        let p = provider(&a, "polygon").await;
        (p["breakers_elsewhere"] == json!([])).then_some(())
    })
    .await;
    until("no breaker blocker", async || {
        let (_, list) = blockers(&a).await;
        (!list.iter().any(|(c, ..)| c == "CIRCUIT_BREAKER_OPEN")).then_some(())
    })
    .await;
}

/// Tier counts are the stored tiers of every bot, as every node's scorer stored them: a bot
/// scored on another node (absent from this node's tier book) is not counted LOCKED here.
#[sqlx::test]
async fn tier_counts_are_the_stored_tiers_of_every_bot(pool: PgPool) {
    // This node scores nothing (another node's scorer stored the tier below).
    let mut config = crate::support::fixtures::runtime_config();
    config.autonomy.enabled = false;
    let app = crate::support::spawn_app_with_runtime_config(pool.clone(), config)
        .await
        .signed_in_as_admin()
        .await;
    let scored_elsewhere = app
        .new_bot(crate::support::fixtures::sma_bot("scored-elsewhere", "LAB"))
        .await;
    let _never_scored = app
        .new_bot(crate::support::fixtures::sma_bot("never-scored", "LAB"))
        .await;
    sqlx::query(
        "INSERT INTO autonomy_scores (bot_id, autonomy_score, data_reliability_score, \
         decision_quality_score, risk_discipline_score, execution_health_score, \
         supervisor_trust_score, autonomy_tier, breakdown) \
         VALUES ($1::uuid, 95, 95, 95, 95, 95, 95, 'FULL_AUTONOMY', '{}'::jsonb)",
    )
    .bind(&scored_elsewhere)
    .execute(&pool)
    .await
    .unwrap();
    let tiers = until("the stored tiers in the status", async || {
        let (body, _) = blockers(&app).await;
        let t = body["bots"]["byAutonomyTier"].clone();
        (t["FULL_AUTONOMY"] == 1).then_some(t)
    })
    .await;
    assert_eq!(
        tiers,
        json!({"LOCKED": 1, "SUPERVISED": 0, "LIMITED_AUTONOMY": 0, "FULL_AUTONOMY": 1})
    );
}
