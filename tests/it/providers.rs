//! The Providers supervisor: one ProviderActor per configured provider, each behind its own
//! circuit breaker (`provider:<id>`), persisted across restarts and reported as system events.

use std::time::Duration;

use serde_json::{Value, json};
use sqlx::PgPool;
use tradeplane::{
    api::AppState,
    clock::Clock,
    domain::{breaker::BreakerState, instruments::Symbol, timeframe::Timeframe},
    integrations::{http::CallContext, registry::EnvMap},
    runtime::{
        BarsRequest, ProviderCallError, ProviderHealth, Runtime, RuntimeConfig, RuntimeHandle,
    },
    store::usage_events::{self, UsageStatus},
};
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{method, path},
};

use crate::support::{
    TestApp, env_for, error_code,
    fixtures::{until, wait_for_usage_events},
    serve_state, spawn_admin_app, test_config,
};

fn config(env: &EnvMap) -> RuntimeConfig {
    RuntimeConfig {
        provider_env: env.clone(),
        ..crate::support::fixtures::runtime_config()
    }
}

fn health(app: &TestApp, id: &str) -> ProviderHealth {
    app.state
        .runtime
        .providers_health()
        .into_iter()
        .find(|h| h.provider_id == id)
        .unwrap()
}

async fn openai_failing() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/models"))
        .respond_with(ResponseTemplate::new(503).set_body_string("upstream down"))
        .mount(&server)
        .await;
    server
}

#[sqlx::test]
async fn three_failures_open_the_breaker_and_the_fourth_call_never_reaches_the_vendor(
    pool: PgPool,
) {
    let server = openai_failing().await;
    let env = env_for("openai", &server.uri());
    let app = spawn_admin_app(pool.clone(), &env).await;
    assert_eq!(health(&app, "openai").breaker_state, BreakerState::Closed);

    for i in 1..=3 {
        let (status, body) = app.verify_integration("openai").await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["outcome"], "provider_error", "call {i}: {body}");
    }
    assert_eq!(server.received_requests().await.unwrap().len(), 3);
    let h = health(&app, "openai");
    assert_eq!(h.breaker_state, BreakerState::Open);
    assert_eq!(h.last_error_code.as_deref(), Some("PROVIDER_HTTP_5XX"));

    let (status, body) = app.verify_integration("openai").await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(error_code(&body), "CIRCUIT_BREAKER_OPEN");
    assert!(
        body["error"]["details"]["retry_after_ms"].as_u64().unwrap() > 0,
        "{body}"
    );
    assert_eq!(
        server.received_requests().await.unwrap().len(),
        3,
        "no 4th request reached the vendor"
    );
    assert_eq!(health(&app, "openai").refused, 1);

    // Three real verifies and one refusal, which says no request was made.
    let events = wait_for_usage_events(&pool, "openai", 4).await;
    assert_eq!(events.len(), 4);
    let refused: Vec<_> = events
        .iter()
        .filter(|e| e.error_code.as_deref() == Some("CIRCUIT_BREAKER_OPEN"))
        .collect();
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0].metadata["refused"], true);

    // The transition is a system event with the provider's id.
    let opened: (String, String) = until("the breaker event", async || {
        sqlx::query_as(
            "SELECT severity, message FROM system_events
             WHERE provider_id = 'openai' AND code = 'CIRCUIT_BREAKER_OPENED'",
        )
        .fetch_optional(&pool)
        .await
        .unwrap()
    })
    .await;
    assert_eq!(opened.0, "SEV-2");
    assert!(opened.1.contains("provider:openai"), "{}", opened.1);

    // The runtime status lists the provider's breaker next to the runners'.
    let (_, status) = app.runtime_status().await;
    let breaker = status["breakers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["scope"] == "provider:openai")
        .cloned()
        .unwrap_or(Value::Null);
    assert_eq!(breaker["state"], "OPEN", "{status}");
}

