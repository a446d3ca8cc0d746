//! `GET /api/ai-ops/summary`: per LLM provider calls, errors by code and latency percentiles
//! over a window, checked against values computed by hand; empty rows say why.

use chrono::{Duration, Utc};
use serde_json::{Value, json};
use sqlx::PgPool;
use tradeplane::{
    api::AppState,
    clock::Clock,
    integrations::registry::EnvMap,
    runtime::RuntimeHandle,
    store::usage_events::{self, UsageEvent, UsageStatus},
};

use crate::support::{TestApp, error_code, test_config};

/// The app with providers configured from `env` and no supervision tree (the summary reads
/// only the registry and Postgres), signed in as the admin.
async fn spawn_with_env(pool: PgPool, env: &EnvMap) -> TestApp {
    let state = AppState::with_env(
        pool.clone(),
        test_config(),
        RuntimeHandle::detached(Clock::system()),
        env,
    );
    crate::support::serve_state(state)
        .await
        .signed_in_as_admin()
        .await
}

fn event(
    provider: &str,
    status: UsageStatus,
    latency: u32,
    code: Option<&str>,
    ago: Duration,
) -> UsageEvent {
    let mut e = UsageEvent::new(
        provider,
        "chat",
        status,
        latency,
        crate::support::now() - ago,
    );
    e.error_code = code.map(str::to_owned);
    e
}

fn provider<'a>(body: &'a Value, id: &str) -> &'a Value {
    body["providers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["provider_id"] == id)
        .unwrap_or_else(|| panic!("{id} missing from {body}"))
}

fn close(v: &Value, want: f64) {
    let got = v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"));
    assert!((got - want).abs() < 1e-6, "{got} != {want}");
}

/// openai and anthropic have calls, groq is configured and idle, the others are not set.
async fn seed(pool: &PgPool) {
    use UsageStatus::{Error, Ok, Verify};
    let min = Duration::minutes;
    let events = vec![
        // openai, 10 minutes ago: 4 OK, a verify, 2 vendor errors and one breaker refusal
        // (never reached the vendor: counted, not timed).
        event("openai", Ok, 100, None, min(10)),
        event("openai", Ok, 200, None, min(10)),
        event("openai", Ok, 300, None, min(10)),
        event("openai", Ok, 400, None, min(10)),
        event("openai", Verify, 50, None, min(10)),
        event("openai", Error, 500, Some("RATE_LIMITED"), min(10)),
        event("openai", Error, 10_000, Some("TIMEOUT"), min(10)),
        event("openai", Error, 0, Some("CIRCUIT_BREAKER_OPEN"), min(10)),
        // Outside 24h, inside 7d.
        event(
            "openai",
            Error,
            99_999,
            Some("INVALID_CREDENTIALS"),
            Duration::hours(25),
        ),
        // anthropic, 3 hours ago (outside a 1h window).
        event("anthropic", Ok, 10, None, Duration::hours(3)),
        event("anthropic", Ok, 20, None, Duration::hours(3)),
        event(
            "anthropic",
            Error,
            30,
            Some("PROVIDER_HTTP_5XX"),
            Duration::hours(3),
        ),
        event(
            "anthropic",
            Error,
            40,
            Some("PROVIDER_HTTP_5XX"),
            Duration::hours(3),
        ),
        // Not an LLM: never counted.
        event("databento", Error, 7, Some("TIMEOUT"), min(5)),
    ];
    usage_events::insert_many(pool, &events).await.unwrap();
}

fn llm_env() -> EnvMap {
    ["OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GROQ_API_KEY"]
        .into_iter()
        .map(|k| (k.to_owned(), "FAKEKEY-ai-ops".to_owned()))
        .collect()
}

