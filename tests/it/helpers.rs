use std::net::SocketAddr;

use axum::{
    Router,
    routing::{get, post},
};
use serde::Deserialize;
use serde_json::Value;
use sqlx::PgPool;
use tradeplane::{
    api::{self, ApiJson, ApiOk, AppState},
    config::Config,
    integrations::registry::EnvMap,
    runtime::{Runtime, RuntimeHandle},
};

pub struct TestApp {
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    /// What the handlers see; its runtime is detached unless the app came from
    /// [`spawn_app_with_runtime`] or [`spawn_app_with_env`].
    pub state: AppState,
}

#[derive(Deserialize)]
struct EchoBody {
    name: String,
    count: u32,
}

/// Routes that exist only in tests, to drive the shared layers: a JSON body and a panic.
fn test_routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/test/echo",
            post(|ApiJson(body): ApiJson<EchoBody>| async move {
                ApiOk::new(serde_json::json!({ "name": body.name, "count": body.count }))
            }),
        )
        .route(
            "/api/test/panic",
            get(|| async {
                let v: Vec<u8> = Vec::new();
                // An out-of-bounds index: a real panic, not a constructed error.
                ApiOk::new(serde_json::json!({ "byte": v[usize::from(v.is_empty())] }))
            }),
        )
}

/// The app with no providers configured and a detached runtime (nothing supervised).
pub async fn spawn_app(pool: PgPool) -> TestApp {
    let state = AppState::with_env(
        pool,
        Config::default(),
        RuntimeHandle::detached(),
        &EnvMap::new(),
    );
    serve_state(state).await
}

/// The app over a real supervision tree, as `serve` runs it (small test limits; the tree lives
/// until the test's runtime ends). Its events land in `system_events`.
pub async fn spawn_app_with_runtime(pool: PgPool) -> TestApp {
    spawn_app_with_env(pool, &EnvMap::new()).await
}

/// A real supervision tree (so usage events reach Postgres through the telemetry writer) and
/// providers configured from `env`.
pub async fn spawn_app_with_env(pool: PgPool, env: &EnvMap) -> TestApp {
    let runtime = Runtime::start(pool.clone(), crate::runtime::test_config())
        .await
        .unwrap();
    let handle = runtime.handle();
    std::mem::forget(runtime);
    serve_state(AppState::with_env(pool, Config::default(), handle, env)).await
}

async fn serve_state(state: AppState) -> TestApp {
    let app = api::app_with(state.clone(), test_routes());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    TestApp {
        addr,
        client: reqwest::Client::new(),
        state,
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }
}

/// Reads a response and checks the envelope invariants every answer must meet: JSON, the
/// `success` flag matching the status, a 32-hex `trace_id` equal to the `x-trace-id` header.
pub async fn envelope(res: reqwest::Response) -> (u16, Value) {
    let status = res.status().as_u16();
    let header = res
        .headers()
        .get("x-trace-id")
        .expect("x-trace-id header")
        .to_str()
        .unwrap()
        .to_owned();
    let content_type = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned());
    assert_eq!(content_type.as_deref(), Some("application/json"));
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["success"], Value::Bool(status < 400), "{body}");
    let trace = body["trace_id"].as_str().expect("trace_id");
    assert_eq!(trace, header);
    assert_eq!(trace.len(), 32);
    assert!(trace.bytes().all(|b| b.is_ascii_hexdigit()));
    if status >= 400 {
        let error = &body["error"];
        assert!(error["code"].is_string(), "{body}");
        assert!(!error["message"].as_str().unwrap().is_empty());
        assert!(!error["suggested_fix"].as_str().unwrap().is_empty());
    }
    (status, body)
}

pub fn error_code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("")
}