#[sqlx::test]
async fn an_open_provider_breaker_survives_a_restart(pool: PgPool) {
    let server = openai_failing().await;
    let env = env_for("openai", &server.uri());
    let first = Runtime::start(pool.clone(), config(&env)).await.unwrap();
    let rt = first.handle();
    for _ in 0..3 {
        let (report, _) = rt.verify_provider("openai").await.unwrap();
        assert_eq!(report.outcome.as_str(), "provider_error");
    }
    assert!(matches!(
        rt.verify_provider("openai").await,
        Err(ProviderCallError::BreakerOpen { .. })
    ));
    first.shutdown().await;
    let saved: String =
        sqlx::query_scalar("SELECT state FROM circuit_breakers WHERE scope = 'provider:openai'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(saved, "OPEN");

    let second = Runtime::start(pool.clone(), config(&env)).await.unwrap();
    let rt = second.handle();
    let h = rt.providers_health();
    assert_eq!(h.len(), 1);
    assert_eq!(h[0].breaker_state, BreakerState::Open);
    assert!(matches!(
        rt.verify_provider("openai").await,
        Err(ProviderCallError::BreakerOpen { .. })
    ));
    assert_eq!(server.received_requests().await.unwrap().len(), 3);
    second.shutdown().await;
}

#[sqlx::test]
async fn verify_through_the_api_runs_in_the_actor_once(pool: PgPool) {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/models"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"object": "list", "data": [{"id": "m"}]})),
        )
        .mount(&server)
        .await;
    let app = spawn_admin_app(pool.clone(), &env_for("openai", &server.uri())).await;
    assert_eq!(health(&app, "openai").last_ok_at, None);
    let (status, body) = app.verify_integration("openai").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["outcome"], "ok");
    assert!(health(&app, "openai").last_ok_at.is_some());
    let events = wait_for_usage_events(&pool, "openai", 1).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let events_later = usage_events::latest_for_provider(&pool, "openai", 10)
        .await
        .unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events_later.len(), 1, "exactly one VERIFY usage event");
    assert_eq!(events_later[0].status, UsageStatus::Verify);
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}

#[sqlx::test]
async fn a_failed_provider_actor_is_restarted_by_the_providers_supervisor(pool: PgPool) {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/models"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"object": "list", "data": [{"id": "m"}]})),
        )
        .mount(&server)
        .await;
    let app = spawn_admin_app(pool.clone(), &env_for("openai", &server.uri())).await;
    let rt = app.state.runtime.clone();
    rt.fail_provider("openai", "injected failure").unwrap();
    until("the restart", async || {
        (health(&app, "openai").restarts == 1).then_some(())
    })
    .await;
    // The restarted actor serves calls, with the same breaker.
    let (report, _) = until("the restarted actor", async || {
        rt.verify_provider("openai").await.ok()
    })
    .await;
    assert_eq!(report.outcome.as_str(), "ok");
    let restarted: i64 = until("the supervision event", async || {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM system_events
             WHERE provider_id = 'openai' AND code = 'SUPERVISION_CHILD_RESTARTED'",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        (n > 0).then_some(n)
    })
    .await;
    assert_eq!(restarted, 1);
}

#[sqlx::test]
async fn bars_go_through_the_actor_and_a_bad_request_does_not_count(pool: PgPool) {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/futures/v1/aggs/NQZ6"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({"status": "NOT_FOUND"})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/futures/v1/aggs/ESZ6"))
        .respond_with(ResponseTemplate::new(500).set_body_string("boom"))
        .mount(&server)
        .await;
    let app = spawn_admin_app(pool.clone(), &env_for("polygon", &server.uri())).await;
    let rt = app.state.runtime.clone();
    let request = |instrument: Symbol| BarsRequest {
        instrument,
        contract: None,
        timeframe: Timeframe::D1,
        from: "2026-11-23T00:00:00Z".parse().unwrap(),
        to: "2026-11-25T00:00:00Z".parse().unwrap(),
        ctx: CallContext::default(),
    };
    let err = rt
        .fetch_bars("polygon", request(Symbol::Nq))
        .await
        .unwrap_err();
    assert!(matches!(err, ProviderCallError::Bars(_)), "{err}");
    assert_eq!(
        health(&app, "polygon").failures_in_window,
        0,
        "the caller's fault"
    );

    let err = rt
        .fetch_bars("polygon", request(Symbol::Es))
        .await
        .unwrap_err();
    assert!(matches!(err, ProviderCallError::Bars(_)), "{err}");
    assert_eq!(
        health(&app, "polygon").failures_in_window,
        1,
        "the provider's fault"
    );

    // A provider with no actor (not configured) is refused without a call.
    assert!(matches!(
        rt.fetch_bars("databento", request(Symbol::Es)).await,
        Err(ProviderCallError::NotConfigured(_))
    ));
}

