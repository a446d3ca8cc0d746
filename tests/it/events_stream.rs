//! `GET /api/events/stream`: read as a client would (reqwest `bytes_stream`, SSE framing parsed
//! by hand) from the real server over a real supervision tree.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::PgPool;
use tradeplane::{
    api::AppState,
    bus::LiveKind,
    clock::Clock,
    domain::timeframe::Timeframe,
    integrations::registry::EnvMap,
    runtime::{Fault, RunnerOptions, RuntimeHandle},
};
use uuid::Uuid;

use crate::support::fixtures::bot_row;
use crate::support::sse::{Msg, SseClient};
use crate::support::{
    TestApp, error_code, serve_state, spawn_app, spawn_app_with_runtime, test_config,
};

fn stream_url(app: &TestApp, query: &str) -> String {
    app.url(&format!("/api/events/stream{query}"))
}

/// A marker published straight on the bus, to know where a read may stop.
fn marker(rt: &RuntimeHandle, name: &str) -> u64 {
    rt.bus().publish(
        LiveKind::SystemEvent,
        None,
        crate::support::now(),
        json!({ "code": "TEST_MARKER", "marker": name }),
    )
}

fn is_marker(name: &'static str) -> impl Fn(&Msg) -> bool {
    move |m| m.is("system_event") && m.json()["marker"] == name
}

#[sqlx::test]
async fn api_written_system_events_and_status_changes_reach_the_stream(pool: PgPool) {
    let app = spawn_app_with_runtime(pool.clone())
        .await
        .signed_in_as_admin()
        .await;
    let bot = bot_row(&pool).await;
    let mut sse = SseClient::open(&app.client, stream_url(&app, ""), None).await;
    let start = sse.position().await;

    let (status, body) = app.kill_bot(bot, json!({ "reason": "stream drill" })).await;
    assert_eq!(status, 200, "{body}");

    // The operator's event, written by the handler, as GET /api/system/events shows it.
    let (event, _) = sse
        .until("the API's BOT_KILLED", |m| {
            m.is("system_event")
                && m.json()["code"] == "BOT_KILLED"
                && m.json()["metadata"]["source"] == "operator"
        })
        .await;
    assert!(event.id.unwrap() > start);
    let data = event.json();
    assert_eq!(data["bot_id"], bot.to_string());
    assert_eq!(data["severity"], "SEV-1");
    assert!(data["message"].as_str().unwrap().contains("stream drill"));
    let row_id: Uuid = data["id"].as_str().unwrap().parse().unwrap();
    let code: String = sqlx::query_scalar("SELECT code FROM system_events WHERE id = $1")
        .bind(row_id)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(code, "BOT_KILLED");

    // Re-arming: the runtime's status change and the API's event.
    let (status, body) = app.rearm_bot(bot).await;
    assert_eq!(status, 200, "{body}");
    let (rearmed, _) = sse
        .until("KILLED → STOPPED", |m| {
            m.is("bot_status") && m.json()["status"] == "STOPPED"
        })
        .await;
    let data = rearmed.json();
    assert_eq!(data["from"], "KILLED");
    assert_eq!(data["bot_id"], bot.to_string());
}

