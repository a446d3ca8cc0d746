//! Who calls: session cookies, signed-in users with roles, service tokens, 2FA enrollment.
//!
//! Admins and operators must have 2FA (`auth::policy`), so the harness enrolls them as a real
//! user would (setup, confirm) and remembers the enrollment ([`Factors`]): the first admin in
//! [`TestApp::admin_client`], admins and operators in [`TestApp::user_with_role`]. Signing in
//! completes the second step with the user's authenticator code ([`TestApp::totp_code`], from
//! the secret the store holds, never a step the server already accepted).

use std::{collections::HashMap, sync::Mutex};

use base64::{Engine, engine::general_purpose::STANDARD};
use chrono::{Duration, DurationRound};
use reqwest::{
    RequestBuilder,
    header::{HeaderMap, HeaderValue},
};
use serde_json::json;
use sqlx::PgPool;
use tradeplane::{
    auth::{secret_box, totp},
    clock::Clock,
};
use uuid::Uuid;

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

    /// A client signed in as the first admin (registered on first use), enrolled in 2FA and
    /// freshly verified, so step-up actions (users, tokens) work. The same session is reused
    /// while it is alive and its verification fresh. Without APP_ENC_KEY no one can enroll:
    /// then the admin is signed in with its password only.
    pub async fn admin_client(&self) -> reqwest::Client {
        let cached = self.factors.admin.lock().unwrap().clone();
        if let Some(client) = cached {
            let (status, body) = self.with_client(client.clone()).me().await;
            if status == 200 && !body["step_up_valid_until"].is_null() {
                return client;
            }
        }
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
        let signed = self.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;
        let signed = if self.enc_key_set() && self.enrollment(ADMIN_EMAIL).is_none() {
            enroll(self, signed).await.0
        } else {
            signed
        };
        *self.factors.admin.lock().unwrap() = Some(signed.client.clone());
        signed.client
    }

    fn enc_key_set(&self) -> bool {
        matches!(
            self.state.config.enc_key,
            tradeplane::config::EncKey::Valid(_)
        )
    }

    /// Logs in, completing the second step with the user's authenticator code when the user
    /// has 2FA, and returns the signed-in user.
    pub async fn sign_in(&self, email: &str, password: &str) -> Signed {
        self.sign_in_from(email, password, None).await
    }

    /// [`TestApp::sign_in`] from `client_ip` (sent as `X-Forwarded-For`, believed when the
    /// app trusts the loopback proxy): both steps come from that address.
    pub async fn sign_in_from(
        &self,
        email: &str,
        password: &str,
        client_ip: Option<&str>,
    ) -> Signed {
        // A fresh client: signing someone in never ends the session this app's client holds.
        let anonymous = self.anonymous();
        let with_ip = |req: reqwest::RequestBuilder| match client_ip {
            Some(ip) => req.header("x-forwarded-for", ip),
            None => req,
        };
        let res = with_ip(anonymous.http("POST", "/api/auth/login"))
            .json(&json!({ "email": email, "password": password }))
            .send()
            .await
            .unwrap();
        let cookies = SessionCookies::from_response(&res);
        let (status, body) = envelope(res).await;
        assert_eq!(status, 200, "{body}");
        if body["requires_2fa"] == false {
            return Signed::new(cookies.expect("session cookies"));
        }
        let temp = body["temp_token"].as_str().unwrap().to_owned();
        let code = self.totp_code(email).await;
        let res = with_ip(anonymous.http("POST", "/api/auth/2fa/verify"))
            .json(&json!({ "temp_token": temp, "code": code }))
            .send()
            .await
            .unwrap();
        let cookies = SessionCookies::from_response(&res);
        let (status, body) = envelope(res).await;
        assert_eq!(status, 200, "{body}");
        Signed::new(cookies.expect("session cookies after the second factor"))
    }

    /// The code `email`'s authenticator shows for the oldest step the server still accepts
    /// (steps −1…+1 around its clock, newer than the last accepted one). When all three are
    /// used, a manual clock moves to the next step and the system clock is waited for.
    pub async fn totp_code(&self, email: &str) -> String {
        loop {
            settle(&self.clock).await;
            let (id, sealed, last): (Uuid, Option<Vec<u8>>, Option<i64>) = sqlx::query_as(
                "SELECT id, two_factor_secret_encrypted, two_factor_last_step FROM users \
                 WHERE lower(email) = lower($1)",
            )
            .bind(email)
            .fetch_one(&self.pool)
            .await
            .unwrap();
            let sealed = sealed.unwrap_or_else(|| panic!("{email} has no 2FA"));
            let secret = secret_box::open(&self.state.config.enc_key, id, &sealed).unwrap();
            let now = totp::step_at(self.clock.now());
            if let Some(step) = (now - 1..=now + 1).find(|s| last.is_none_or(|l| *s > l)) {
                return totp::code_for_step(&secret, step);
            }
            if is_manual(&self.clock).await {
                next_step(self);
            } else {
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
        }
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

    /// Creates a user through the admin API and signs them in; admins and operators are
    /// enrolled in 2FA first (their role needs it), the session is the enrollment's.
    pub async fn user_with_role(&self, admin: &reqwest::Client, email: &str, role: &str) -> Signed {
        let signed = self.user_without_2fa(admin, email, role).await;
        if role == "viewer" {
            signed
        } else {
            enroll(self, signed).await.0
        }
    }

    /// Creates a user through the admin API and signs them in with the password only (an
    /// admin or operator then may only enroll).
    pub async fn user_without_2fa(
        &self,
        admin: &reqwest::Client,
        email: &str,
        role: &str,
    ) -> Signed {
        let (status, body) = self
            .with_client(admin.clone())
            .create_user(json!({ "email": email, "password": ADMIN_PASSWORD, "role": role }))
            .await;
        assert_eq!(status, 201, "{body}");
        self.sign_in(email, ADMIN_PASSWORD).await
    }
}

/// A clock that does not move by itself (`Clock::manual`).
async fn is_manual(clock: &Clock) -> bool {
    if clock.is_system() {
        return false;
    }
    let before = clock.now();
    tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    clock.now() == before
}

/// On a moving clock, waits out the last 2 s of a TOTP step so a code computed now is still
/// inside the server's window when it arrives.
async fn settle(clock: &Clock) {
    if is_manual(clock).await {
        return;
    }
    let into = clock.now().timestamp().rem_euclid(30);
    if into >= 28 {
        tokio::time::sleep(std::time::Duration::from_millis(
            (30 - into as u64) * 1000 + 100,
        ))
        .await;
    }
}

/// One user's enrollment as the harness made it: the otpauth URL and the backup codes shown
/// once (the harness never uses them; tests may).
#[derive(Clone, Debug)]
pub struct Enrollment {
    pub url: String,
    pub codes: Vec<String>,
}

/// The enrollments the harness made, by (database, lower-cased email): every app over the same
/// database (a restarted server) knows them.
static ENROLLED: std::sync::LazyLock<Mutex<HashMap<(String, String), Enrollment>>> =
    std::sync::LazyLock::new(Default::default);

/// What the harness remembers per app: the first admin's client.
#[derive(Default)]
pub struct Factors {
    admin: Mutex<Option<reqwest::Client>>,
}

impl TestApp {
    fn enrollment_key(&self, email: &str) -> (String, String) {
        let db = self
            .pool
            .connect_options()
            .get_database()
            .unwrap_or_default()
            .to_owned();
        (db, email.to_lowercase())
    }

    fn enrollment(&self, email: &str) -> Option<Enrollment> {
        ENROLLED
            .lock()
            .unwrap()
            .get(&self.enrollment_key(email))
            .cloned()
    }

    fn remember(&self, email: &str, enrollment: Enrollment) {
        ENROLLED
            .lock()
            .unwrap()
            .insert(self.enrollment_key(email), enrollment);
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

/// The first admin, signed in with its second factor (enrolled by the harness): (session,
/// otpauth url, backup codes, all unused).
pub async fn enrolled_admin(app: &TestApp) -> (Signed, String, Vec<String>) {
    let _ = app.admin_client().await;
    let signed = app.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let enrollment = app
        .enrollment(ADMIN_EMAIL)
        .expect("the harness enrolled the first admin");
    (signed, enrollment.url, enrollment.codes)
}

/// Enrolls `signed` in TOTP through setup and confirm: (rotated session, otpauth url, backup
/// codes). A user the harness enrolled already keeps that enrollment and its session.
pub async fn enroll(app: &TestApp, signed: Signed) -> (Signed, String, Vec<String>) {
    let user = app.as_user(&signed);
    let (status, me) = user.me().await;
    assert_eq!(status, 200, "{me}");
    let email = me["user"]["email"].as_str().unwrap().to_owned();
    if me["user"]["two_factor_enabled"] == true {
        let known = app
            .enrollment(&email)
            .unwrap_or_else(|| panic!("{email} was enrolled outside the harness"));
        return (signed, known.url, known.codes);
    }
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
    // The oldest step the server accepts, leaving the current and next one for sign-ins.
    settle(&app.clock).await;
    let res = user
        .http("POST", "/api/auth/2fa/confirm")
        .json(&json!({ "code": code_from_url(&url, &app.clock, -1) }))
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
    app.remember(
        &email,
        Enrollment {
            url: url.clone(),
            codes: codes.clone(),
        },
    );
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