#[sqlx::test]
async fn after_the_cool_down_one_probe_closes_the_breaker(pool: PgPool) {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/models"))
        .respond_with(ResponseTemplate::new(503).set_body_string("upstream down"))
        .up_to_n_times(3)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/models"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"object": "list", "data": [{"id": "m"}]})),
        )
        .mount(&server)
        .await;
    let clock = Clock::manual(crate::support::now());
    let env = env_for("openai", &server.uri());
    let runtime = Runtime::start(
        pool.clone(),
        RuntimeConfig {
            clock: clock.clone(),
            ..config(&env)
        },
    )
    .await
    .unwrap();
    let rt = runtime.handle();
    for _ in 0..3 {
        rt.verify_provider("openai").await.unwrap();
    }
    let Err(ProviderCallError::BreakerOpen { retry_after, .. }) =
        rt.verify_provider("openai").await
    else {
        panic!("the breaker should be open");
    };
    assert_eq!(server.received_requests().await.unwrap().len(), 3);

    clock.advance(chrono::TimeDelta::from_std(retry_after + Duration::from_secs(1)).unwrap());
    let (report, _) = rt.verify_provider("openai").await.unwrap();
    assert_eq!(
        report.outcome.as_str(),
        "ok",
        "the probe reached the vendor"
    );
    assert_eq!(rt.providers_health()[0].breaker_state, BreakerState::Closed);
    runtime.shutdown().await;

    let codes: Vec<String> = sqlx::query_scalar(
        "SELECT code FROM system_events
         WHERE provider_id = 'openai' AND code LIKE 'CIRCUIT_BREAKER_%' ORDER BY created_at, id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        codes,
        [
            "CIRCUIT_BREAKER_OPENED",
            "CIRCUIT_BREAKER_HALF_OPEN",
            "CIRCUIT_BREAKER_CLOSED"
        ]
    );
    let saved: String =
        sqlx::query_scalar("SELECT state FROM circuit_breakers WHERE scope = 'provider:openai'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(saved, "CLOSED");
}

/// 503 for the first three calls, then 200.
async fn openai_down_then_up() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/models"))
        .respond_with(ResponseTemplate::new(503).set_body_string("upstream down"))
        .up_to_n_times(3)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/models"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"object": "list", "data": [{"id": "m"}]})),
        )
        .mount(&server)
        .await;
    server
}

/// `(code, metadata)` of the provider's system events with `code`, once at least one exists.
async fn provider_events(pool: &PgPool, provider: &str, code: &str) -> Vec<Value> {
    until(code, async || {
        let rows: Vec<Value> = sqlx::query_scalar(
            "SELECT metadata FROM system_events WHERE provider_id = $1 AND code = $2
             ORDER BY created_at, id",
        )
        .bind(provider)
        .bind(code)
        .fetch_all(pool)
        .await
        .unwrap();
        (!rows.is_empty()).then_some(rows)
    })
    .await
}

#[sqlx::test]
async fn a_killed_breaker_actor_of_an_open_breaker_is_restarted_open(pool: PgPool) {
    let server = openai_down_then_up().await;
    let clock = Clock::manual(crate::support::now());
    let env = env_for("openai", &server.uri());
    let runtime = Runtime::start(
        pool.clone(),
        RuntimeConfig {
            clock: clock.clone(),
            ..config(&env)
        },
    )
    .await
    .unwrap();
    let rt = runtime.handle();
    for _ in 0..3 {
        rt.verify_provider("openai").await.unwrap();
    }
    assert_eq!(rt.providers_health()[0].breaker_state, BreakerState::Open);

    assert!(rt.kill_breaker("provider:openai"), "a breaker actor runs");
    let restarted: i64 = until("the breaker actor's restart", async || {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM system_events WHERE code = 'SUPERVISION_CHILD_RESTARTED'
             AND metadata->>'child' = 'breaker:provider:openai'",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        (n > 0).then_some(n)
    })
    .await;
    assert_eq!(restarted, 1);
    // Still OPEN: calls are refused and the vendor hears nothing.
    assert_eq!(rt.providers_health()[0].breaker_state, BreakerState::Open);
    for _ in 0..3 {
        assert!(matches!(
            rt.verify_provider("openai").await,
            Err(ProviderCallError::BreakerOpen { .. })
        ));
    }
    assert_eq!(server.received_requests().await.unwrap().len(), 3);
    assert_eq!(rt.providers_health()[0].refused, 3);

    // The restarted actor kept the time it opened: after the cool-down, its one probe closes it.
    clock.advance(
        chrono::TimeDelta::from_std(tradeplane_actors::BreakerConfig::default().cool_down).unwrap(),
    );
    let (report, _) = rt.verify_provider("openai").await.unwrap();
    assert_eq!(report.outcome.as_str(), "ok");
    assert_eq!(rt.providers_health()[0].breaker_state, BreakerState::Closed);
    assert_eq!(server.received_requests().await.unwrap().len(), 4);
    runtime.shutdown().await;
    let codes: Vec<String> = sqlx::query_scalar(
        "SELECT code FROM system_events
         WHERE provider_id = 'openai' AND code LIKE 'CIRCUIT_BREAKER_%' ORDER BY created_at, id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        codes,
        [
            "CIRCUIT_BREAKER_OPENED",
            "CIRCUIT_BREAKER_HALF_OPEN",
            "CIRCUIT_BREAKER_CLOSED"
        ]
    );
}

