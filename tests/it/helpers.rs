use std::net::SocketAddr;

use base64::{Engine, engine::general_purpose::STANDARD};
use reqwest::{
    RequestBuilder,
    header::{HeaderMap, HeaderValue},
};

use axum::{
    Router,
    routing::{get, post},
};
use serde::Deserialize;
use serde_json::Value;
use sqlx::PgPool;
use tradeplane::{
    api::{self, ApiJson, ApiOk, AppState},
    auth::{policy::Access, totp},
    clock::Clock,
    config::{AuthConfig, Config, EncKey},
    integrations::registry::EnvMap,
    runtime::{Runtime, RuntimeHandle},
};

pub struct TestApp {
    pub addr: SocketAddr,
    /// Plain client: no credentials. `signed_in_as_admin()` swaps in a signed-in admin's client.
    pub client: reqwest::Client,
    pub clock: Clock,
    pub pool: PgPool,
    /// What the handlers see; its runtime is detached unless the app came from
    /// [`spawn_app_with_runtime`] or [`spawn_app_with_env`].
    pub state: AppState,
    /// The supervision tree behind `state`, stopped when the app is dropped.
    pub runtime: Option<RuntimeGuard>,
}

/// Stops its runtime when dropped (the end of a test): the tree, its writers and its pool
/// connections are released while sqlx closes the test pool, instead of living on and holding
/// connections the other tests need.
pub struct RuntimeGuard(Option<Runtime>);

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

pub const ADMIN_EMAIL: &str = "admin@example.com";
pub const ADMIN_PASSWORD: &str = "correct horse battery staple";

/// The configuration tests run with: plain-http cookies and a valid APP_ENC_KEY.
pub fn test_config() -> Config {
    Config {
        enc_key: EncKey::parse(Some(&STANDARD.encode([42u8; 32]))),
        auth: AuthConfig {
            insecure_cookies: true,
            ..AuthConfig::default()
        },
        ..Config::default()
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
    let config = tradeplane::runtime::RuntimeConfig {
        provider_env: env.clone(),
        ..crate::runtime::test_config()
    };
    spawn_app_with_runtime_config(pool, config).await
}

pub async fn spawn_app_with_runtime_config(
    pool: PgPool,
    config: tradeplane::runtime::RuntimeConfig,
) -> TestApp {
    let runtime = Runtime::start(pool.clone(), config).await.unwrap();
    let handle = runtime.handle();
    let state = AppState::new(pool, test_config(), handle);
    let mut app = serve_state(state).await;
    app.runtime = Some(RuntimeGuard(Some(runtime)));
    app
}

/// Serves `state` (built by the caller, e.g. with test-sized settings) on its runtime's clock.
pub async fn serve_state(state: AppState) -> TestApp {
    let clock = state.clock.clone();
    let pool = state.pool.clone();
    let (writers, access) = writer_routes();
    let app = api::app_with_access(state.clone(), test_routes().merge(writers), access);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap()
    });
    TestApp {
        addr,
        client: reqwest::Client::new(),
        clock,
        pool,
        state,
        runtime: None,
    }
}

/// The two auth cookies of a session, as a browser would hold them.
#[derive(Clone, Debug)]
pub struct SessionCookies {
    pub session: String,
    pub csrf: String,
}

impl SessionCookies {
    /// Reads the cookies a response sets (None if it sets no session).
    pub fn from_response(res: &reqwest::Response) -> Option<Self> {
        let mut session = None;
        let mut csrf = None;
        for value in res.headers().get_all("set-cookie") {
            let text = value.to_str().unwrap();
            let pair = text.split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            match name {
                "tp_session" if !value.is_empty() => session = Some(value.to_owned()),
                "tp_csrf" if !value.is_empty() => csrf = Some(value.to_owned()),
                _ => {}
            }
        }
        Some(SessionCookies {
            session: session?,
            csrf: csrf?,
        })
    }

    pub fn headers(&self) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            "cookie",
            HeaderValue::from_str(&format!(
                "tp_session={}; tp_csrf={}",
                self.session, self.csrf
            ))
            .unwrap(),
        );
        headers.insert("x-csrf-token", HeaderValue::from_str(&self.csrf).unwrap());
        headers
    }

    /// Adds the cookies and the CSRF header to a request.
    pub fn apply(&self, builder: RequestBuilder) -> RequestBuilder {
        builder.headers(self.headers())
    }
}

/// A signed-in user: its cookies and a client that sends them on every request.
pub struct Signed {
    pub cookies: SessionCookies,
    pub client: reqwest::Client,
}

impl Signed {
    pub fn new(cookies: SessionCookies) -> Self {
        let client = reqwest::Client::builder()
            .default_headers(cookies.headers())
            .build()
            .unwrap();
        Signed { cookies, client }
    }
}

/// The current TOTP code for an otpauth URL's secret, at the app's clock (step offset `d`).
pub fn code_from_url(url: &str, clock: &Clock, d: i64) -> String {
    let secret = secret_from_url(url);
    totp::code_for_step(&secret, totp::step_at(clock.now()) + d)
}

pub fn secret_from_url(url: &str) -> Vec<u8> {
    let b32 = url
        .split(['?', '&'])
        .find_map(|kv| kv.strip_prefix("secret="))
        .expect("secret in otpauth url");
    totp::base32_decode(b32).unwrap()
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    pub async fn post(&self, path: &str, body: Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// This app with `client` signed in as the admin (registered first when no user exists).
    pub async fn signed_in_as_admin(mut self) -> Self {
        self.client = self.admin_client().await;
        self
    }

    /// A client signed in as the first admin (registered on first use).
    pub async fn admin_client(&self) -> reqwest::Client {
        let count: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
            .fetch_one(&self.pool)
            .await
            .unwrap();
        if count == 0 {
            let (status, body) = envelope(
                self.post(
                    "/api/auth/register",
                    serde_json::json!({ "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD }),
                )
                .await,
            )
            .await;
            assert_eq!(status, 201, "{body}");
        }
        self.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await.client
    }

    /// Logs in (no 2FA) and returns the signed-in user.
    pub async fn sign_in(&self, email: &str, password: &str) -> Signed {
        let res = self
            .post(
                "/api/auth/login",
                serde_json::json!({ "email": email, "password": password }),
            )
            .await;
        let cookies = SessionCookies::from_response(&res);
        let (status, body) = envelope(res).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["requires_2fa"], false, "{body}");
        Signed::new(cookies.expect("session cookies"))
    }

    /// A new service token with `scopes`, created through the admin API (for writer routes:
    /// send it as `Authorization: Bearer <token>`).
    pub async fn service_token(&self, admin: &reqwest::Client, scopes: &[&str]) -> String {
        let res = admin
            .post(self.url("/api/service-tokens"))
            .json(&serde_json::json!({ "name": "test writer", "scopes": scopes }))
            .send()
            .await
            .unwrap();
        let (status, body) = envelope(res).await;
        assert_eq!(status, 201, "{body}");
        body["token"].as_str().unwrap().to_owned()
    }

    /// Creates a user through the admin API and signs them in.
    pub async fn user_with_role(&self, admin: &reqwest::Client, email: &str, role: &str) -> Signed {
        let res = admin
            .post(self.url("/api/users"))
            .json(&serde_json::json!({ "email": email, "password": ADMIN_PASSWORD, "role": role }))
            .send()
            .await
            .unwrap();
        let (status, body) = envelope(res).await;
        assert_eq!(status, 201, "{body}");
        self.sign_in(email, ADMIN_PASSWORD).await
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
