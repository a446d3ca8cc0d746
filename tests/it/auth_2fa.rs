//! Login, first-admin registration, TOTP enrollment and verification, backup codes, the temp
//! token and throttling, through the real HTTP API. A manual clock drives time.

use chrono::Duration;
use serde_json::{Value, json};
use sqlx::PgPool;
use tradeplane::{clock::Clock, config::EncKey};

use crate::support::{
    ADMIN_EMAIL, ADMIN_PASSWORD, SessionCookies, Signed, code_from_url, envelope, error_code,
    session::{enrolled_admin, manual_app, next_step, temp_token},
    spawn_app_with, test_config,
};

/// SPEC §8.5: enroll, confirm, login requires 2FA, a backup code works once.
#[sqlx::test]
async fn spec_8_5_enroll_confirm_login_requires_2fa_backup_code_works_once(pool: PgPool) {
    let app = manual_app(pool.clone()).await;
    let (signed, url, codes) = enrolled_admin(&app).await;
    let (status, body) = app.with_cookies(&signed.cookies).me().await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["user"]["two_factor_enabled"], true);
    assert_eq!(body["user"]["two_factor_method"], "TOTP");
    assert_eq!(body["user"]["backup_codes_remaining"], 10);
    // At rest: the secret is encrypted, backup codes are argon2 hashes.
    let (sealed, hashes): (Vec<u8>, Value) = sqlx::query_as(
        "SELECT two_factor_secret_encrypted, two_factor_backup_codes_hash FROM users",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    let secret = crate::support::secret_from_url(&url);
    assert!(!sealed.windows(secret.len()).any(|w| w == secret.as_slice()));
    assert_eq!(hashes.as_object().unwrap().len(), 10);
    assert!(hashes.to_string().contains("$argon2id$"));

    // Login now stops at the second factor.
    next_step(&app);
    let temp = temp_token(&app, ADMIN_EMAIL).await;
    let (status, body, cookies) = app
        .verify_2fa_for_session(json!({ "temp_token": temp, "backup_code": codes[0] }))
        .await;
    assert_eq!(status, 200, "{body}");
    let cookies = cookies.expect("session after the backup code");
    let (_, body) = app.with_cookies(&cookies).me().await;
    assert_eq!(body["user"]["backup_codes_remaining"], 9);

    // The same backup code a second time fails.
    let temp = temp_token(&app, ADMIN_EMAIL).await;
    let (status, body, cookies) = app
        .verify_2fa_for_session(json!({ "temp_token": temp, "backup_code": codes[0] }))
        .await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(error_code(&body), "TWO_FACTOR_INVALID");
    assert!(cookies.is_none());
    // Another code still works (after the throttle delay the failure imposed).
    app.clock.advance(Duration::seconds(3));
    let (status, body, _) = app
        .verify_2fa_for_session(json!({ "temp_token": temp, "backup_code": codes[1] }))
        .await;
    assert_eq!(status, 200, "{body}");
}

/// Codes from an implementation nobody here wrote (the totp-rs crate, reading our otpauth
/// URL) log in.
#[sqlx::test]
async fn codes_from_an_independent_implementation_log_in(pool: PgPool) {
    let app = manual_app(pool).await;
    let (_, url, _) = enrolled_admin(&app).await;
    let independent = totp_rs::Totp::from_url(&url).unwrap();
    for _ in 0..2 {
        next_step(&app);
        let code = independent
            .generate(app.clock.now().timestamp() as u64)
            .to_string();
        let temp = temp_token(&app, ADMIN_EMAIL).await;
        let (status, body, cookies) = app
            .verify_2fa_for_session(json!({ "temp_token": temp, "code": code }))
            .await;
        assert_eq!(status, 200, "{body}");
        assert!(cookies.is_some());
    }
}

