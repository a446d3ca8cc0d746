//! Spawning the app: the real router on a random port, with or without a supervision tree.

use std::{net::SocketAddr, ops::Deref, sync::Arc};

use axum::{
    Router,
    routing::{get, post},
};
use serde::Deserialize;
use sqlx::PgPool;
use tradeplane::{
    api::{self, ApiJson, ApiOk, AppState},
    auth::policy::Access,
    clock::Clock,
    config::Config,
    integrations::registry::EnvMap,
    runtime::{Runtime, RuntimeConfig, RuntimeHandle},
};

use super::{
    fixtures::{runtime_config, test_config},
    session::Factors,
};

/// A served app and the client it calls with. Cloning is cheap; clones share the server
/// (see [`TestApp::as_user`]). Endpoint methods live in `support::endpoints`.
#[derive(Clone)]
pub struct TestApp {
    served: Arc<Served>,
    /// The client the endpoint methods send with: anonymous until `signed_in_as_admin()`.
    pub client: reqwest::Client,
}

/// What every clone of a [`TestApp`] shares (reached through `Deref`: `app.pool`, `app.state`).
pub struct Served {
    pub addr: SocketAddr,
    pub clock: Clock,
    pub pool: PgPool,
    /// What the handlers see; its runtime is detached unless the app came from
    /// [`spawn_app_with_runtime`] or [`spawn_app_with_env`].
    pub state: AppState,
    /// The supervision tree behind `state`, stopped when the last clone is dropped.
    _runtime: Option<RuntimeGuard>,
    /// The authenticator "devices" of the users the harness enrolled, and the first admin's
    /// signed-in client (`support::session`).
    pub(super) factors: Factors,
}

impl Deref for TestApp {
    type Target = Served;

    fn deref(&self) -> &Served {
        &self.served
    }
}

impl TestApp {
    /// The same server called with another client (another user, a token, no credentials).
    pub fn with_client(&self, client: reqwest::Client) -> TestApp {
        TestApp {
            served: self.served.clone(),
            client,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }
}

/// Stops its runtime when dropped (the end of a test): the tree, its writers and its pool
/// connections are released while sqlx closes the test pool, instead of living on and holding
/// connections the other tests need.
struct RuntimeGuard(Option<Runtime>);

impl Drop for RuntimeGuard {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take()
            && let Ok(handle) = tokio::runtime::Handle::try_current()
        {
            handle.spawn(async move {
                runtime.shutdown().await;
            });
        }
    }
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

/// Test-only writer routes guarded by service-token scopes (they have no OpenAPI annotation
/// to declare access, so the declaration is passed alongside).
fn writer_routes() -> (
    Router<AppState>,
    Vec<(axum::http::Method, &'static str, Access)>,
) {
    let ok = || async { ApiOk::new(serde_json::json!({ "written": true })) };
    (
        Router::new()
            .route("/api/test/traces", post(ok))
            .route("/api/test/telemetry", post(ok)),
        vec![
            (
                axum::http::Method::POST,
                "/api/test/traces",
                Access::token(&["traces:write"]),
            ),
            (
                axum::http::Method::POST,
                "/api/test/telemetry",
                Access::token(&["telemetry:write"]),
            ),
        ],
    )
}

/// The system clock's time: what an app on the system clock reads now.
pub fn now() -> chrono::DateTime<chrono::Utc> {
    Clock::system().now()
}

/// The app with no providers configured and a detached runtime (nothing supervised).
pub async fn spawn_app(pool: PgPool) -> TestApp {
    spawn_app_with(pool, test_config(), Clock::system()).await
}

pub async fn spawn_app_with(pool: PgPool, config: Config, clock: Clock) -> TestApp {
    let state = AppState::with_env(pool, config, RuntimeHandle::detached(clock), &EnvMap::new());
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
    let config = RuntimeConfig {
        provider_env: env.clone(),
        ..runtime_config()
    };
    spawn_app_with_runtime_config(pool, config).await
}

/// [`spawn_app_with_env`] signed in as the first admin (every /api route needs a session).
pub async fn spawn_admin_app(pool: PgPool, env: &EnvMap) -> TestApp {
    spawn_app_with_env(pool, env)
        .await
        .signed_in_as_admin()
        .await
}

pub async fn spawn_app_with_runtime_config(pool: PgPool, config: RuntimeConfig) -> TestApp {
    let runtime = Runtime::start(pool.clone(), config).await.unwrap();
    let handle = runtime.handle();
    let state = AppState::new(pool, test_config(), handle);
    serve(state, Some(runtime)).await
}

/// Serves `state` (built by the caller, e.g. with test-sized settings) on its runtime's clock.
pub async fn serve_state(state: AppState) -> TestApp {
    serve(state, None).await
}

async fn serve(state: AppState, runtime: Option<Runtime>) -> TestApp {
    let clock = state.clock.clone();
    let pool = state.pool.clone();
    let (writers, access) = writer_routes();
    let app = api::app_with_access(state.clone(), test_routes().merge(writers), access);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let limits = state.config.connections;
    let trusted = state.config.trusted_proxies.clone();
    tokio::spawn(api::server::serve(
        listener,
        app,
        limits,
        trusted,
        std::future::pending(),
    ));
    TestApp {
        served: Arc::new(Served {
            addr,
            clock,
            pool,
            state,
            _runtime: runtime.map(|r| RuntimeGuard(Some(r))),
            factors: Factors::default(),
        }),
        client: reqwest::Client::new(),
    }
}