#[sqlx::test]
async fn the_summary_matches_hand_computed_counts_and_percentiles(pool: PgPool) {
    seed(&pool).await;
    let app = spawn_with_env(pool, &llm_env()).await;
    let (status, body) = app.ai_ops_summary("").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["window"], "24h");
    let ids: Vec<_> = body["providers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["provider_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "openai",
            "anthropic",
            "google_gemini",
            "groq",
            "xai",
            "openrouter"
        ]
    );

    let openai = provider(&body, "openai");
    assert_eq!(openai["configured"], true);
    assert_eq!(openai["calls"], 8);
    assert_eq!(openai["ok"], 4);
    assert_eq!(openai["errors"], 3);
    close(&openai["error_rate"], 3.0 / 8.0);
    assert_eq!(
        openai["errors_by_code"],
        json!({"RATE_LIMITED": 1, "TIMEOUT": 1, "CIRCUIT_BREAKER_OPEN": 1})
    );
    // Timed: 50 100 200 300 400 500 10000 (the refusal is not). percentile_cont interpolates
    // at (n-1)·p: p50 → index 3 = 300; p95 → 5.7 = 500 + 0.7·9500; p99 → 5.94.
    close(&openai["latency_ms"]["p50"], 300.0);
    close(&openai["latency_ms"]["p95"], 7150.0);
    close(&openai["latency_ms"]["p99"], 9430.0);
    assert_eq!(openai["no_data_reason"], Value::Null);
    assert!(openai["last_used_at"].is_string());
    assert!(openai["last_call_at"].is_string());

    let anthropic = provider(&body, "anthropic");
    assert_eq!(anthropic["calls"], 4);
    assert_eq!(anthropic["errors"], 2);
    assert_eq!(anthropic["errors_by_code"], json!({"PROVIDER_HTTP_5XX": 2}));
    // 10 20 30 40: p50 → 1.5 = 25; p95 → 2.85 = 38.5; p99 → 2.97 = 39.7.
    close(&anthropic["latency_ms"]["p50"], 25.0);
    close(&anthropic["latency_ms"]["p95"], 38.5);
    close(&anthropic["latency_ms"]["p99"], 39.7);

    let groq = provider(&body, "groq");
    assert_eq!(groq["configured"], true);
    assert_eq!(groq["calls"], 0);
    assert_eq!(groq["latency_ms"], Value::Null);
    assert_eq!(groq["error_rate"], Value::Null);
    assert_eq!(groq["errors_by_code"], json!({}));
    assert_eq!(groq["no_data_reason"], "no calls in the window");
    for id in ["google_gemini", "xai", "openrouter"] {
        let p = provider(&body, id);
        assert_eq!(p["configured"], false);
        assert_eq!(p["latency_ms"], Value::Null);
        assert_eq!(p["last_used_at"], Value::Null);
        assert_eq!(p["no_data_reason"], "not configured", "{p}");
    }

    let totals = &body["totals"];
    assert_eq!(totals["providers"], 6);
    assert_eq!(totals["providers_configured"], 3);
    assert_eq!(totals["providers_with_calls"], 2);
    assert_eq!(totals["calls"], 12);
    assert_eq!(totals["errors"], 5);
    assert_eq!(
        totals["errors_by_code"],
        json!({"RATE_LIMITED": 1, "TIMEOUT": 1, "CIRCUIT_BREAKER_OPEN": 1, "PROVIDER_HTTP_5XX": 2})
    );
    // 10 20 30 40 50 100 200 300 400 500 10000: p50 → index 5 = 100; p95 → 9.5 = 500 +
    // 0.5·9500; p99 → 9.9 = 500 + 0.9·9500.
    close(&totals["latency_ms"]["p50"], 100.0);
    close(&totals["latency_ms"]["p95"], 5250.0);
    close(&totals["latency_ms"]["p99"], 9050.0);
    assert_eq!(totals["no_data_reason"], Value::Null);
}

#[sqlx::test]
async fn the_window_decides_what_counts(pool: PgPool) {
    seed(&pool).await;
    let app = spawn_with_env(pool, &llm_env()).await;

    let (status, body) = app.ai_ops_summary("window=1h").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(provider(&body, "openai")["calls"], 8);
    let anthropic = provider(&body, "anthropic");
    assert_eq!(anthropic["calls"], 0);
    assert_eq!(anthropic["latency_ms"], Value::Null);
    assert_eq!(anthropic["no_data_reason"], "no calls in the window");
    // Its last successful call is older than the window, and still shown.
    assert!(anthropic["last_used_at"].is_string());
    assert_eq!(body["totals"]["calls"], 8);

    let (status, body) = app.ai_ops_summary("window=7d").await;
    assert_eq!(status, 200, "{body}");
    let openai = provider(&body, "openai");
    assert_eq!(openai["calls"], 9);
    assert_eq!(openai["errors_by_code"]["INVALID_CREDENTIALS"], 1);
    assert_eq!(body["totals"]["calls"], 13);

    // A window with nothing at all: every latency null, every row says why.
    sqlx::query("DELETE FROM integration_usage_events")
        .execute(&app.pool)
        .await
        .unwrap();
    let (_, body) = app.ai_ops_summary("window=30m").await;
    assert_eq!(body["totals"]["calls"], 0);
    assert_eq!(body["totals"]["latency_ms"], Value::Null);
    assert_eq!(body["totals"]["no_data_reason"], "no calls in the window");
    assert_eq!(
        provider(&body, "openai")["no_data_reason"],
        "no calls in the window"
    );
}

#[sqlx::test]
async fn a_bad_window_is_refused_naming_it_and_strangers_are_not_let_in(pool: PgPool) {
    let app = spawn_with_env(pool, &EnvMap::new()).await;
    for bad in ["abc", "0h", "31d", "1w", "%C3%A9", "24"] {
        let (status, body) = app.ai_ops_summary(&format!("window={bad}")).await;
        assert_eq!(status, 422, "{bad}: {body}");
        assert_eq!(error_code(&body), "VALIDATION_FAILED");
        assert_eq!(body["error"]["details"]["field"], "window", "{body}");
    }
    // Nothing configured: the totals say so.
    let (_, body) = app.ai_ops_summary("").await;
    assert_eq!(
        body["totals"]["no_data_reason"],
        "no LLM provider configured"
    );

    let (status, body) = app.anonymous().ai_ops_summary("").await;
    assert_eq!(status, 401, "{body}");

    // A viewer may read it.
    let admin = app.admin_client().await;
    let viewer = app
        .user_with_role(&admin, "viewer@example.com", "viewer")
        .await;
    assert_eq!(app.as_user(&viewer).ai_ops_summary("").await.0, 200);
}