#[sqlx::test]
async fn fifty_concurrent_submissions_of_one_code_exactly_one_succeeds(pool: PgPool) {
    let app = manual_app(pool).await;
    let (_, url, _) = enrolled_admin(&app).await;
    next_step(&app);
    let code = code_from_url(&url, &app.clock, 0);
    let mut temps = Vec::new();
    for _ in 0..50 {
        temps.push(temp_token(&app, ADMIN_EMAIL).await);
    }
    let app = &app;
    let results = futures::future::join_all(temps.into_iter().map(|temp| {
        let code = code.clone();
        async move {
            app.verify_2fa_for_session(json!({ "temp_token": temp, "code": code }))
                .await
                .0
        }
    }))
    .await;
    assert_eq!(
        results.iter().filter(|s| **s == 200).count(),
        1,
        "{results:?}"
    );
    assert!(
        results.iter().all(|s| *s == 200 || *s == 401 || *s == 429),
        "{results:?}"
    );
}

#[sqlx::test]
async fn fifty_concurrent_uses_of_one_backup_code_exactly_one_succeeds(pool: PgPool) {
    let app = manual_app(pool).await;
    let (_, _, codes) = enrolled_admin(&app).await;
    let mut temps = Vec::new();
    for _ in 0..50 {
        temps.push(temp_token(&app, ADMIN_EMAIL).await);
    }
    let app = &app;
    let backup = &codes[3];
    let results = futures::future::join_all(temps.into_iter().map(|temp| async move {
        app.verify_2fa_for_session(json!({ "temp_token": temp, "backup_code": backup }))
            .await
            .0
    }))
    .await;
    assert_eq!(
        results.iter().filter(|s| **s == 200).count(),
        1,
        "{results:?}"
    );
}

#[sqlx::test]
async fn skew_accepts_one_step_each_side_only(pool: PgPool) {
    let app = manual_app(pool).await;
    let (_, url, _) = enrolled_admin(&app).await;
    // Two steps past enrollment, so step −1 is not the (consumed) enrollment step.
    next_step(&app);
    next_step(&app);
    let mut outcomes = Vec::new();
    // Ascending order: each accepted step is later than the one before (replay rules hold).
    for d in -2..=2 {
        let temp = temp_token(&app, ADMIN_EMAIL).await;
        let code = code_from_url(&url, &app.clock, d);
        let (status, body, _) = app
            .verify_2fa_for_session(json!({ "temp_token": temp, "code": code }))
            .await;
        assert!(
            status == 200 || error_code(&body) == "TWO_FACTOR_INVALID",
            "{body}"
        );
        outcomes.push(status == 200);
        // Past any throttle delay, still inside the same step.
        app.clock.advance(Duration::seconds(3));
    }
    assert_eq!(outcomes, [false, true, true, true, false]);
}

#[sqlx::test]
async fn an_accepted_step_and_any_older_step_are_refused(pool: PgPool) {
    let app = manual_app(pool).await;
    let (_, url, _) = enrolled_admin(&app).await;
    next_step(&app);
    let code = code_from_url(&url, &app.clock, 0);
    let temp = temp_token(&app, ADMIN_EMAIL).await;
    let (status, _, _) = app
        .verify_2fa_for_session(json!({ "temp_token": temp, "code": code }))
        .await;
    assert_eq!(status, 200);
    for replay in [code.clone(), code_from_url(&url, &app.clock, -1)] {
        let temp = temp_token(&app, ADMIN_EMAIL).await;
        let (status, body, _) = app
            .verify_2fa_for_session(json!({ "temp_token": temp, "code": replay }))
            .await;
        assert_eq!(status, 401, "{body}");
        assert_eq!(error_code(&body), "TWO_FACTOR_INVALID");
        app.clock.advance(Duration::seconds(5));
    }
}