#[sqlx::test]
async fn a_breaker_opening_is_on_the_stream_within_a_second(pool: PgPool) {
    let app = spawn_app_with_runtime(pool.clone())
        .await
        .signed_in_as_admin()
        .await;
    let rt = app.state.runtime.clone();
    let bot = bot_row(&pool).await;
    let other = bot_row(&pool).await;
    // Only this bot's breaker and status changes.
    let query = format!("?kinds=breaker,bot_status&bot_id={bot}");
    let mut sse = SseClient::open(&app.client, stream_url(&app, &query), None).await;
    sse.position().await;

    let opts = RunnerOptions {
        timeframe: Timeframe::S1,
        live: false,
    };
    rt.start_runner(other, opts).await.unwrap();
    rt.start_runner(bot, opts).await.unwrap();
    let (running, before) = sse
        .until("RUNNING", |m| {
            m.is("bot_status") && m.json()["status"] == "RUNNING"
        })
        .await;
    assert!(
        before.iter().any(|m| m.json()["status"] == "STARTING"),
        "{before:?}"
    );
    assert_eq!(running.json()["from"], "STARTING");

    for n in 1..=3u32 {
        rt.inject_fault(bot, Fault::Fail(format!("injected failure {n}")))
            .await
            .unwrap();
        if n < 3 {
            // Restarted before the next failure (so each counts against the breaker).
            let deadline = Instant::now() + Duration::from_secs(15);
            while !rt
                .runner(bot)
                .is_some_and(|r| r.restart_count == n && r.status.is_live())
            {
                assert!(Instant::now() < deadline, "no restart {n}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
    let (opened, before) = sse
        .until("the breaker opening", |m| {
            m.is("breaker") && m.json()["to"] == "OPEN"
        })
        .await;
    let data = opened.json();
    assert_eq!(data["scope"], format!("bot:{bot}"));
    assert_eq!(data["bot_id"], bot.to_string());
    assert_eq!(data["from"], "CLOSED");
    let at: DateTime<Utc> = serde_json::from_value(data["at"].clone()).unwrap();
    let lag = opened.received_at.unwrap() - at;
    assert!(
        lag < chrono::TimeDelta::seconds(1),
        "breaker opened at {at}, on the stream {lag} later"
    );
    let (error, _) = sse
        .until("ERROR", |m| {
            m.is("bot_status") && m.json()["status"] == "ERROR"
        })
        .await;
    assert!(error.id > opened.id);
    let reason = error.json()["last_error"].as_str().unwrap().to_owned();
    assert!(reason.contains("restart refused"), "{reason}");
    // Everything the filter let through is about this bot, of the two kinds asked for.
    for m in before.iter().chain([&opened, &error]) {
        assert!(m.is("breaker") || m.is("bot_status"), "{m:?}");
        assert_eq!(m.json()["bot_id"], bot.to_string(), "{m:?}");
    }
}

#[sqlx::test]
async fn reconnecting_with_last_event_id_replays_exactly_what_was_missed(pool: PgPool) {
    let app = spawn_app_with_runtime(pool.clone())
        .await
        .signed_in_as_admin()
        .await;
    let rt = app.state.runtime.clone();
    let bot = bot_row(&pool).await;
    // The reference: a client connected the whole time.
    let mut reference = SseClient::open(&app.client, stream_url(&app, ""), None).await;
    let start = reference.position().await;
    // Another one, which drops its connection right away.
    let mut dropped = SseClient::open(&app.client, stream_url(&app, ""), None).await;
    let dropped_at = dropped.position().await;
    drop(dropped);

    let (status, body) = app.kill_bot(bot, json!({ "reason": "resume drill" })).await;
    assert_eq!(status, 200, "{body}");
    let m1 = marker(&rt, "m1");
    let (_, seen) = reference.until("marker m1", is_marker("m1")).await;
    // Consecutive ids: the connected client missed nothing.
    let all: Vec<u64> = seen.iter().map(|m| m.id.unwrap()).collect();
    assert_eq!(all, (start + 1..m1).collect::<Vec<_>>());
    let seen: Vec<Msg> = seen
        .into_iter()
        .filter(|m| m.id.unwrap() > dropped_at)
        .collect();
    let ids: Vec<u64> = seen.iter().map(|m| m.id.unwrap()).collect();
    assert!(ids.len() >= 3, "{seen:#?}");

    // Resuming replays exactly the missed events, then goes live without a duplicate.
    let mut resumed = SseClient::open(
        &app.client,
        stream_url(&app, ""),
        Some(&dropped_at.to_string()),
    )
    .await;
    let (replayed_marker, replayed) = resumed.until("marker m1", is_marker("m1")).await;
    assert_eq!(
        replayed.iter().map(|m| m.id.unwrap()).collect::<Vec<_>>(),
        ids
    );
    for (a, b) in replayed.iter().zip(&seen) {
        assert_eq!((&a.event, &a.data), (&b.event, &b.data));
    }
    assert_eq!(replayed_marker.id, Some(m1));
    let m2 = marker(&rt, "m2");
    let next = resumed.next_event().await;
    assert_eq!(next.id, Some(m2), "{next:?}");

    // From the middle, through the query parameter.
    let mid = ids[1];
    let mut from_mid = SseClient::open(
        &app.client,
        stream_url(&app, &format!("?last_event_id={mid}")),
        None,
    )
    .await;
    let (_, replayed) = from_mid.until("marker m1", is_marker("m1")).await;
    assert_eq!(
        replayed.iter().map(|m| m.id.unwrap()).collect::<Vec<_>>(),
        ids[2..]
    );

    // Ids this process never gave out (an earlier process's, or garbage): reset first.
    let last = rt.bus().last_id();
    for stale in ["12345".to_owned(), (last + 1000).to_string(), "abc".into()] {
        let mut sse = SseClient::open(&app.client, stream_url(&app, ""), Some(&stale)).await;
        let reset = sse.next_event().await;
        assert!(reset.is("reset"), "{stale}: {reset:?}");
        assert_eq!(reset.json()["reason"], "unknown_id");
        let at = reset.id.unwrap();
        assert!(at >= last, "{stale}: {reset:?}");
        assert_eq!(reset.json()["last_event_id"], at);
        // The documented shape: reason, last_event_id, message and `at`, like every event.
        let data = reset.json();
        let mut keys: Vec<&str> = data
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort();
        assert_eq!(keys, ["at", "last_event_id", "message", "reason"], "{data}");
        // Then live from there.
        let m = marker(&rt, "after-reset");
        let (live, _) = sse.until("marker after reset", |x| x.id == Some(m)).await;
        assert!(live.is("system_event"));
    }
}

#[sqlx::test]
async fn the_stream_needs_a_session_and_valid_filters(pool: PgPool) {
    let app = spawn_app(pool).await;
    let (status, body) = app.call("GET", "/api/events/stream", None).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(error_code(&body), "UNAUTHENTICATED");

    let app = app.signed_in_as_admin().await;
    let (status, body) = app
        .call("GET", "/api/events/stream?kinds=breaker,bogus", None)
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(error_code(&body), "VALIDATION_FAILED");
    assert_eq!(body["error"]["details"]["field"], "kinds");
    let (status, body) = app
        .call("GET", "/api/events/stream?bot_id=nope", None)
        .await;
    assert_eq!(status, 422, "{body}");
}

#[sqlx::test]
async fn an_idle_stream_gets_keep_alives(pool: PgPool) {
    let mut state = AppState::with_env(
        pool,
        test_config(),
        RuntimeHandle::detached(Clock::system()),
        &EnvMap::new(),
    );
    state.events_keep_alive = Duration::from_millis(200);
    let app = serve_state(state).await.signed_in_as_admin().await;
    let mut sse = SseClient::open(&app.client, stream_url(&app, ""), None).await;
    // A detached runtime's bus works; nothing publishes on it.
    sse.position().await;
    let started = Instant::now();
    for _ in 0..2 {
        let m = sse.next_within(Duration::from_secs(2)).await.unwrap();
        assert_eq!(m.comment.as_deref(), Some("keep-alive"), "{m:?}");
    }
    assert!(started.elapsed() < Duration::from_secs(2));
}