#[sqlx::test]
async fn an_operator_resets_an_open_provider_breaker(pool: PgPool) {
    let server = openai_down_then_up().await;
    let app = spawn_admin_app(pool.clone(), &env_for("openai", &server.uri())).await;
    let mut last_trace = Value::Null;
    for _ in 0..3 {
        let (status, body) = app.verify_integration("openai").await;
        assert_eq!((status, &body["outcome"]), (200, &json!("provider_error")));
        last_trace = body["trace_id"].clone();
    }
    // The breaker actor opened it under the trace of the call that failed the third time.
    let opened: String = until("the breaker event", async || {
        sqlx::query_scalar(
            "SELECT trace_id FROM system_events
             WHERE provider_id = 'openai' AND code = 'CIRCUIT_BREAKER_OPENED'",
        )
        .fetch_optional(&pool)
        .await
        .unwrap()
    })
    .await;
    assert_eq!(json!(opened), last_trace);
    let (status, body) = app.verify_integration("openai").await;
    assert_eq!((status, error_code(&body)), (409, "CIRCUIT_BREAKER_OPEN"));

    let admin = app.admin_client().await;
    let viewer = app
        .user_with_role(&admin, "viewer@example.com", "viewer")
        .await;
    let (status, body) = app.as_user(&viewer).reset_breaker("openai").await;
    assert_eq!((status, error_code(&body)), (403, "FORBIDDEN"), "{body}");
    assert_eq!(health(&app, "openai").breaker_state, BreakerState::Open);

    let operator = app
        .user_with_role(&admin, "operator@example.com", "operator")
        .await;
    let (status, body) = app.as_user(&operator).reset_breaker("nope").await;
    assert_eq!(
        (status, error_code(&body)),
        (404, "INTEGRATION_UNKNOWN_PROVIDER"),
        "{body}"
    );
    let (status, body) = app.as_user(&operator).reset_breaker("databento").await;
    assert_eq!(
        (status, error_code(&body)),
        (409, "INTEGRATION_KEY_MISSING"),
        "{body}"
    );

    let (status, body) = app.as_user(&operator).reset_breaker("openai").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (&body["scope"], &body["state"], &body["failures_in_window"]),
        (&json!("provider:openai"), &json!("CLOSED"), &json!(0)),
        "{body}"
    );
    assert_eq!(health(&app, "openai").breaker_state, BreakerState::Closed);
    // Calls pass again.
    let (status, body) = app.as_user(&operator).verify_integration("openai").await;
    assert_eq!((status, &body["outcome"]), (200, &json!("ok")), "{body}");
    assert_eq!(server.received_requests().await.unwrap().len(), 4);

    let (actor, target): (String, Option<String>) = sqlx::query_as(
        "SELECT actor, target FROM audit_log WHERE action = 'integration.breaker_reset'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(actor.contains("operator@example.com"), "{actor}");
    assert_eq!(target.as_deref(), Some("provider:openai"));
    let resets = provider_events(&pool, "openai", "CIRCUIT_BREAKER_RESET").await;
    assert_eq!(resets.len(), 1);
    assert_eq!(resets[0]["by"], "operator@example.com");
    assert_eq!(resets[0]["from"], "OPEN");
}

#[sqlx::test]
async fn without_a_running_runtime_a_reset_answers_as_verify_does(pool: PgPool) {
    let server = openai_failing().await;
    let state = AppState::with_env(
        pool,
        test_config(),
        RuntimeHandle::detached(Clock::system()),
        &env_for("openai", &server.uri()),
    );
    let app = serve_state(state).await.signed_in_as_admin().await;
    let (verify_status, verify) = app.verify_integration("openai").await;
    let (status, body) = app.reset_breaker("openai").await;
    assert_eq!(
        (status, error_code(&body)),
        (verify_status, error_code(&verify)),
        "{body} vs {verify}"
    );
    assert_eq!(status, 500, "{body}");
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_detached_runtime_runs_no_provider_calls() {
    let rt = tradeplane::runtime::RuntimeHandle::detached(Clock::system());
    assert!(rt.providers_health().is_empty());
    assert!(matches!(
        rt.verify_provider("openai").await,
        Err(ProviderCallError::NotRunning)
    ));
}
