//! Alert routing (issue 20 part 3): `GET|PUT /api/settings/alerts` decides which severities the
//! alerts task posts to Discord (a wiremock webhook), from its next poll on; a bad severity or
//! the wrong role changes nothing; `POST /api/settings/alerts/test` posts one test message
//! through the Discord call path (golden request: POST on the webhook path, no auth header,
//! `{content, allowed_mentions: {parse: []}}`), recorded as a usage event under the request's
//! trace; without Discord it answers `INTEGRATION_KEY_MISSING`, a rejected webhook
//! `INTEGRATION_VERIFY_FAILED`.

use std::time::Duration;

use serde_json::{Value, json};
use sqlx::PgPool;
use tradeplane::{
    integrations::registry::EnvMap,
    runtime::RuntimeConfig,
    store::{
        system_events::{self, NewSystemEvent, Severity},
        usage_events::{self, UsageStatus},
    },
};
use wiremock::{
    Mock, MockServer, Request, ResponseTemplate,
    matchers::{method, path},
};

use crate::support::{
    TestApp, error_code,
    fixtures::{runtime_config, start_sandbox},
    spawn_app_with_runtime_config,
};

const TOKEN: &str = "routing-hook-token-never-shown-4471";
const HOOK_PATH: &str = "/api/webhooks/987654321";

fn env(server: &MockServer) -> EnvMap {
    let mut env = EnvMap::new();
    env.insert(
        "DISCORD_WEBHOOK_URL".into(),
        format!("{}{HOOK_PATH}/{TOKEN}", server.uri()),
    );
    env
}

async fn app(pool: &PgPool, env: EnvMap) -> TestApp {
    spawn_app_with_runtime_config(
        pool.clone(),
        RuntimeConfig {
            provider_env: env,
            ..runtime_config()
        },
    )
    .await
    .signed_in_as_admin()
    .await
}

async fn posts(server: &MockServer) -> Vec<(Request, Value)> {
    server
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.method.as_str() == "POST")
        .map(|r| {
            let body = serde_json::from_slice(&r.body).unwrap();
            (r, body)
        })
        .collect()
}

async fn event(pool: &PgPool, severity: Severity, code: &str) {
    system_events::insert(
        pool,
        NewSystemEvent::new(severity, code, format!("{code}: routing test")),
        crate::support::now(),
    )
    .await
    .unwrap();
}

