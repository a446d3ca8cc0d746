//! `/api/integrations/*` and `/api/profit-variables` through the real server.

use serde_json::{Value, json};
use sqlx::PgPool;
use tradeplane::{
    integrations::registry::EnvMap,
    store::usage_events::{self, UsageEvent, UsageStatus},
};
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{method, path},
};

use crate::support::{
    FAKE_KEY, env_for, error_code,
    fixtures::{provider, wait_for_usage_events},
    spawn_admin_app,
};

#[sqlx::test]
async fn without_keys_every_provider_is_unconfigured_with_a_fix(pool: PgPool) {
    let app = spawn_admin_app(pool, &EnvMap::new()).await;
    let (status, body) = app.integrations_status().await;
    assert_eq!(status, 200);
    let providers = body["providers"].as_array().unwrap();
    assert_eq!(providers.len(), 17);
    for p in providers {
        assert_eq!(p["configured"], false, "{p}");
        assert_eq!(p["connected"], false, "{p}");
        assert_eq!(p["proof_of_use_count_24h"], 0);
        assert_eq!(p["last_used_at"], Value::Null);
        assert_eq!(p["error_code"], "INTEGRATION_KEY_MISSING");
        // No breaker, no calls: live health says so, never green.
        assert_eq!(p["health"], "NOT_CONFIGURED", "{p}");
        assert_eq!(p["breaker_state"], Value::Null, "{p}");
        assert_eq!(p["uptime_24h"], json!([]), "{p}");
        let missing = p["missing_env_vars"].as_array().unwrap();
        assert!(!missing.is_empty());
        let fix = p["suggested_fix"].as_str().unwrap();
        for var in missing {
            assert!(fix.contains(var.as_str().unwrap()), "{fix}");
        }
    }
    assert_eq!(
        provider(&body, "databento")["missing_env_vars"],
        json!(["DATABENTO_API_KEY"])
    );
    assert_eq!(provider(&body, "google_gemini")["category"], "llm");
}

#[sqlx::test]
async fn verify_rejects_unknown_and_unconfigured_providers(pool: PgPool) {
    let app = spawn_admin_app(pool, &EnvMap::new()).await;
    let (status, body) = app.verify_integration("nope").await;
    assert_eq!(status, 404);
    assert_eq!(error_code(&body), "INTEGRATION_UNKNOWN_PROVIDER");
    let (status, body) = app.verify_integration("fred").await;
    assert_eq!(status, 409);
    assert_eq!(error_code(&body), "INTEGRATION_KEY_MISSING");
    assert_eq!(
        body["error"]["details"]["missing_env_vars"],
        json!(["FRED_API_KEY"])
    );
    let (status, body) = app.integration_events("nope", "").await;
    assert_eq!(status, 404);
    assert_eq!(error_code(&body), "INTEGRATION_UNKNOWN_PROVIDER");
    let (status, body) = app
        .call(
            "POST",
            "/api/integrations/verify",
            Some(json!({"provider": "fred"})),
        )
        .await;
    assert!((400..500).contains(&status), "{body}");
}

