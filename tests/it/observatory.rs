//! The Observatory backend: system status (SPEC §8.1), a breaker opening lowers the bot's
//! autonomy breakdown and tier and shows in the status (SPEC §8.4), status with Postgres gone,
//! and the tier gating trading (a LOCKED bot's evaluation names AUTONOMY_TIER_INSUFFICIENT).

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sqlx::PgPool;
use tradeplane::domain::{bot::BotStatus, breaker::BreakerState, timeframe::Timeframe};
use tradeplane::integrations::registry::EnvMap;
use tradeplane::runtime::{Fault, RunnerOptions, RuntimeConfig, ScorerConfig};
use wiremock::{Mock, MockServer, ResponseTemplate, matchers::method};

use crate::support::{
    TestApp, env_for,
    fixtures::{bot_row, runtime_config as test_config, start_sandbox, until},
    spawn_app_with_env, spawn_app_with_runtime_config,
};

async fn status(app: &TestApp) -> Value {
    let (code, body) = app.system_status().await;
    assert_eq!(code, 200, "{body}");
    body
}

fn codes(body: &Value) -> Vec<(String, String)> {
    body["blockers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["code"].as_str().unwrap().to_owned(),
                b["severity"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[sqlx::test]
async fn status_is_blocked_without_keys_and_lifts_once_sandbox_keys_are_verified(pool: PgPool) {
    // No keys at all.
    let app = spawn_app_with_env(pool.clone(), &EnvMap::new())
        .await
        .signed_in_as_admin()
        .await;
    let body = until("a first tick", async || {
        let b = status(&app).await;
        (b["scheduler"]["loop_health"] == "OK").then_some(b)
    })
    .await;
    assert_eq!(body["system_status"], "BLOCKED", "{body}");
    assert_eq!(body["autonomy_allowed"], false);
    let found = codes(&body);
    assert!(
        found.contains(&("DATA_UNAVAILABLE".into(), "SEV-1".into())),
        "{found:?}"
    );
    // No active bot needs AI: its absence is a notice, not a blocker.
    assert!(
        !found
            .iter()
            .any(|(code, _)| code == "AI_PROVIDER_UNAVAILABLE"),
        "{found:?}"
    );
    assert!(
        body["notices"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["code"] == "AI_PROVIDER_UNAVAILABLE" && n["severity"] == "INFO"),
        "{body}"
    );
    assert!(
        found.contains(&("EXECUTION_BROKER_UNAVAILABLE".into(), "SEV-2".into())),
        "{found:?}"
    );
    for b in body["blockers"].as_array().unwrap() {
        assert!(!b["suggested_fix"].as_str().unwrap().is_empty(), "{b}");
        assert!(!b["message"].as_str().unwrap().is_empty(), "{b}");
        assert_eq!(b["trace_id"], body["trace_id"], "{b}");
    }
    assert_eq!(body["integrations"]["configured"], 0);
    assert!(body["bots"]["byAutonomyTier"]["LOCKED"].is_u64(), "{body}");

    // Sandbox keys for everything, verified: nothing SEV-1 is left.
    let env = start_sandbox().await;
    let app = spawn_app_with_env(pool.clone(), &env)
        .await
        .signed_in_as_admin()
        .await;
    // Before verify, a key alone proves nothing.
    let body = until("a first tick", async || {
        let b = status(&app).await;
        (b["scheduler"]["loop_health"] == "OK" && b["integrations"]["connected"].is_u64())
            .then_some(b)
    })
    .await;
    assert!(
        codes(&body).contains(&("DATA_UNAVAILABLE".into(), "SEV-1".into())),
        "{body}"
    );
    for provider in ["databento", "polygon", "ironbeam", "tradovate", "openai"] {
        let (code, b) = app.verify_integration(provider).await;
        assert_eq!(code, 200, "{provider}: {b}");
    }
    // The snapshot refreshes every second: wait until it holds all five verifies, not just
    // the first that lifts BLOCKED.
    let body = until("the verifies to reach the status", async || {
        let b = status(&app).await;
        (b["system_status"] != "BLOCKED"
            && b["integrations"]["connected"]
                .as_u64()
                .is_some_and(|n| n >= 5))
        .then_some(b)
    })
    .await;
    assert!(
        matches!(body["system_status"].as_str(), Some("OK" | "DEGRADED")),
        "{body}"
    );
    assert_eq!(body["autonomy_allowed"], true);
    assert!(codes(&body).iter().all(|(_, sev)| sev == "SEV-2"), "{body}");
    assert!(
        body["integrations"]["connected"].as_u64().unwrap() >= 5,
        "{body}"
    );
}

#[sqlx::test]
async fn an_open_breaker_lowers_the_breakdown_and_tier_and_shows_in_the_status(pool: PgPool) {
    let app = spawn_app_with_env(pool.clone(), &EnvMap::new())
        .await
        .signed_in_as_admin()
        .await;
    let rt = app.state.runtime.clone();
    let bot = bot_row(&pool).await;
    let opts = RunnerOptions {
        timeframe: Timeframe::S1,
        live: false,
    };
    rt.start_runner(bot, opts).await.unwrap();
    // The baseline must already hold the bot's first evaluation: scored before it, the bot
    // has less evidence than after, and the drop would be measured against an empty score.
    let before = until("a first score after an evaluation", async || {
        let (_, b) = app.rescore_bot(&bot).await;
        let s = &b["autonomy_score"];
        let evaluated = s["breakdown"]["sub_scores"]
            .as_array()?
            .iter()
            .find(|p| p["name"] == "decision_quality")?["evidence"]["runner_evaluations"]
            .as_i64()?
            >= 1;
        (evaluated && s["supervisor_trust_score"].as_i64() == Some(100)).then(|| s.clone())
    })
    .await;
    let breaker_gate = |s: &Value| {
        s["breakdown"]["gates"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["gate"] == "no_open_breaker")
            .cloned()
            .unwrap()
    };
    assert_eq!(breaker_gate(&before)["passed"], true);

    // Three failures open the runner's breaker.
    for n in 1..=3 {
        let _ = rt
            .inject_fault(bot, Fault::Fail(format!("drill {n}")))
            .await;
        if n < 3 {
            until("the restart", async || {
                let r = rt.runner(bot)?;
                (r.restart_count == n && r.status.is_live()).then_some(json!(null))
            })
            .await;
        }
    }
    until("the breaker to open", async || {
        (rt.runner(bot)?.breaker_state == BreakerState::Open).then_some(json!(null))
    })
    .await;
    let opened = Instant::now();
    let after = until("the score to drop", async || {
        let (_, b) = app.autonomy_score(&bot).await;
        let s = &b["autonomy_score"];
        (s["autonomy_tier"] == "LOCKED" && s["supervisor_trust_score"] == 0).then(|| s.clone())
    })
    .await;
    let took = opened.elapsed();
    assert!(took < Duration::from_secs(1), "tier dropped after {took:?}");
    assert!(
        after["autonomy_score"].as_i64() < before["autonomy_score"].as_i64(),
        "{before} → {after}"
    );
    let gate = breaker_gate(&after);
    assert_eq!(gate["passed"], false);
    assert_eq!(gate["evidence"]["breaker_state"], "OPEN");
    assert!(!gate["fix"].as_str().unwrap().is_empty());
    assert_eq!(rt.runner(bot).unwrap().status, BotStatus::Error);

    // The status lists the open breaker.
    let body = status(&app).await;
    let scope = format!("bot:{bot}");
    assert!(
        body["scheduler"]["circuit_breakers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b["scope"] == scope.as_str() && b["state"] == "OPEN"),
        "{body}"
    );
    assert!(
        body["blockers"].as_array().unwrap().iter().any(|b| {
            b["code"] == "CIRCUIT_BREAKER_OPEN"
                && b["severity"] == "SEV-2"
                && b["message"].as_str().unwrap().contains(&scope)
        }),
        "{body}"
    );
    // POST re-scores on demand, with the same verdict.
    let (code, b) = app.rescore_bot(&bot).await;
    assert_eq!(code, 200, "{b}");
    assert_eq!(b["autonomy_score"]["autonomy_tier"], "LOCKED");
}

/// A vendor answering every read with a 503.
async fn failing_vendor() -> MockServer {
    let vendor = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(503).set_body_string("upstream down"))
        .mount(&vendor)
        .await;
    vendor
}

/// Three failed verifies against [`failing_vendor`] open polygon's breaker.
async fn open_polygon_breaker(app: &TestApp) {
    for _ in 0..3 {
        let (code, b) = app.verify_integration("polygon").await;
        assert_eq!(code, 200, "{b}");
        assert_eq!(b["outcome"], "provider_error", "{b}");
    }
}

/// The runners' market-data provider opening its breaker (the vendor failing) is a breaker
/// every bot depends on: every bot is re-scored at once (not at the next periodic pass) and
/// locked, with the provider's breaker named in its gates and data reliability at 0.
#[sqlx::test]
async fn an_open_feed_provider_breaker_rescores_every_bot_at_once_and_locks_it(pool: PgPool) {
    let vendor = failing_vendor().await;
    let config = RuntimeConfig {
        provider_env: env_for("polygon", &vendor.uri()),
        // Only health changes re-score within this test.
        autonomy: ScorerConfig {
            every: Duration::from_secs(3600),
            ..test_config().autonomy
        },
        ..test_config()
    };
    let app = spawn_app_with_runtime_config(pool.clone(), config)
        .await
        .signed_in_as_admin()
        .await;
    let bot = bot_row(&pool).await;
    let score = async || {
        let (_, b) = app.autonomy_score(&bot).await;
        b["autonomy_score"].clone()
    };
    // The start-up pass may or may not have seen the bot; either way nothing re-scores it
    // before the breaker moves.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = score().await["last_updated_at"].clone();

    open_polygon_breaker(&app).await;
    let opened = Instant::now();
    let s = until("a score after the breaker opened", async || {
        let s = score().await;
        (!s.is_null() && s["last_updated_at"] != before).then_some(s)
    })
    .await;
    assert!(
        opened.elapsed() < Duration::from_secs(2),
        "{:?}",
        opened.elapsed()
    );
    assert_eq!(s["autonomy_tier"], "LOCKED", "{s}");
    assert_eq!(s["data_reliability_score"], 0, "{s}");
    for name in ["not_killed_or_breaker_open", "no_open_breaker"] {
        let gate = s["breakdown"]["gates"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["gate"] == name)
            .unwrap();
        assert_eq!(gate["passed"], false, "{gate}");
        assert_eq!(gate["evidence"]["feed_breaker_state"], "OPEN", "{gate}");
    }
}

/// A bot is LOCKED while its feed provider's breaker is open (a lasting cause: a bot merely
/// without data scores SUPERVISED once its runner has evaluated), and every evaluation it
/// runs meanwhile is suppressed by the tier gate.
#[sqlx::test]
async fn a_locked_bot_is_suppressed_with_autonomy_tier_insufficient(pool: PgPool) {
    let vendor = failing_vendor().await;
    let config = RuntimeConfig {
        provider_env: env_for("polygon", &vendor.uri()),
        ..test_config()
    };
    let app = spawn_app_with_runtime_config(pool.clone(), config)
        .await
        .signed_in_as_admin()
        .await;
    let rt = app.state.runtime.clone();
    let bot = bot_row(&pool).await;
    rt.start_runner(
        bot,
        RunnerOptions {
            timeframe: Timeframe::S1,
            live: false,
        },
    )
    .await
    .unwrap();
    open_polygon_breaker(&app).await;
    let blocked = until("a no-trade naming the tier", async || {
        let (_, b) = app.no_trade_traces(&bot, "").await;
        b["items"]
            .as_array()?
            .iter()
            .find(|t| {
                t["blocked_by"]
                    .as_array()
                    .is_some_and(|bs| bs.iter().any(|x| x["code"] == "AUTONOMY_TIER_INSUFFICIENT"))
            })
            .cloned()
    })
    .await;
    assert_eq!(blocked["suppression_type"], "GATE_BLOCKED");
    let tier = blocked["blocked_by"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["code"] == "AUTONOMY_TIER_INSUFFICIENT")
        .unwrap();
    assert_eq!(tier["gate"], "autonomy_tier");
    assert!(
        tier["reason_human"].as_str().unwrap().contains("LOCKED"),
        "{tier}"
    );
    // The score that locked it is stored with its breakdown, naming the open breaker.
    let (_, b) = app.autonomy_score(&bot).await;
    assert_eq!(b["autonomy_score"]["autonomy_tier"], "LOCKED", "{b}");
    let gate = b["autonomy_score"]["breakdown"]["gates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["gate"] == "not_killed_or_breaker_open")
        .cloned()
        .unwrap();
    assert_eq!(gate["passed"], false, "{gate}");
}

/// Postgres gone (the test database's connections are terminated and new ones refused):
/// the status still answers at once, BLOCKED with DATABASE_UNAVAILABLE.
#[sqlx::test]
async fn with_postgres_gone_the_status_still_answers_blocked(pool: PgPool) {
    let app = spawn_app_with_env(pool.clone(), &EnvMap::new())
        .await
        .signed_in_as_admin()
        .await;
    until("a current snapshot", async || {
        let b = status(&app).await;
        (!codes(&b).iter().any(|(c, _)| c == "DATABASE_UNAVAILABLE")).then_some(b)
    })
    .await;
    let db: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(&pool)
        .await
        .unwrap();
    // Another connection (outside the test pool) takes the database away.
    let admin_url = std::env::var("DATABASE_URL").unwrap();
    let admin = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(&admin_url)
        .await
        .unwrap();
    sqlx::query(&format!("ALTER DATABASE \"{db}\" ALLOW_CONNECTIONS false"))
        .execute(&admin)
        .await
        .unwrap();
    sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()")
        .bind(&db)
        .execute(&admin)
        .await
        .unwrap();
    let body = until("DATABASE_UNAVAILABLE", async || {
        let started = Instant::now();
        let b = status(&app).await;
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "status took {:?}",
            started.elapsed()
        );
        codes(&b)
            .contains(&("DATABASE_UNAVAILABLE".into(), "SEV-1".into()))
            .then_some(b)
    })
    .await;
    assert_eq!(body["system_status"], "BLOCKED");
    assert_eq!(body["autonomy_allowed"], false);
    assert!(body["bots"]["byAutonomyTier"].is_null(), "{body}");
    sqlx::query(&format!("ALTER DATABASE \"{db}\" ALLOW_CONNECTIONS true"))
        .execute(&admin)
        .await
        .unwrap();
}