#[sqlx::test]
async fn a_valid_code_inside_the_delay_is_refused_and_success_resets(pool: PgPool) {
    let app = manual_app(pool).await;
    let (_, url, _) = enrolled_admin(&app).await;
    next_step(&app);
    let temp = temp_token(&app, ADMIN_EMAIL).await;
    let (status, _, _) = app
        .verify_2fa_for_session(json!({ "temp_token": temp, "code": "000000" }))
        .await;
    assert_eq!(status, 401);
    // Right code, but inside the delay: refused with Retry-After.
    let res = app
        .http("POST", "/api/auth/2fa/verify")
        .json(&json!({ "temp_token": temp, "code": code_from_url(&url, &app.clock, 0) }))
        .send()
        .await
        .unwrap();
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry), "{retry}");
    let (status, body) = envelope(res).await;
    assert_eq!(status, 429);
    assert_eq!(error_code(&body), "RATE_LIMITED");
    // Two more failures grow the delay.
    app.clock.advance(Duration::seconds(2));
    let (status, _, _) = app
        .verify_2fa_for_session(json!({ "temp_token": temp, "code": "000001" }))
        .await;
    assert_eq!(status, 401);
    let res = app
        .http("POST", "/api/auth/2fa/verify")
        .json(&json!({ "temp_token": temp, "code": "000002" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 429);
    assert_eq!(res.headers()["retry-after"], "4");
    app.clock.advance(Duration::seconds(4));
    let (status, body, _) = app
        .verify_2fa_for_session(
            json!({ "temp_token": temp, "code": code_from_url(&url, &app.clock, 0) }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    // Success reset the counters: the next failure costs the first delay again.
    let temp = temp_token(&app, ADMIN_EMAIL).await;
    let (status, _, _) = app
        .verify_2fa_for_session(json!({ "temp_token": temp, "code": "000003" }))
        .await;
    assert_eq!(status, 401);
    let res = app
        .http("POST", "/api/auth/2fa/verify")
        .json(&json!({ "temp_token": temp, "code": "000004" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["retry-after"], "2");
}

#[sqlx::test]
async fn passwords_are_throttled_per_account_and_per_address(pool: PgPool) {
    let app = manual_app(pool).await;
    let _ = app.admin_client().await;
    let wrong = json!({ "email": ADMIN_EMAIL, "password": "not the password at all" });
    let (status, wrong_body) = app.login(wrong).await;
    assert_eq!(status, 401);
    // The right password inside the delay is refused too.
    let right = json!({ "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD });
    let res = app
        .http("POST", "/api/auth/login")
        .json(&right.clone())
        .send()
        .await
        .unwrap();
    assert!(res.headers().contains_key("retry-after"));
    assert_eq!(res.status(), 429);
    app.clock.advance(Duration::seconds(2));
    let (status, _) = app.login(right).await;
    assert_eq!(status, 200);

    // Unknown email: the same answer as a wrong password.
    let (status, unknown_body) = app
        .login(json!({ "email": "nobody@example.com", "password": "not the password at all" }))
        .await;
    assert_eq!(status, 401);
    assert_eq!(unknown_body["error"], wrong_body["error"]);

    // One address trying many accounts: 10 failures are free (the unknown email above was the
    // first), then delayed.
    for i in 0..8 {
        let (status, _) = app
            .login(
                json!({ "email": format!("user{i}@example.com"), "password": "guess guess guess" }),
            )
            .await;
        assert_eq!(status, 401, "attempt {i}");
    }
    let (status, _) = app
        .login(json!({ "email": "fresh@example.com", "password": "guess guess guess" }))
        .await;
    assert_eq!(
        status, 401,
        "the 10th failure from the address still answers"
    );
    let (status, body) = app
        .login(json!({ "email": "another@example.com", "password": "guess guess guess" }))
        .await;
    assert_eq!(status, 429, "{body}");
}

#[sqlx::test]
async fn the_temp_token_is_single_use_short_lived_revocable_and_never_a_session(pool: PgPool) {
    let app = manual_app(pool).await;
    let (_, url, _) = enrolled_admin(&app).await;
    next_step(&app);

    // Never a session.
    let temp = temp_token(&app, ADMIN_EMAIL).await;
    let as_cookie = SessionCookies {
        session: temp.clone(),
        csrf: "x".into(),
    };
    assert_eq!(app.with_cookies(&as_cookie).me().await.0, 401);

    // Single use.
    let code = code_from_url(&url, &app.clock, 0);
    let (status, _, _) = app
        .verify_2fa_for_session(json!({ "temp_token": temp, "code": code }))
        .await;
    assert_eq!(status, 200);
    next_step(&app);
    let code = code_from_url(&url, &app.clock, 0);
    let (status, body, _) = app
        .verify_2fa_for_session(json!({ "temp_token": temp, "code": code }))
        .await;
    assert_eq!(status, 401);
    assert_eq!(error_code(&body), "TWO_FACTOR_INVALID");

    // 5-minute TTL.
    let temp = temp_token(&app, ADMIN_EMAIL).await;
    app.clock
        .advance(Duration::minutes(5) + Duration::seconds(1));
    let code = code_from_url(&url, &app.clock, 0);
    let (status, body, _) = app
        .verify_2fa_for_session(json!({ "temp_token": temp, "code": code }))
        .await;
    assert_eq!((status, error_code(&body)), (401, "TWO_FACTOR_INVALID"));

    // Revoked after 5 bad codes (waiting out each throttle delay).
    let temp = temp_token(&app, ADMIN_EMAIL).await;
    for i in 0..5 {
        let (status, body, _) = app
            .verify_2fa_for_session(json!({ "temp_token": temp, "code": format!("00000{i}") }))
            .await;
        assert_eq!(status, 401, "{body}");
        app.clock.advance(Duration::seconds(65));
    }
    let code = code_from_url(&url, &app.clock, 0);
    let (status, body, _) = app
        .verify_2fa_for_session(json!({ "temp_token": temp, "code": code }))
        .await;
    assert_eq!((status, error_code(&body)), (401, "TWO_FACTOR_INVALID"));
    // A fresh login still works.
    let temp = temp_token(&app, ADMIN_EMAIL).await;
    let (status, body, _) = app
        .verify_2fa_for_session(json!({ "temp_token": temp, "code": code }))
        .await;
    assert_eq!(status, 200, "{body}");
}

#[sqlx::test]
async fn regenerating_backup_codes_voids_the_old_ones(pool: PgPool) {
    let app = manual_app(pool).await;
    let (signed, _, old) = enrolled_admin(&app).await;
    // A session and the password alone do not make new codes (they would pass every step-up):
    // past the step-up window (10 min) it needs a fresh 2FA verification.
    app.clock.advance(Duration::minutes(11));
    let (status, body) = app
        .as_user(&signed)
        .regenerate_backup_codes(json!({ "password": ADMIN_PASSWORD }))
        .await;
    assert_eq!(
        (status, error_code(&body)),
        (401, "TWO_FACTOR_REQUIRED"),
        "{body}"
    );
    let res = signed
        .client
        .post(app.url("/api/auth/step-up"))
        .json(&json!({ "backup_code": old[1] }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let signed = Signed::new(SessionCookies::from_response(&res).unwrap());
    let (status, body) = app
        .as_user(&signed)
        .regenerate_backup_codes(json!({ "password": "wrong password here" }))
        .await;
    assert_eq!(
        (status, error_code(&body)),
        (403, "FORBIDDEN"),
        "re-auth needed"
    );
    app.clock.advance(Duration::seconds(3));
    let res = signed
        .client
        .post(app.url("/api/auth/2fa/backup-codes"))
        .json(&json!({ "password": ADMIN_PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["cache-control"], "no-store");
    let (status, body) = envelope(res).await;
    assert_eq!(status, 200, "{body}");
    let new: Vec<String> = serde_json::from_value(body["backup_codes"].clone()).unwrap();
    assert_eq!(new.len(), 10);
    // A factor change offers to end the other sessions: it counts them.
    let sessions: i64 = sqlx::query_scalar("SELECT count(*) FROM sessions")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert!(sessions >= 2, "the harness's and this test's sign-ins");
    assert_eq!(body["other_sessions"], sessions - 1, "{body}");
    let temp = temp_token(&app, ADMIN_EMAIL).await;
    let (status, _, _) = app
        .verify_2fa_for_session(json!({ "temp_token": temp, "backup_code": old[0] }))
        .await;
    assert_eq!(status, 401);
    app.clock.advance(Duration::seconds(3));
    let (status, body, _) = app
        .verify_2fa_for_session(json!({ "temp_token": temp, "backup_code": new[0] }))
        .await;
    assert_eq!(status, 200, "{body}");
}

#[sqlx::test]
async fn setup_without_app_enc_key_is_refused_and_writes_nothing(pool: PgPool) {
    let mut config = test_config();
    config.enc_key = EncKey::Missing;
    let app = spawn_app_with(pool.clone(), config, Clock::system()).await;
    let admin = app.admin_client().await;
    let (status, body) = app
        .with_client(admin.clone())
        .setup_2fa(json!({ "password": ADMIN_PASSWORD }))
        .await;
    assert_eq!((status, error_code(&body)), (503, "ENCRYPTION_KEY_MISSING"));
    let (pending, enabled): (Option<Vec<u8>>, bool) =
        sqlx::query_as("SELECT two_factor_pending_secret_encrypted, two_factor_enabled FROM users")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(pending.is_none() && !enabled);
}

#[sqlx::test]
async fn setup_needs_the_password_and_enrollment_happens_once(pool: PgPool) {
    let app = manual_app(pool).await;
    let (signed, _, _) = enrolled_admin(&app).await;
    let (status, body) = app
        .as_user(&signed)
        .setup_2fa(json!({ "password": ADMIN_PASSWORD }))
        .await;
    assert_eq!(
        (status, error_code(&body)),
        (409, "TWO_FACTOR_ALREADY_ENABLED")
    );

    let operator = app
        .user_without_2fa(&signed.client, "op@example.com", "operator")
        .await;
    let (status, body) = app
        .as_user(&operator)
        .setup_2fa(json!({ "password": "not my password!" }))
        .await;
    assert_eq!((status, error_code(&body)), (403, "FORBIDDEN"), "{body}");
    // A wrong confirm code leaves 2FA off.
    app.clock.advance(Duration::seconds(3));
    let res = operator
        .client
        .post(app.url("/api/auth/2fa/setup"))
        .json(&json!({ "password": ADMIN_PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let (status, body) = app
        .as_user(&operator)
        .confirm_2fa(json!({ "code": "123456" }))
        .await;
    assert_eq!((status, error_code(&body)), (401, "TWO_FACTOR_INVALID"));
    // Still no 2FA, once the failed confirm's delay has passed.
    app.clock.advance(Duration::seconds(3));
    let (status, body) = app
        .login(json!({ "email": "op@example.com", "password": ADMIN_PASSWORD }))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["requires_2fa"], false);
}

#[sqlx::test]
async fn only_the_first_admin_may_register(pool: PgPool) {
    let app = manual_app(pool.clone()).await;
    let app = &app;
    let results = futures::future::join_all((0..5).map(|i| async move {
        app.register(
            json!({ "email": format!("first{i}@example.com"), "password": ADMIN_PASSWORD }),
        )
        .await
    }))
    .await;
    assert_eq!(
        results.iter().filter(|(s, _)| *s == 201).count(),
        1,
        "{results:?}"
    );
    for (status, body) in &results {
        if *status != 201 {
            assert_eq!(error_code(body), "FORBIDDEN");
        }
    }
    let created = results.iter().find(|(s, _)| *s == 201).unwrap();
    assert_eq!(created.1["user"]["role"], "admin");
    let (status, body) = app
        .register(json!({ "email": "late@example.com", "password": ADMIN_PASSWORD }))
        .await;
    assert_eq!((status, error_code(&body)), (403, "FORBIDDEN"));
    let short = app
        .http("POST", "/api/auth/register")
        .json(&json!({ "email": "x@example.com", "password": "short" }))
        .send()
        .await
        .unwrap();
    assert_eq!(short.status(), 422);
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(count, 1);
}
