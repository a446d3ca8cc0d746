//! Throttling under concurrency (issue 21 part 1): 100 parallel attempts against each key,
//! and the bound holds exactly. The app trusts 127.0.0.1 as a proxy, so `X-Forwarded-For`
//! plays the client address; a manual clock keeps every delay in force until the test moves it.

use chrono::{Duration, DurationRound};
use futures::future::join_all;
use serde_json::json;
use sqlx::PgPool;
use tradeplane::clock::Clock;

use crate::support::{
    ADMIN_EMAIL, ADMIN_PASSWORD, TestApp, code_from_url, envelope, error_code,
    session::{enroll, next_step, temp_token},
    spawn_app_with, test_config,
};

const WRONG: &str = "not the password at all";

async fn app_with_budget(pool: PgPool, budget: u32) -> TestApp {
    let mut config = test_config();
    config.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    config.auth.login_failure_budget = budget;
    let start = crate::support::now()
        .duration_trunc(Duration::seconds(30))
        .unwrap()
        + Duration::seconds(1);
    let app = spawn_app_with(pool, config, Clock::manual(start)).await;
    let _ = app.admin_client().await;
    app
}

/// A login from `ip` (via the trusted proxy): its status.
async fn login(app: &TestApp, email: &str, password: &str, ip: &str) -> u16 {
    let res = app
        .http("POST", "/api/auth/login")
        .header("x-forwarded-for", ip)
        .json(&json!({ "email": email, "password": password }))
        .send()
        .await
        .unwrap();
    let (status, body) = envelope(res).await;
    match status {
        200 | 401 => {}
        429 => {
            assert_eq!(error_code(&body), "RATE_LIMITED");
            assert!(
                body["error"]["details"]["retry_after_secs"]
                    .as_i64()
                    .unwrap()
                    >= 1
            );
        }
        other => panic!("{other}: {body}"),
    }
    status
}

/// Runs the attempts at once; how many were checked (401) and how many refused unchecked (429).
async fn burst(app: &TestApp, attempts: Vec<(String, String)>) -> (usize, usize) {
    let statuses = join_all(
        attempts
            .iter()
            .map(|(email, ip)| login(app, email, WRONG, ip)),
    )
    .await;
    let checked = statuses.iter().filter(|s| **s == 401).count();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!(checked + refused, statuses.len(), "{statuses:?}");
    (checked, refused)
}

#[sqlx::test]
async fn one_account_from_100_addresses_is_checked_once_and_its_owner_still_signs_in(pool: PgPool) {
    let app = app_with_budget(pool, 1000).await;
    // The owner signed in from 127.0.0.1 (admin_client): a known address.
    let attempts = (0..100)
        .map(|i| (ADMIN_EMAIL.to_owned(), format!("198.51.100.{i}")))
        .collect();
    assert_eq!(burst(&app, attempts).await, (1, 99));
    // A new address with the right password waits for the account's delay…
    assert_eq!(
        login(&app, ADMIN_EMAIL, ADMIN_PASSWORD, "192.0.2.9").await,
        429
    );
    // …but the owner at the known address is not slowed by anyone else's failures.
    assert_eq!(
        login(&app, ADMIN_EMAIL, ADMIN_PASSWORD, "127.0.0.1").await,
        200
    );
    app.clock.advance(Duration::seconds(2));
    assert_eq!(
        login(&app, ADMIN_EMAIL, ADMIN_PASSWORD, "192.0.2.9").await,
        200
    );
}

