//! `GET /api/integrations/{id}/latency`: one provider's calls, errors and p50/p95/p99 latency per
//! bucket, from its usage events; moving the calls in time moves the buckets they count in.

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;
use sqlx::PgPool;
use tradeplane::{
    api::AppState,
    clock::Clock,
    integrations::registry::EnvMap,
    runtime::RuntimeHandle,
    store::usage_events::{self, UsageEvent, UsageStatus},
};

use crate::support::{TestApp, error_code, test_config};

async fn spawn(pool: PgPool) -> TestApp {
    let env: EnvMap = [("DATABENTO_API_KEY".to_owned(), "FAKEKEY-latency".to_owned())]
        .into_iter()
        .collect();
    let state = AppState::with_env(
        pool.clone(),
        test_config(),
        RuntimeHandle::detached(Clock::system()),
        &env,
    );
    crate::support::serve_state(state)
        .await
        .signed_in_as_admin()
        .await
}

fn event(
    provider: &str,
    status: UsageStatus,
    ms: u32,
    code: Option<&str>,
    at: DateTime<Utc>,
) -> UsageEvent {
    let mut e = UsageEvent::new(provider, "bars", status, ms, at);
    e.error_code = code.map(str::to_owned);
    e
}

/// The bucket that holds `at`, and its index.
fn bucket_at(body: &Value, at: DateTime<Utc>) -> (usize, Value) {
    let width = body["bucket_seconds"].as_f64().unwrap();
    body["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .find(|(_, b)| {
            let start: DateTime<Utc> = b["start"].as_str().unwrap().parse().unwrap();
            start <= at && at < start + Duration::microseconds((width * 1e6) as i64)
        })
        .map(|(i, b)| (i, b.clone()))
        .unwrap_or_else(|| panic!("no bucket holds {at}: {body}"))
}

fn close(v: &Value, want: f64) {
    let got = v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"));
    assert!((got - want).abs() < 1e-6, "{got} != {want}");
}

fn timed_buckets(body: &Value) -> Vec<usize> {
    body["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .filter(|(_, b)| !b["p50_ms"].is_null())
        .map(|(i, _)| i)
        .collect()
}

#[sqlx::test]
async fn latency_percentiles_per_hour_follow_the_calls(pool: PgPool) {
    use UsageStatus::{Error, Ok};
    let at = crate::support::now() - Duration::minutes(10);
    let mut events: Vec<UsageEvent> = [100, 200, 300, 400]
        .into_iter()
        .map(|ms| event("databento", Ok, ms, None, at))
        .collect();
    events.push(event("databento", Error, 500, Some("TIMEOUT"), at));
    // Refused by the breaker: counted, never timed.
    events.push(event(
        "databento",
        Error,
        0,
        Some("CIRCUIT_BREAKER_OPEN"),
        at,
    ));
    // Another provider and a call outside 24 h: never counted.
    events.push(event("polygon", Ok, 7, None, at));
    events.push(event(
        "databento",
        Ok,
        9,
        None,
        crate::support::now() - Duration::hours(25),
    ));
    usage_events::insert_many(&pool, &events).await.unwrap();
    let app = spawn(pool.clone()).await;

    let (status, body) = app.integration_latency("databento", "").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["provider_id"], "databento");
    assert_eq!(body["window"], "24h");
    assert_eq!(body["bucket_seconds"], 3600.0);
    assert_eq!(body["buckets"].as_array().unwrap().len(), 24);
    assert_eq!(
        (body["calls"].as_i64(), body["errors"].as_i64()),
        (Some(6), Some(2))
    );
    assert!(body["no_data_reason"].is_null(), "{body}");
    let (idx, b) = bucket_at(&body, at);
    assert_eq!(
        (b["calls"].as_i64(), b["errors"].as_i64()),
        (Some(6), Some(2))
    );
    // Timed: 100, 200, 300, 400, 500 (the refusal is not). p50 = 300, p95 = 480, p99 = 496.
    close(&b["p50_ms"], 300.0);
    close(&b["p95_ms"], 480.0);
    close(&b["p99_ms"], 496.0);
    assert_eq!(timed_buckets(&body), vec![idx]);

    // A slow call in the same hour moves p95 up.
    usage_events::insert_many(&pool, &[event("databento", Ok, 5_000, None, at)])
        .await
        .unwrap();
    let (_, body) = app.integration_latency("databento", "").await;
    let (_, b) = bucket_at(&body, at);
    assert_eq!(b["calls"].as_i64(), Some(7));
    close(&b["p50_ms"], 350.0);
    assert!(b["p95_ms"].as_f64().unwrap() > 3_000.0, "{b}");

    // Moving every call three hours back moves the latency to that hour's bucket.
    sqlx::query(
        "UPDATE integration_usage_events SET created_at = created_at - interval '3 hours' \
         WHERE provider_id = 'databento'",
    )
    .execute(&pool)
    .await
    .unwrap();
    let (_, body) = app.integration_latency("databento", "").await;
    let (moved, b) = bucket_at(&body, at - Duration::hours(3));
    assert_eq!(b["calls"].as_i64(), Some(7));
    close(&b["p50_ms"], 350.0);
    assert_eq!(timed_buckets(&body), vec![moved]);
    assert_eq!(moved + 3, idx);
    assert_eq!(bucket_at(&body, at).1["calls"].as_i64(), Some(0));

    // A 1 h window in 4 buckets no longer sees them.
    let (status, body) = app
        .integration_latency("databento", "window=1h&buckets=4")
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["bucket_seconds"], 900.0);
    assert_eq!(body["calls"], 0);
    assert_eq!(body["no_data_reason"], "no calls in the window");
}

#[sqlx::test]
async fn idle_unknown_and_malformed_requests_say_why(pool: PgPool) {
    let app = spawn(pool).await;
    // Not configured and never called.
    let (status, body) = app.integration_latency("polygon", "").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["configured"], false);
    assert_eq!(body["no_data_reason"], "not configured");
    assert!(timed_buckets(&body).is_empty());
    // Configured, idle.
    let (_, body) = app.integration_latency("databento", "").await;
    assert_eq!(body["no_data_reason"], "no calls in the window");

    let (status, body) = app.integration_latency("nope", "").await;
    assert_eq!(status, 404);
    assert_eq!(error_code(&body), "INTEGRATION_UNKNOWN_PROVIDER");
    for bad in ["buckets=0", "buckets=289", "window=1y"] {
        let (status, body) = app.integration_latency("databento", bad).await;
        assert_eq!(status, 422, "{bad}: {body}");
        assert_eq!(error_code(&body), "VALIDATION_FAILED");
    }

    // A viewer may read it.
    let admin = app.admin_client().await;
    let viewer = app
        .user_with_role(&admin, "viewer@example.com", "viewer")
        .await;
    assert_eq!(
        app.as_user(&viewer)
            .integration_latency("databento", "")
            .await
            .0,
        200
    );
}