#[sqlx::test]
async fn verify_records_events_and_drives_connected_across_restarts(pool: PgPool) {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/models"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"object": "list", "data": [{"id": "m"}]})),
        )
        .mount(&server)
        .await;
    let env = env_for("openai", &server.uri());
    let app = spawn_admin_app(pool.clone(), &env).await;

    let (_, before) = app.integrations_status().await;
    let openai = provider(&before, "openai");
    assert_eq!(openai["configured"], true);
    assert_eq!(openai["connected"], Value::Null, "unknown until verified");
    assert_eq!(openai["sandbox"], true);
    assert_eq!(openai["last_verified_at"], Value::Null);

    let res = app
        .client
        .post(app.url("/api/integrations/verify"))
        .json(&json!({"provider_id": "openai"}))
        .send()
        .await
        .unwrap();
    let raw = res.text().await.unwrap();
    assert!(!raw.contains(FAKE_KEY));
    let body: Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(body["outcome"], "ok", "{body}");
    assert_eq!(body["connected"], true);
    let trace = body["trace_id"].as_str().unwrap().to_owned();

    let events = wait_for_usage_events(&pool, "openai", 1).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].status, UsageStatus::Verify);
    assert_eq!(
        events[0].trace_id, trace,
        "the usage event carries the request's trace id"
    );
    let system: (String, String) =
        // The provider's actor has its own (supervision) events; this is the verify's.
        sqlx::query_as("SELECT code, trace_id FROM system_events WHERE provider_id = 'openai' AND code LIKE 'INTEGRATION_%'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(system, ("INTEGRATION_VERIFIED".to_owned(), trace));

    // A restarted process still knows the outcome.
    let restarted = spawn_admin_app(pool.clone(), &env).await;
    let (_, after) = restarted.integrations_status().await;
    let openai = provider(&after, "openai");
    assert_eq!(openai["connected"], true);
    assert!(openai["last_verified_at"].is_string());
    assert_eq!(openai["verify_outcome"], "ok");
    // Verify events are not proof of use.
    assert_eq!(openai["proof_of_use_count_24h"], 0);

    // Pointed at another endpoint, the old result proves nothing.
    let moved = spawn_admin_app(pool.clone(), &env_for("openai", "http://127.0.0.1:9")).await;
    let (_, body) = moved.integrations_status().await;
    assert_eq!(provider(&body, "openai")["connected"], Value::Null);

    // A failing verify turns connected false with the vendor's reason and a fix.
    server.reset().await;
    Mock::given(path("/models"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({"error": {"message": format!("Incorrect API key provided: {FAKE_KEY}"), "code": "invalid_api_key"}})))
        .mount(&server)
        .await;
    let (status, body) = app.verify_integration("openai").await;
    assert_eq!(status, 200);
    assert_eq!(body["outcome"], "invalid_credentials");
    assert_eq!(body["error_code"], "INVALID_CREDENTIALS");
    wait_for_usage_events(&pool, "openai", 2).await;
    let res = app
        .http("GET", "/api/integrations/status")
        .send()
        .await
        .unwrap();
    let raw = res.text().await.unwrap();
    assert!(!raw.contains(FAKE_KEY), "{raw}");
    let body: Value = serde_json::from_str(&raw).unwrap();
    let openai = provider(&body, "openai");
    assert_eq!(openai["connected"], false);
    assert_eq!(openai["error_code"], "INTEGRATION_VERIFY_FAILED");
    assert_eq!(openai["last_error_code_24h"], "INVALID_CREDENTIALS");
    assert!(
        openai["suggested_fix"]
            .as_str()
            .unwrap()
            .contains("replace")
    );

    let res = app
        .http("GET", "/api/integrations/openai/events")
        .send()
        .await
        .unwrap();
    let raw = res.text().await.unwrap();
    assert!(!raw.contains(FAKE_KEY), "{raw}");
    let body: Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(body["items"].as_array().unwrap().len(), 2);
    assert_eq!(body["items"][0]["error_code"], "INVALID_CREDENTIALS");
    let (_, page) = app.integration_events("openai", "limit=1").await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    let cursor = page["next_cursor"].as_str().unwrap();
    let (_, next) = app
        .integration_events("openai", &format!("limit=1&cursor={cursor}"))
        .await;
    assert_eq!(next["items"][0]["status"], "VERIFY");
    assert_eq!(next["next_cursor"], Value::Null);

    // The vendor echoed the key in its error body: no stored row carries it.
    let stored: Vec<String> = sqlx::query_scalar(
        "SELECT message || metadata::text FROM system_events \
         UNION ALL SELECT coalesce(error_code, '') || metadata::text FROM integration_usage_events \
         UNION ALL SELECT message FROM integration_verifications",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert!(stored.len() >= 5);
    for row in stored {
        assert!(!row.contains(FAKE_KEY), "{row}");
    }
}

#[sqlx::test]
async fn status_counts_come_from_the_rollups(pool: PgPool) {
    let now = crate::support::now();
    let mut events = Vec::new();
    for (minutes_ago, status, code) in [
        (5, UsageStatus::Ok, None),
        (30, UsageStatus::Ok, None),
        (60 * 23, UsageStatus::Ok, None),
        (60 * 25, UsageStatus::Ok, None),
        (10, UsageStatus::Error, Some("TIMEOUT")),
        (60 * 30, UsageStatus::Error, Some("OLD_ERROR")),
        (1, UsageStatus::Verify, None),
    ] {
        let at = now - chrono::Duration::minutes(minutes_ago);
        let mut e = UsageEvent::new("polygon", "bars.fetch", status, 12, at);
        e.error_code = code.map(str::to_owned);
        events.push(e);
    }
    // Two batches, the second out of order, to exercise the upserts.
    usage_events::insert_many(&pool, &events[..3])
        .await
        .unwrap();
    usage_events::insert_many(&pool, &events[3..])
        .await
        .unwrap();
    let app = spawn_admin_app(pool, &EnvMap::new()).await;
    let (_, body) = app.integrations_status().await;
    let p = provider(&body, "polygon");
    assert_eq!(p["proof_of_use_count_24h"], 3);
    assert_eq!(p["last_error_code_24h"], "TIMEOUT");
    let last_used: chrono::DateTime<chrono::Utc> =
        p["last_used_at"].as_str().unwrap().parse().unwrap();
    assert!(
        (last_used - (now - chrono::Duration::minutes(5)))
            .num_milliseconds()
            .abs()
            < 5
    );
    assert_eq!(provider(&body, "fred")["proof_of_use_count_24h"], 0);
}

#[sqlx::test]
async fn profit_variables_is_an_honest_empty_list(pool: PgPool) {
    let app = spawn_admin_app(pool.clone(), &EnvMap::new()).await;
    let (status, body) = app.profit_variables("").await;
    assert_eq!(status, 200);
    assert_eq!(body["items"], json!([]));
    assert_eq!(body["next_cursor"], Value::Null);
    sqlx::query(
        "INSERT INTO profit_variables (id, name, category, source_integration, variable_type, description) \
         VALUES ($1, 'fred_cpi_yoy', 'macro', 'fred', 'float', 'CPI year over year')",
    )
    .bind(uuid::Uuid::now_v7())
    .execute(&pool)
    .await
    .unwrap();
    let (_, body) = app.profit_variables("").await;
    assert_eq!(body["items"][0]["name"], "fred_cpi_yoy");
    assert_eq!(body["items"][0]["state"], "ACTIVE");
    let (status, _) = app.profit_variables("limit=0").await;
    assert_eq!(status, 422);
}
