//! Discord alerts: SEV-1 events and kills are posted to the webhook (a wiremock server), once
//! per distinct event, deduplicated, each post a usage event; a failing webhook never stops the
//! next post; the webhook token never reaches a log line or usage metadata.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use serde_json::{Value, json};
use sqlx::PgPool;
use tradeplane::{
    integrations::registry::EnvMap,
    runtime::{Runtime, RuntimeConfig, RuntimeHandle, alerts::AlertStats},
    store::{
        system_events::{self, NewSystemEvent, Severity, SystemEvent},
        usage_events::{self, UsageStatus},
    },
    trace::TraceId,
};
use uuid::Uuid;
use wiremock::{
    Mock, MockServer, Request, ResponseTemplate,
    matchers::{method, path},
};

/// A runtime with `env`'s providers (no HTTP server: alerts need none). Tests shut it down at
/// the end, so its tasks release their connections before the test database is dropped.
async fn start(pool: &PgPool, env: &EnvMap) -> Runtime {
    Runtime::start(
        pool.clone(),
        RuntimeConfig {
            provider_env: env.clone(),
            ..crate::support::fixtures::runtime_config()
        },
    )
    .await
    .unwrap()
}

const TOKEN: &str = "hooktoken-must-never-leak-9731";
const HOOK_PATH: &str = "/api/webhooks/123";

fn env(server: &MockServer) -> EnvMap {
    let mut env = EnvMap::new();
    env.insert(
        "DISCORD_WEBHOOK_URL".into(),
        format!("{}{HOOK_PATH}/{TOKEN}", server.uri()),
    );
    env
}

fn hook() -> wiremock::MockBuilder {
    Mock::given(method("POST")).and(path(format!("{HOOK_PATH}/{TOKEN}")))
}

/// These tests run one at a time: one captures log lines through a thread-scoped subscriber,
/// and the others' alert tasks logging at the same call sites on other threads at the same time
/// can leave those sites' cached interest without it.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn sev1(pool: &PgPool, code: &str, bot: Option<Uuid>) -> SystemEvent {
    let mut ev = NewSystemEvent::new(Severity::Sev1, code, format!("{code}: test @everyone"));
    ev.trace_id = TraceId::generate();
    if let Some(bot) = bot {
        ev = ev.bot(bot);
    }
    system_events::insert(pool, ev, crate::support::now())
        .await
        .unwrap()
}

async fn posts(server: &MockServer) -> Vec<Value> {
    server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.method.as_str() == "POST")
        .map(|r: &Request| serde_json::from_slice(&r.body).unwrap())
        .collect()
}