/// The bucket of a provider's series that contains `at`.
fn bucket_at(series: &Value, width_secs: f64, at: chrono::DateTime<Utc>) -> Value {
    series["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| {
            let start: chrono::DateTime<Utc> = b["start"].as_str().unwrap().parse().unwrap();
            let end = start + Duration::microseconds((width_secs * 1e6) as i64);
            start <= at && at < end
        })
        .cloned()
        .unwrap_or_else(|| panic!("no bucket holds {at}: {series}"))
}

#[sqlx::test]
async fn the_series_buckets_counts_and_percentiles_per_llm_provider(pool: PgPool) {
    use UsageStatus::{Error, Ok};
    let mut events: Vec<UsageEvent> = [100, 200, 300, 400]
        .into_iter()
        .map(|ms| event("openai", Ok, ms, None, Duration::minutes(10)))
        .collect();
    events.push(event(
        "openai",
        Error,
        500,
        Some("RATE_LIMITED"),
        Duration::minutes(10),
    ));
    events.push(event(
        "openai",
        Error,
        0,
        Some("CIRCUIT_BREAKER_OPEN"),
        Duration::minutes(10),
    ));
    // A bucket whose only call was refused by the breaker: counted, never timed.
    events.push(event(
        "openai",
        Error,
        0,
        Some("CIRCUIT_BREAKER_OPEN"),
        Duration::hours(5),
    ));
    events.push(event("anthropic", Ok, 10, None, Duration::hours(3)));
    events.push(event("anthropic", Ok, 30, None, Duration::hours(3)));
    // Not an LLM, and an LLM call outside the window.
    events.push(event("databento", Ok, 7, None, Duration::minutes(5)));
    events.push(event("openai", Ok, 9, None, Duration::hours(25)));
    usage_events::insert_many(&pool, &events).await.unwrap();
    // The times the events carry, to find their buckets.
    let (recent, refused_only) = (events[0].created_at, events[6].created_at);
    let app = spawn_with_env(pool, &llm_env()).await;

    let (status, body) = app.ai_ops_series("").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["window"], "24h");
    assert_eq!(body["bucket_seconds"], 3600.0);
    let ids: Vec<_> = body["providers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["provider_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "openai",
            "anthropic",
            "google_gemini",
            "groq",
            "xai",
            "openrouter"
        ]
    );
    let openai = provider(&body, "openai");
    assert_eq!(openai["buckets"].as_array().unwrap().len(), 24);
    assert_eq!(openai["calls"], 7);
    assert_eq!(openai["errors"], 3);
    let b = bucket_at(openai, 3600.0, recent);
    assert_eq!(b["calls"], 6);
    assert_eq!(b["errors"], 2);
    // Reached the vendor: 100, 200, 300, 400, 500 (interpolated percentiles).
    close(&b["p50_ms"], 300.0);
    close(&b["p95_ms"], 480.0);
    close(&b["p99_ms"], 496.0);
    let b = bucket_at(openai, 3600.0, refused_only);
    assert_eq!(
        (b["calls"].as_i64(), b["errors"].as_i64()),
        (Some(1), Some(1))
    );
    assert_eq!(b["p50_ms"], Value::Null);
    assert_eq!(b["p99_ms"], Value::Null);
    let empty = openai["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["calls"] == 0)
        .count();
    assert_eq!(empty, 22);
    assert!(
        openai["buckets"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|b| b["calls"] == 0)
            .all(|b| b["p50_ms"].is_null() && b["p95_ms"].is_null())
    );
    let anthropic = provider(&body, "anthropic");
    assert_eq!(anthropic["calls"], 2);
    let b = bucket_at(anthropic, 3600.0, events[7].created_at);
    close(&b["p50_ms"], 20.0);
    assert_eq!(
        provider(&body, "groq")["no_data_reason"],
        "no calls in the window"
    );
    assert_eq!(provider(&body, "xai")["no_data_reason"], "not configured");

    // A 1h window in 4 buckets of 15 minutes: only the recent calls.
    let (status, body) = app.ai_ops_series("window=1h&buckets=4").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["bucket_seconds"], 900.0);
    let openai = provider(&body, "openai");
    assert_eq!(openai["calls"], 6);
    assert_eq!(bucket_at(openai, 900.0, recent)["calls"], 6);

    for (query, field) in [
        ("buckets=0", "buckets"),
        ("buckets=1000", "buckets"),
        ("buckets=x", "buckets"),
        ("window=0h", "window"),
    ] {
        let (status, body) = app.ai_ops_series(query).await;
        assert_eq!(status, 422, "{query}: {body}");
        assert_eq!(error_code(&body), "VALIDATION_FAILED");
        assert_eq!(body["error"]["details"]["field"], field, "{query}");
    }
}
