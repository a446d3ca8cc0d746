//! Sessions: cookie attributes, rotation, idle/absolute expiry, logout, list/revoke, disabled
//! users, and CSRF.

use chrono::Duration;
use serde_json::json;
use sqlx::PgPool;
use tradeplane::{clock::Clock, config::Config};

use crate::support::{
    ADMIN_EMAIL, ADMIN_PASSWORD, SessionCookies, Signed, TestApp, code_from_url, envelope,
    error_code,
    session::{enrolled_admin, manual_app, next_step},
    spawn_app_with, test_config,
};

async fn me_status(app: &TestApp, cookies: &SessionCookies) -> u16 {
    cookies
        .apply(app.client.get(app.url("/api/auth/me")))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[sqlx::test]
async fn cookies_are_host_prefixed_secure_http_only_strict_by_default(pool: PgPool) {
    let config = Config {
        auth: Default::default(),
        ..test_config()
    };
    let app = spawn_app_with(pool, config, Clock::system()).await;
    app.register(json!({ "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD }))
        .await;
    let res = app
        .http("POST", "/api/auth/login")
        .json(&json!({ "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD }))
        .send()
        .await
        .unwrap();
    let cookies: Vec<String> = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    let session = cookies
        .iter()
        .find(|c| c.starts_with("__Host-tp_session="))
        .expect("session cookie");
    for attr in ["Path=/", "SameSite=Strict", "HttpOnly", "Secure"] {
        assert!(session.contains(attr), "{session} lacks {attr}");
    }
    assert!(!session.contains("Domain"));
    let value = session.split(['=', ';']).nth(1).unwrap();
    assert!(value.len() >= 43, "≥ 256 bits: {value}");
    let csrf = cookies
        .iter()
        .find(|c| c.starts_with("__Host-tp_csrf="))
        .expect("csrf cookie");
    assert!(csrf.contains("Secure") && !csrf.contains("HttpOnly"));
    assert_eq!(res.headers()["cache-control"], "no-store");
}

#[sqlx::test]
async fn login_rotates_the_session_and_the_old_id_gets_401(pool: PgPool) {
    let app = manual_app(pool.clone()).await;
    let admin = app.admin_client().await;
    // A viewer: its password alone signs it in (admins go through 2FA).
    let first = app.user_with_role(&admin, "v@example.com", "viewer").await;
    assert_eq!(me_status(&app, &first.cookies).await, 200);
    // Logging in again from the same browser (sending the old cookie) ends the old session.
    let res = first
        .client
        .post(app.url("/api/auth/login"))
        .json(&json!({ "email": "v@example.com", "password": ADMIN_PASSWORD }))
        .send()
        .await
        .unwrap();
    let second = SessionCookies::from_response(&res).unwrap();
    assert_ne!(second.session, first.cookies.session);
    assert_eq!(me_status(&app, &first.cookies).await, 401);
    assert_eq!(me_status(&app, &second).await, 200);
    // Only hashes are stored.
    let stored: Vec<Vec<u8>> = sqlx::query_scalar("SELECT token_hash FROM sessions")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert!(
        stored
            .iter()
            .all(|h| h.len() == 32 && h != second.session.as_bytes())
    );
}

#[sqlx::test]
async fn step_up_rotates_the_session_and_the_old_id_gets_401(pool: PgPool) {
    let app = manual_app(pool).await;
    let (signed, url, _) = enrolled_admin(&app).await;
    next_step(&app);
    let res = signed
        .client
        .post(app.url("/api/auth/step-up"))
        .json(&json!({ "code": code_from_url(&url, &app.clock, 0) }))
        .send()
        .await
        .unwrap();
    let rotated = SessionCookies::from_response(&res).expect("new cookies");
    let (status, body) = envelope(res).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["csrf_token"], rotated.csrf.as_str());
    assert_eq!(me_status(&app, &signed.cookies).await, 401);
    assert_eq!(me_status(&app, &rotated).await, 200);
}

#[sqlx::test]
async fn idle_and_absolute_timeouts_end_sessions(pool: PgPool) {
    let app = manual_app(pool).await;
    let _ = app.admin_client().await;
    let signed = app.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    // Activity keeps it alive…
    app.clock.advance(Duration::minutes(14));
    assert_eq!(me_status(&app, &signed.cookies).await, 200);
    app.clock.advance(Duration::minutes(14));
    assert_eq!(me_status(&app, &signed.cookies).await, 200);
    // …15 idle minutes end it (reference/security.md: 15 min idle, 12 h absolute).
    app.clock
        .advance(Duration::minutes(15) + Duration::seconds(1));
    assert_eq!(me_status(&app, &signed.cookies).await, 401);

    // Absolute: 12 h after login, however active.
    let signed = app.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    for _ in 0..(12 * 6 - 1) {
        app.clock.advance(Duration::minutes(10));
        assert_eq!(me_status(&app, &signed.cookies).await, 200);
    }
    app.clock.advance(Duration::minutes(10));
    assert_eq!(me_status(&app, &signed.cookies).await, 401);
}

#[sqlx::test]
async fn logout_deletes_the_row_and_clears_the_cookies(pool: PgPool) {
    let app = manual_app(pool.clone()).await;
    let _ = app.admin_client().await;
    let signed = app.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let before: i64 = sqlx::query_scalar("SELECT count(*) FROM sessions")
        .fetch_one(&pool)
        .await
        .unwrap();
    let res = signed
        .client
        .post(app.url("/api/auth/logout"))
        .send()
        .await
        .unwrap();
    let cleared: Vec<String> = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    assert!(
        cleared
            .iter()
            .any(|c| c.starts_with("tp_session=;") && c.contains("Max-Age=0"))
    );
    let (status, _) = envelope(res).await;
    assert_eq!(status, 200);
    let after: i64 = sqlx::query_scalar("SELECT count(*) FROM sessions")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(after, before - 1);
    assert_eq!(me_status(&app, &signed.cookies).await, 401);
}

#[sqlx::test]
async fn users_list_and_revoke_their_own_sessions_only(pool: PgPool) {
    let app = manual_app(pool).await;
    let admin = app.admin_client().await;
    let a = app.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let b = app.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let (status, body) = app.as_user(&a).list_sessions().await;
    assert_eq!(status, 200);
    let items = body["items"].as_array().unwrap();
    assert_eq!(items.len(), 3, "{body}");
    assert_eq!(items.iter().filter(|s| s["current"] == true).count(), 1);
    let other = items.iter().find(|s| s["current"] == false).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Someone else cannot end my session.
    let viewer = app.user_with_role(&admin, "v@example.com", "viewer").await;
    let (status, _) = app.as_user(&viewer).revoke_session(&other).await;
    assert_eq!(status, 422);
    let (status, body) = app.as_user(&a).revoke_session(&other).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(me_status(&app, &a.cookies).await, 200);
    let (_, body) = app.as_user(&a).list_sessions().await;
    assert_eq!(body["items"].as_array().unwrap().len(), 2, "{body}");
    drop(b);
}

#[sqlx::test]
async fn disabling_a_user_kills_its_sessions_and_blocks_login(pool: PgPool) {
    let app = manual_app(pool).await;
    let admin = app.admin_client().await;
    let op = app
        .user_with_role(&admin, "op@example.com", "operator")
        .await;
    assert_eq!(me_status(&app, &op.cookies).await, 200);
    let (_, body) = app.with_client(admin.clone()).list_users("").await;
    let id = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["email"] == "op@example.com")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, body) = app
        .with_client(admin.clone())
        .patch_user(&id, json!({ "disabled": true }))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["user"]["disabled"], true);
    assert_eq!(me_status(&app, &op.cookies).await, 401);
    let (status, body) = app
        .login(json!({ "email": "op@example.com", "password": ADMIN_PASSWORD }))
        .await;
    assert_eq!((status, error_code(&body)), (401, "UNAUTHENTICATED"));
}

#[sqlx::test]
async fn cross_site_and_tokenless_state_changes_are_403(pool: PgPool) {
    let app = manual_app(pool).await;
    let _ = app.admin_client().await;
    let signed = app.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let echo = json!({ "name": "a", "count": 1 });
    let post = |headers: Vec<(&'static str, String)>, with_csrf: bool| {
        let mut builder = app.client.post(app.url("/api/test/echo")).json(&echo);
        builder = if with_csrf {
            signed.cookies.apply(builder)
        } else {
            builder.header(
                "cookie",
                format!(
                    "tp_session={}; tp_csrf={}",
                    signed.cookies.session, signed.cookies.csrf
                ),
            )
        };
        for (k, v) in headers {
            builder = builder.header(k, v);
        }
        async move { envelope(builder.send().await.unwrap()).await }
    };
    // Baseline: same-origin with the token passes.
    let origin = format!("http://{}", app.addr);
    let (status, _) = post(
        vec![
            ("sec-fetch-site", "same-origin".into()),
            ("origin", origin.clone()),
        ],
        true,
    )
    .await;
    assert_eq!(status, 200);
    for (headers, with_csrf, why) in [
        (
            vec![("sec-fetch-site", "cross-site".to_owned())],
            true,
            "cross-site",
        ),
        (
            vec![("sec-fetch-site", "same-site".to_owned())],
            true,
            "same-site",
        ),
        (
            vec![("origin", "http://evil.example".to_owned())],
            true,
            "foreign origin",
        ),
        (vec![], false, "no token"),
    ] {
        let (status, body) = post(headers, with_csrf).await;
        assert_eq!(
            (status, error_code(&body)),
            (403, "FORBIDDEN"),
            "{why}: {body}"
        );
    }
    // A token of another session does not fit this one.
    let other = app.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let res = app
        .client
        .post(app.url("/api/test/echo"))
        .json(&echo)
        .header(
            "cookie",
            format!(
                "tp_session={}; tp_csrf={}",
                signed.cookies.session, other.cookies.csrf
            ),
        )
        .header("x-csrf-token", other.cookies.csrf.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    // Reads need no token.
    let res = app
        .client
        .get(app.url("/api/auth/me"))
        .header("cookie", format!("tp_session={}", signed.cookies.session))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    // Login itself refuses cross-site posts.
    let res = app
        .client
        .post(app.url("/api/auth/login"))
        .header("sec-fetch-site", "cross-site")
        .json(&json!({ "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
}

#[sqlx::test]
async fn revoke_others_keeps_only_this_session(pool: PgPool) {
    let app = manual_app(pool).await;
    let _ = app.admin_client().await;
    let a = app.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let b = app.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let (status, body) = app.as_user(&a).revoke_other_sessions().await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["revoked"], 2);
    assert_eq!(me_status(&app, &a.cookies).await, 200);
    assert_eq!(me_status(&app, &b.cookies).await, 401);
}

#[sqlx::test]
async fn an_admin_resets_a_lost_second_factor_only_after_stepping_up(pool: PgPool) {
    let app = manual_app(pool).await;
    let (admin, url, _) = enrolled_admin(&app).await;
    let op = app
        .user_with_role(&admin.client, "op@example.com", "operator")
        .await;
    let (op, _, _) = crate::support::session::enroll(&app, op).await;
    let (_, users) = app.as_user(&admin).list_users("").await;
    let id = users["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["email"] == "op@example.com")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let reset = async |user: &Signed| {
        app.as_user(user)
            .patch_user(&id, json!({ "reset_two_factor": true }))
            .await
    };
    app.clock.advance(Duration::minutes(11));
    let (status, body) = reset(&admin).await;
    assert_eq!((status, error_code(&body)), (401, "TWO_FACTOR_REQUIRED"));
    next_step(&app);
    let res = admin
        .client
        .post(app.url("/api/auth/step-up"))
        .json(&json!({ "code": code_from_url(&url, &app.clock, 0) }))
        .send()
        .await
        .unwrap();
    let stepped = crate::support::Signed::new(SessionCookies::from_response(&res).unwrap());
    let (status, body) = reset(&stepped).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["user"]["two_factor_enabled"], false);
    assert_eq!(body["user"]["backup_codes_remaining"], 0);
    // Their sessions ended; the next login needs no second factor.
    assert_eq!(me_status(&app, &op.cookies).await, 401);
    let (status, body) = app
        .login(json!({ "email": "op@example.com", "password": ADMIN_PASSWORD }))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["requires_2fa"], false);
}