/// Waits (bounded) until `f` holds on the alert counters.
async fn stats_until(
    rt: &RuntimeHandle,
    what: &str,
    f: impl Fn(&AlertStats) -> bool,
) -> AlertStats {
    for _ in 0..400 {
        let s = rt.alert_stats();
        if f(&s) {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("timed out waiting for {what}: {:?}", rt.alert_stats());
}

async fn discord_usage(pool: &PgPool, n: usize) -> Vec<usage_events::UsageEvent> {
    for _ in 0..200 {
        let events = usage_events::latest_for_provider(pool, "discord", 100)
            .await
            .unwrap();
        if events.len() >= n {
            return events;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("fewer than {n} discord usage events");
}

#[sqlx::test]
async fn sev1_events_and_kills_are_posted_once_each_and_nothing_else(pool: PgPool) {
    let _serial = SERIAL.lock().await;
    let server = MockServer::start().await;
    hook()
        .respond_with(ResponseTemplate::new(204))
        .mount(&server)
        .await;
    // History from before boot is never posted.
    sev1(&pool, "SUPERVISION_MELTDOWN", None).await;
    let runtime = start(&pool, &env(&server)).await;
    let rt = runtime.handle();
    assert!(rt.alert_stats().enabled);

    let bot_a = Uuid::now_v7();
    let bot_b = Uuid::now_v7();
    let meltdown = sev1(&pool, "SUPERVISION_MELTDOWN", None).await;
    let killed = sev1(&pool, "BOT_KILLED", Some(bot_a)).await;
    // The same kill again within the dedup window: folded into the first.
    sev1(&pool, "BOT_KILLED", Some(bot_a)).await;
    let risk = sev1(&pool, "RISK_KILL_TRIGGER", Some(bot_b)).await;
    // Not alerts: INFO and SEV-2.
    for (severity, code) in [
        (Severity::Info, "BOT_REARMED"),
        (Severity::Sev2, "CIRCUIT_BREAKER_OPENED"),
    ] {
        system_events::insert(
            &pool,
            NewSystemEvent::new(severity, code, "not an alert"),
            crate::support::now(),
        )
        .await
        .unwrap();
    }
    // A kill queued through the batching telemetry writer (the runtime's own path).
    let queued = NewSystemEvent::new(Severity::Sev1, "KILL_SWITCH_ACTIVATED", "switch on")
        .metadata(json!({ "by": "test" }));
    let queued_trace = queued.trace_id.clone();
    assert!(rt.telemetry().system_event(queued));

    let stats = stats_until(&rt, "4 posts", |s| s.posted >= 4).await;
    // Two more polls: nothing else arrives.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let bodies = posts(&server).await;
    assert_eq!(bodies.len(), 4, "{bodies:#?}");
    let stats_after = rt.alert_stats();
    assert_eq!(stats_after.posted, 4);
    assert_eq!(stats_after.deduplicated, 1);
    assert_eq!(stats_after.failed, 0);
    assert!(stats.last_posted_at.is_some());

    let contents: Vec<&str> = bodies
        .iter()
        .map(|b| b["content"].as_str().unwrap())
        .collect();
    for (ev, scope) in [
        (&meltdown, "system".to_owned()),
        (&killed, format!("bot {bot_a}")),
        (&risk, format!("bot {bot_b}")),
    ] {
        let matching: Vec<_> = contents
            .iter()
            .filter(|c| c.contains(&format!("SEV-1 {}", ev.code)) && c.contains(&scope))
            .collect();
        assert_eq!(matching.len(), 1, "{} in {contents:#?}", ev.code);
        assert!(matching[0].contains(&ev.message));
        assert!(matching[0].contains(&ev.trace_id));
    }
    assert!(contents.iter().any(|c| c.contains("KILL_SWITCH_ACTIVATED")));
    assert!(!contents.iter().any(|c| c.contains("not an alert")));
    for b in &bodies {
        // Nobody is pinged, whatever the message says.
        assert_eq!(b["allowed_mentions"], json!({ "parse": [] }));
        assert!(b["content"].as_str().unwrap().chars().count() <= 2000);
    }

    // Each post is a usage event under its system event's trace.
    let usage = discord_usage(&pool, 4).await;
    assert_eq!(usage.len(), 4);
    assert!(
        usage
            .iter()
            .all(|u| u.action == "alert.post" && u.status == UsageStatus::Ok)
    );
    let traces: Vec<&str> = usage.iter().map(|u| u.trace_id.as_str()).collect();
    for t in [
        meltdown.trace_id.as_str(),
        killed.trace_id.as_str(),
        risk.trace_id.as_str(),
        queued_trace.as_str(),
    ] {
        assert!(traces.contains(&t), "{t} not in {traces:?}");
    }
    runtime.shutdown().await;
}

#[sqlx::test]
async fn a_failing_webhook_is_an_error_usage_event_and_the_alert_is_sent_again(pool: PgPool) {
    let _serial = SERIAL.lock().await;
    let logs = Arc::new(Mutex::new(Vec::<u8>::new()));
    let capture = Capture(logs.clone());
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || capture.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    tracing::callsite::rebuild_interest_cache();

    let server = MockServer::start().await;
    hook()
        .respond_with(ResponseTemplate::new(500).set_body_string(format!("boom at {TOKEN}")))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    // Then (the same post, 1 s later) throttled once (Discord's 429 body), then fine.
    hook()
        .respond_with(ResponseTemplate::new(429).set_body_json(
            json!({"message": "You are being rate limited.", "retry_after": 0.5, "global": false}),
        ))
        .up_to_n_times(1)
        .with_priority(2)
        .mount(&server)
        .await;
    hook()
        .respond_with(ResponseTemplate::new(204))
        .with_priority(3)
        .mount(&server)
        .await;
    let runtime = start(&pool, &env(&server)).await;
    let rt = runtime.handle();

    let first = sev1(&pool, "SUPERVISION_MELTDOWN", None).await;
    stats_until(&rt, "the failed post", |s| s.failed >= 1).await;
    let second = sev1(&pool, "BOT_KILLED", Some(Uuid::now_v7())).await;
    // 500, then 429 (each re-queued first), then accepted; the second alert waits behind it.
    let stats = stats_until(&rt, "both alerts posted", |s| s.posted >= 2).await;
    assert_eq!(stats.failed, 2, "{stats:?}");
    assert_eq!(stats.last_error_code.as_deref(), Some("RATE_LIMITED"));
    assert!(stats.enabled);

    let bodies = posts(&server).await;
    assert_eq!(bodies.len(), 4);
    assert!(
        bodies[0]["content"]
            .as_str()
            .unwrap()
            .contains(&first.message)
    );
    // The failed and the throttled post were sent again, the same message.
    assert_eq!(bodies[0], bodies[1]);
    assert_eq!(bodies[1], bodies[2]);
    assert!(
        bodies[3]["content"]
            .as_str()
            .unwrap()
            .contains(&second.message)
    );

    let usage = discord_usage(&pool, 4).await;
    let failed: Vec<_> = usage
        .iter()
        .filter(|u| u.status == UsageStatus::Error)
        .collect();
    assert_eq!(failed.len(), 2);
    let codes: Vec<_> = failed.iter().map(|u| u.error_code.as_deref()).collect();
    assert!(codes.contains(&Some("PROVIDER_HTTP_5XX")), "{codes:?}");
    assert!(codes.contains(&Some("RATE_LIMITED")), "{codes:?}");
    let fivexx = failed
        .iter()
        .find(|u| u.error_code.as_deref() == Some("PROVIDER_HTTP_5XX"))
        .unwrap();
    assert_eq!(fivexx.trace_id, first.trace_id);
    assert_eq!(fivexx.metadata["http_status"], 500);
    assert!(usage.iter().all(|u| u.action == "alert.post"));
    for u in &usage {
        let text = serde_json::to_string(u).unwrap();
        assert!(!text.contains(TOKEN), "{text}");
        assert!(!text.contains(HOOK_PATH), "{text}");
    }
    let logs = String::from_utf8(logs.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("provider call failed"),
        "logging was captured"
    );
    assert!(!logs.contains(TOKEN), "{logs}");
    assert!(!logs.contains("hooktoken"), "{logs}");
    runtime.shutdown().await;
}

#[sqlx::test]
async fn a_rejected_webhook_stops_alerts_with_one_sev2_event(pool: PgPool) {
    let _serial = SERIAL.lock().await;
    let server = MockServer::start().await;
    hook()
        .respond_with(
            ResponseTemplate::new(404)
                .set_body_json(json!({"message": "Unknown Webhook", "code": 10015})),
        )
        .mount(&server)
        .await;
    let runtime = start(&pool, &env(&server)).await;
    let rt = runtime.handle();
    sev1(&pool, "SUPERVISION_MELTDOWN", None).await;
    let stats = stats_until(&rt, "alerts off", |s| !s.enabled).await;
    assert_eq!(stats.failed, 1);
    assert_eq!(
        stats.last_error_code.as_deref(),
        Some("INVALID_CREDENTIALS")
    );
    // Discord asks to stop using a deleted webhook: no further attempts.
    sev1(&pool, "BOT_KILLED", Some(Uuid::now_v7())).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(posts(&server).await.len(), 1);
    let mut rejected = Vec::new();
    for _ in 0..100 {
        rejected = system_events::list(
            &pool,
            &system_events::EventFilter {
                code: Some("ALERTS_WEBHOOK_REJECTED".into()),
                ..Default::default()
            },
            None,
            10,
        )
        .await
        .unwrap()
        .items;
        if !rejected.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0].severity, Severity::Sev2);
    assert_eq!(rejected[0].provider_id.as_deref(), Some("discord"));
    assert!(!rejected[0].message.contains(TOKEN));
    runtime.shutdown().await;
}

#[sqlx::test]
async fn without_discord_there_is_no_alerts_task(pool: PgPool) {
    let _serial = SERIAL.lock().await;
    let runtime = start(&pool, &EnvMap::new()).await;
    let rt = runtime.handle();
    sev1(&pool, "SUPERVISION_MELTDOWN", None).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(rt.alert_stats(), AlertStats::default());
    assert!(
        usage_events::latest_for_provider(&pool, "discord", 10)
            .await
            .unwrap()
            .is_empty()
    );
    runtime.shutdown().await;
}

#[derive(Clone)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