#[sqlx::test]
async fn one_pair_is_checked_once_per_delay(pool: PgPool) {
    let app = app_with_budget(pool, 1000).await;
    let attempts = (0..100)
        .map(|_| (ADMIN_EMAIL.to_owned(), "127.0.0.1".to_owned()))
        .collect();
    assert_eq!(burst(&app, attempts).await, (1, 99));
    // Each refusal is in the audit log: the account and address, never the password tried.
    let refusals: Vec<(String, Option<String>, serde_json::Value)> = sqlx::query_as(
        "SELECT outcome, target, metadata FROM audit_log \
         WHERE action = 'auth.login' AND outcome = 'DENIED' ORDER BY created_at, id",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(refusals.len(), 99, "{refusals:?}");
    assert!(refusals.iter().all(|(_, target, meta)| {
        target.as_deref() == Some(ADMIN_EMAIL) && meta["reason"] == "throttled"
    }));
    assert!(!format!("{refusals:?}").contains(WRONG));
    // Its own failure gates the known pair: the right password waits the 2 s too.
    assert_eq!(
        login(&app, ADMIN_EMAIL, ADMIN_PASSWORD, "127.0.0.1").await,
        429
    );
    app.clock.advance(Duration::seconds(2));
    let attempts = (0..100)
        .map(|_| (ADMIN_EMAIL.to_owned(), "127.0.0.1".to_owned()))
        .collect();
    assert_eq!(burst(&app, attempts).await, (1, 99), "then one per 4 s");
    app.clock.advance(Duration::seconds(4));
    assert_eq!(
        login(&app, ADMIN_EMAIL, ADMIN_PASSWORD, "127.0.0.1").await,
        200
    );
}

#[sqlx::test]
async fn one_address_gets_exactly_ten_free_checks_and_known_users_behind_it_still_sign_in(
    pool: PgPool,
) {
    let app = app_with_budget(pool, 1000).await;
    let nat = "203.0.113.5";
    // A full sign-in (password and second factor) from behind the NAT makes the pair known.
    app.sign_in_from(ADMIN_EMAIL, ADMIN_PASSWORD, Some(nat))
        .await;
    let attempts = (0..100)
        .map(|i| (format!("guess{i}@example.com"), nat.to_owned()))
        .collect();
    assert_eq!(burst(&app, attempts).await, (10, 90));
    assert_eq!(
        login(&app, ADMIN_EMAIL, ADMIN_PASSWORD, nat).await,
        200,
        "a user who signed in from this address before is not locked out by its other users"
    );
    assert_eq!(login(&app, "new@example.com", WRONG, nat).await, 429);
}

#[sqlx::test]
async fn the_global_budget_slows_distributed_guessing_but_not_known_users(pool: PgPool) {
    let app = app_with_budget(pool, 20).await;
    let attempts = (0..100)
        .map(|i| {
            (
                format!("guess{i}@example.com"),
                format!("198.51.{}.{}", i / 50, i % 50),
            )
        })
        .collect();
    assert_eq!(burst(&app, attempts).await, (20, 80));
    assert_eq!(
        login(&app, ADMIN_EMAIL, ADMIN_PASSWORD, "127.0.0.1").await,
        200
    );
    assert_eq!(
        login(&app, ADMIN_EMAIL, ADMIN_PASSWORD, "192.0.2.77").await,
        429,
        "an address new for the account waits while the budget is spent"
    );
    app.clock.advance(Duration::seconds(60));
    assert_eq!(
        login(&app, ADMIN_EMAIL, ADMIN_PASSWORD, "192.0.2.77").await,
        200
    );
}

#[sqlx::test]
async fn a_hundred_parallel_codes_on_a_hundred_temp_tokens_are_checked_once(pool: PgPool) {
    let app = app_with_budget(pool, 1000).await;
    let signed = app.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let (_, url, _) = enroll(&app, signed).await;
    next_step(&app);
    // The password step of a 2FA login is no guess: a hundred of them in a row are not slowed.
    let mut temps = Vec::new();
    for _ in 0..100 {
        temps.push(temp_token(&app, ADMIN_EMAIL).await);
    }
    let right = code_from_url(&url, &app.clock, 0);
    let wrong = if right == "000000" {
        "000001"
    } else {
        "000000"
    };
    let app_ref = &app;
    let statuses = join_all(temps.iter().map(|temp| async move {
        app_ref
            .call(
                "POST",
                "/api/auth/2fa/verify",
                Some(json!({ "temp_token": temp, "code": wrong })),
            )
            .await
            .0
    }))
    .await;
    let checked = statuses.iter().filter(|s| **s == 401).count();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!((checked, refused), (1, 99), "{statuses:?}");
    // Refused attempts left their temp tokens usable: after the delay one signs in.
    app.clock.advance(Duration::seconds(2));
    let (status, body) = app
        .call(
            "POST",
            "/api/auth/2fa/verify",
            Some(json!({ "temp_token": temps[99], "code": right })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

#[sqlx::test]
async fn on_the_system_clock_the_password_step_of_a_2fa_login_costs_no_delay(pool: PgPool) {
    // Sub-microsecond times must not keep a refunded delay alive (Postgres stores microseconds).
    let app = crate::support::spawn_app(pool).await;
    let _ = app.admin_client().await;
    let signed = app.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let (_, url, _) = enroll(&app, signed).await;
    let temp = temp_token(&app, ADMIN_EMAIL).await;
    let (status, body) = app
        .call(
            "POST",
            "/api/auth/2fa/verify",
            Some(json!({ "temp_token": temp, "code": code_from_url(&url, &app.clock, 1) })),
        )
        .await;
    // Enrollment used this step's code; the next step's is accepted (±1 step) and unused.
    assert_eq!(status, 200, "{body}");
}
