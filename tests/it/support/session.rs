//! Who calls: session cookies, signed-in users with roles, service tokens, 2FA enrollment.

use base64::{Engine, engine::general_purpose::STANDARD};
use chrono::{Duration, DurationRound};
use reqwest::{
    RequestBuilder,
    header::{HeaderMap, HeaderValue},
};
use serde_json::json;
use sqlx::PgPool;
use tradeplane::{auth::totp, clock::Clock};

use super::{
    app::{TestApp, now, spawn_app_with},
    fixtures::{ADMIN_EMAIL, ADMIN_PASSWORD, test_config},
    requests::envelope,
};

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
    /// The same server called as `user` (the endpoint methods then send its session).
    pub fn as_user(&self, user: &Signed) -> TestApp {
        self.with_client(user.client.clone())
    }

    /// The same server called with a bearer token and no session.
    pub fn with_token(&self, token: &str) -> TestApp {
        let mut headers = HeaderMap::new();
        headers.insert(
            "authorization",
            HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
        );
        let client = reqwest::Client::builder()
            .default_headers(headers)
            .build()
            .unwrap();
        self.with_client(client)
    }

    /// The same server called with no credentials at all.
    pub fn anonymous(&self) -> TestApp {
        self.with_client(reqwest::Client::new())
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
            let (status, body) = self
                .register(json!({ "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD }))
                .await;
            assert_eq!(status, 201, "{body}");
        }
        self.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await.client
    }

    /// Logs in (no 2FA) and returns the signed-in user.
    pub async fn sign_in(&self, email: &str, password: &str) -> Signed {
        let res = self
            .http("POST", "/api/auth/login")
            .json(&json!({ "email": email, "password": password }))
            .send()
            .await
            .unwrap();
        let cookies = SessionCookies::from_response(&res);
        let (status, body) = envelope(res).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["requires_2fa"], false, "{body}");
        Signed::new(cookies.expect("session cookies"))
    }

    /// A new service token with `scopes`, created through the admin API (for writer routes:
    /// send it as `Authorization: Bearer <token>`, e.g. with [`TestApp::with_token`]).
    pub async fn service_token(&self, admin: &reqwest::Client, scopes: &[&str]) -> String {
        let (status, body) = self
            .with_client(admin.clone())
            .create_service_token(json!({ "name": "test writer", "scopes": scopes }))
            .await;
        assert_eq!(status, 201, "{body}");
        body["token"].as_str().unwrap().to_owned()
    }

    /// Creates a user through the admin API and signs them in.
    pub async fn user_with_role(&self, admin: &reqwest::Client, email: &str, role: &str) -> Signed {
        let (status, body) = self
            .with_client(admin.clone())
            .create_user(json!({ "email": email, "password": ADMIN_PASSWORD, "role": role }))
            .await;
        assert_eq!(status, 201, "{body}");
        self.sign_in(email, ADMIN_PASSWORD).await
    }
}

/// An app on a manual clock set 1 s into a TOTP step, so a few seconds of throttle delay
/// never cross into the next step.
pub async fn manual_app(pool: PgPool) -> TestApp {
    let start = now().duration_trunc(Duration::seconds(30)).unwrap() + Duration::seconds(1);
    spawn_app_with(pool, test_config(), Clock::manual(start)).await
}

/// Moves the clock to 1 s into the next TOTP step.
pub fn next_step(app: &TestApp) {
    let now = app.clock.now();
    app.clock
        .set(now.duration_trunc(Duration::seconds(30)).unwrap() + Duration::seconds(31));
}

/// The first admin, signed in and enrolled in TOTP: (session, otpauth url, backup codes).
pub async fn enrolled_admin(app: &TestApp) -> (Signed, String, Vec<String>) {
    let _ = app.admin_client().await;
    let signed = app.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    enroll(app, signed).await
}

/// Enrolls `signed` in TOTP through setup and confirm: (rotated session, otpauth url, backup
/// codes).
pub async fn enroll(app: &TestApp, signed: Signed) -> (Signed, String, Vec<String>) {
    let user = app.as_user(&signed);
    let res = user
        .http("POST", "/api/auth/2fa/setup")
        .json(&json!({ "password": ADMIN_PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["cache-control"], "no-store");
    let (status, body) = envelope(res).await;
    assert_eq!(status, 200, "{body}");
    let url = body["otpauth_url"].as_str().unwrap().to_owned();
    assert!(url.starts_with("otpauth://totp/tradeplane:"), "{url}");
    let png = STANDARD
        .decode(body["qr_png_base64"].as_str().unwrap())
        .unwrap();
    assert_eq!(&png[..4], b"\x89PNG");
    let res = user
        .http("POST", "/api/auth/2fa/confirm")
        .json(&json!({ "code": code_from_url(&url, &app.clock, 0) }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["cache-control"], "no-store");
    let rotated = SessionCookies::from_response(&res).expect("confirm rotates the session");
    let (status, body) = envelope(res).await;
    assert_eq!(status, 200, "{body}");
    let codes: Vec<String> = body["backup_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(codes.len(), 10);
    assert_eq!(body["backup_codes_remaining"], 10);
    (Signed::new(rotated), url, codes)
}

/// Password step of a 2FA login: the temp token (no session before the second factor).
pub async fn temp_token(app: &TestApp, email: &str) -> String {
    let res = app
        .http("POST", "/api/auth/login")
        .json(&json!({ "email": email, "password": ADMIN_PASSWORD }))
        .send()
        .await
        .unwrap();
    assert!(
        SessionCookies::from_response(&res).is_none(),
        "no session before the second factor"
    );
    let (status, body) = envelope(res).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["requires_2fa"], true, "{body}");
    body["temp_token"].as_str().unwrap().to_owned()
}

impl TestApp {
    /// The same server called with `cookies` (and their CSRF header), as a browser would.
    pub fn with_cookies(&self, cookies: &SessionCookies) -> TestApp {
        self.as_user(&Signed::new(cookies.clone()))
    }

    /// The second step of a 2FA login: the answer and the session it set, if any.
    pub async fn verify_2fa_for_session(
        &self,
        body: serde_json::Value,
    ) -> (u16, serde_json::Value, Option<SessionCookies>) {
        let res = self
            .http("POST", "/api/auth/2fa/verify")
            .json(&body)
            .send()
            .await
            .unwrap();
        let cookies = SessionCookies::from_response(&res);
        let (status, body) = envelope(res).await;
        (status, body, cookies)
    }
}