/// The newest discord usage event matching `f`, once the batching telemetry writer wrote it
/// (bounded wait).
async fn usage_until(
    pool: &PgPool,
    f: impl Fn(&usage_events::UsageEvent) -> bool,
) -> Option<usage_events::UsageEvent> {
    for _ in 0..200 {
        let usage = usage_events::latest_for_provider(pool, "discord", 100)
            .await
            .unwrap();
        if let Some(u) = usage.into_iter().find(|u| f(u)) {
            return Some(u);
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    None
}

async fn put(app: &TestApp, body: Value) -> (u16, Value) {
    app.call("PUT", "/api/settings/alerts", Some(body)).await
}

/// Waits (bounded) for a post whose content contains `needle`; returns every post's content.
async fn posted_until(server: &MockServer, needle: &str) -> Vec<String> {
    for _ in 0..400 {
        let contents: Vec<String> = posts(server)
            .await
            .iter()
            .map(|(_, b)| b["content"].as_str().unwrap().to_owned())
            .collect();
        if contents.iter().any(|c| c.contains(needle)) {
            return contents;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("no post containing {needle}");
}

#[sqlx::test]
async fn the_routing_decides_what_is_posted_and_a_test_message_goes_through_the_call_path(
    pool: PgPool,
) {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!("{HOOK_PATH}/{TOKEN}")))
        .respond_with(ResponseTemplate::new(204))
        .mount(&server)
        .await;
    let app = app(&pool, env(&server)).await;

    // The default: SEV-1 and kills.
    let (status, body) = app.call("GET", "/api/settings/alerts", None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["routing"]["severities"], json!(["SEV-1"]), "{body}");
    assert_eq!(body["routing"]["kills"], true);
    assert_eq!(body["discord_configured"], true);
    assert_eq!(body["alerts_enabled"], true);
    // One node posts for the cluster: this one leads, and nothing was posted or failed yet.
    assert_eq!(body["posts_here"], true, "{body}");
    assert_eq!(body["alerts"]["failed"], 0, "{body}");

    // Bad input and a non-admin: refused, the routing unchanged.
    let (status, reply) = put(
        &app,
        json!({"severities": ["SEV-1", "SEV-9"], "kills": true}),
    )
    .await;
    assert_eq!(
        (status, error_code(&reply)),
        (422, "VALIDATION_FAILED"),
        "{reply}"
    );
    assert!(
        reply["error"]["message"]
            .as_str()
            .unwrap()
            .contains("SEV-9"),
        "{reply}"
    );
    let (status, reply) = put(&app, json!({"severities": ["SEV-2"]})).await;
    assert_eq!(
        (status, error_code(&reply)),
        (422, "VALIDATION_FAILED"),
        "{reply}"
    );
    let admin = app.admin_client().await;
    let operator = app
        .user_with_role(&admin, "op@example.com", "operator")
        .await;
    let (status, reply) = put(
        &app.as_user(&operator),
        json!({"severities": ["SEV-2"], "kills": false}),
    )
    .await;
    assert_eq!((status, error_code(&reply)), (403, "FORBIDDEN"), "{reply}");
    let (_, body) = app.call("GET", "/api/settings/alerts", None).await;
    assert_eq!(body["routing"]["severities"], json!(["SEV-1"]), "{body}");

    // Route SEV-2 only, no kills.
    let (status, body) = put(
        &app,
        json!({"severities": ["SEV-2", "SEV-2"], "kills": false}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["routing"]["severities"], json!(["SEV-2"]), "{body}");
    assert_eq!(body["routing"]["kills"], false);
    assert_eq!(body["routing"]["updated_by"], "admin@example.com");
    let audited: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE action = 'settings.alerts' AND outcome = 'SUCCESS'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(audited, 1);

    // Events written in one go: the SEV-1 and the kill are read in the same poll as the
    // SEV-2 (ordered before it), so once the SEV-2 is posted the others were passed over.
    event(&pool, Severity::Sev1, "ROUTED_AWAY_SEV1").await;
    event(&pool, Severity::Info, "BOT_KILLED").await;
    event(&pool, Severity::Info, "ROUTED_AWAY_INFO").await;
    event(&pool, Severity::Sev2, "ROUTED_HERE_SEV2").await;
    let contents = posted_until(&server, "ROUTED_HERE_SEV2").await;
    assert!(
        contents
            .iter()
            .any(|c| c.contains("SEV-2 ROUTED_HERE_SEV2")),
        "{contents:#?}"
    );
    for away in ["ROUTED_AWAY_SEV1", "BOT_KILLED", "ROUTED_AWAY_INFO"] {
        assert!(
            !contents.iter().any(|c| c.contains(away)),
            "{away} in {contents:#?}"
        );
    }

    // Back to SEV-1 with kills: the next poll follows it.
    let (status, _) = put(&app, json!({"severities": ["SEV-1"], "kills": true})).await;
    assert_eq!(status, 200);
    event(&pool, Severity::Sev2, "NOT_ROUTED_ANY_MORE").await;
    event(&pool, Severity::Sev2, "KILL_SWITCH_ACTIVATED").await;
    let contents = posted_until(&server, "KILL_SWITCH_ACTIVATED").await;
    assert!(
        !contents.iter().any(|c| c.contains("NOT_ROUTED_ANY_MORE")),
        "{contents:#?}"
    );

    // The test message: one golden POST on the webhook path, under the request's trace.
    let before = posts(&server).await.len();
    let (status, body) = app.call("POST", "/api/settings/alerts/test", None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["sent"], true);
    let all = posts(&server).await;
    assert_eq!(all.len(), before + 1);
    let (request, payload) = &all[before];
    assert_eq!(request.method.as_str(), "POST");
    assert_eq!(request.url.path(), format!("{HOOK_PATH}/{TOKEN}"));
    assert_eq!(request.url.query(), None);
    assert!(request.headers.get("authorization").is_none());
    let content = payload["content"].as_str().unwrap();
    assert!(content.contains("Test alert"), "{content}");
    assert!(
        content.contains("SEV-1, kills of any severity"),
        "{content}"
    );
    assert!(content.contains("admin@example.com"), "{content}");
    assert_eq!(payload["allowed_mentions"], json!({"parse": []}));
    assert_eq!(body["content"], payload["content"]);
    let trace = body["trace_id"].as_str().unwrap();
    let test_post = usage_until(&pool, |u| u.trace_id == trace)
        .await
        .expect("a usage event under the request's trace");
    assert_eq!(
        (test_post.action.as_str(), test_post.status),
        ("alert.post", UsageStatus::Ok)
    );
    assert!(
        !serde_json::to_string(&test_post.metadata)
            .unwrap()
            .contains(TOKEN)
    );
    assert!(!body.to_string().contains(TOKEN));
}

#[sqlx::test]
async fn a_test_message_without_discord_or_to_a_deleted_webhook_is_a_structured_error(
    pool: PgPool,
) {
    let unconfigured = app(&pool, EnvMap::new()).await;
    let (status, body) = unconfigured.call("GET", "/api/settings/alerts", None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["discord_configured"], false);
    let (status, body) = unconfigured
        .call("POST", "/api/settings/alerts/test", None)
        .await;
    assert_eq!(
        (status, error_code(&body)),
        (409, "INTEGRATION_KEY_MISSING"),
        "{body}"
    );
    assert!(
        body["error"]["suggested_fix"]
            .as_str()
            .unwrap()
            .contains("DISCORD_WEBHOOK_URL")
    );
    drop(unconfigured);

    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!("{HOOK_PATH}/{TOKEN}")))
        .respond_with(
            ResponseTemplate::new(404)
                .set_body_json(json!({"message": "Unknown Webhook", "code": 10015})),
        )
        .mount(&server)
        .await;
    let deleted = app(&pool, env(&server)).await;
    let (status, body) = deleted
        .call("POST", "/api/settings/alerts/test", None)
        .await;
    assert_eq!(
        (status, error_code(&body)),
        (502, "INTEGRATION_VERIFY_FAILED"),
        "{body}"
    );
    assert_eq!(body["error"]["details"]["http_status"], 404, "{body}");
    assert!(!body.to_string().contains(TOKEN), "{body}");
    let refused = usage_until(&pool, |u| {
        u.status == UsageStatus::Error && u.action == "alert.post"
    })
    .await;
    assert!(
        refused.is_some(),
        "no ERROR usage event for the refused post"
    );
}

#[sqlx::test]
async fn the_project_sandbox_takes_a_test_message_and_refuses_what_discord_refuses(pool: PgPool) {
    let env = start_sandbox().await;
    let base = env["DISCORD_BASE_URL"].clone();
    let app = app(&pool, env).await;
    let (status, body) = app.call("POST", "/api/settings/alerts/test", None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["sent"], true);

    // Discord's own refusals, in its error shape.
    let hook = format!("{base}/api/webhooks/1/sandbox-token");
    let http = reqwest::Client::new();
    let post = |body: Vec<u8>| {
        http.post(&hook)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let res = post(br#"{"content": "hello"}"#.to_vec()).await.unwrap();
    assert_eq!(res.status().as_u16(), 204);
    for (payload, code) in [
        (br#"{"content": "  "}"#.to_vec(), 50006),
        (br#"{"content": "#.to_vec(), 50109),
        (
            serde_json::to_vec(&json!({ "content": "x".repeat(2001) })).unwrap(),
            50035,
        ),
    ] {
        let res = post(payload).await.unwrap();
        assert_eq!(res.status().as_u16(), 400);
        let err: Value = res.json().await.unwrap();
        assert_eq!(err["code"], code, "{err}");
        assert!(err["message"].is_string(), "{err}");
    }
}
