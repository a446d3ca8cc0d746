//! First run (issue 20 part 7): `GET /api/auth/first-run` answers, without a session, whether
//! the first admin is still to be created; `POST /api/auth/register` creates it only then.

use serde_json::json;
use sqlx::PgPool;

use crate::support::{
    ADMIN_PASSWORD, error_code, requests::send, spawn_app, spawn_app_with, test_config,
};

#[sqlx::test]
async fn first_run_is_true_until_the_first_admin_exists(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let (code, body) = app.call("GET", "/api/auth/first-run", None).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["needs_first_admin"], true, "{body}");

    let (code, body) = app
        .register(json!({ "email": "first@example.com", "password": ADMIN_PASSWORD }))
        .await;
    assert_eq!(code, 201, "{body}");
    assert_eq!(body["user"]["role"], "admin", "{body}");

    let (code, body) = app.call("GET", "/api/auth/first-run", None).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["needs_first_admin"], false, "{body}");

    // Registration is closed from now on, and the answer says what to do instead.
    let (code, body) = app
        .register(json!({ "email": "second@example.com", "password": ADMIN_PASSWORD }))
        .await;
    assert_eq!((code, error_code(&body)), (403, "FORBIDDEN"), "{body}");
    let users: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(users, 1);
}

/// DNS rebinding: before any user exists, a page of another site whose name resolves to this
/// server would send `Host: its-name` (and a matching `Origin`). The first admin is created
/// only through an IP address, `localhost`, or a listed host; nothing is created otherwise.
#[sqlx::test]
async fn the_first_admin_is_not_created_through_an_unlisted_host_name(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let body = json!({ "email": "first@example.com", "password": ADMIN_PASSWORD });
    let (code, answer) = send(
        app.http("POST", "/api/auth/register")
            .header("host", "rebind.attacker.example:8080")
            .header("origin", "http://rebind.attacker.example:8080")
            .json(&body),
    )
    .await;
    assert_eq!((code, error_code(&answer)), (403, "FORBIDDEN"), "{answer}");
    assert!(
        answer["error"]["suggested_fix"]
            .as_str()
            .unwrap()
            .contains("TRADEPLANE_ALLOWED_HOSTS"),
        "{answer}"
    );
    let users: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(users, 0);
    let (code, answer) = app.call("GET", "/api/auth/first-run", None).await;
    assert_eq!(
        (code, answer["needs_first_admin"].as_bool()),
        (200, Some(true))
    );

    // localhost (the harness calls its IP address otherwise) creates it.
    let (code, answer) = send(
        app.http("POST", "/api/auth/register")
            .header("host", format!("localhost:{}", app.addr.port()))
            .json(&body),
    )
    .await;
    assert_eq!(code, 201, "{answer}");
}

/// A host listed in `TRADEPLANE_ALLOWED_HOSTS` (a desk behind its own DNS name) may.
#[sqlx::test]
async fn a_listed_host_name_creates_the_first_admin(pool: PgPool) {
    let config = tradeplane::config::Config {
        auth: tradeplane::config::AuthConfig {
            allowed_hosts: vec!["desk.example.com".into()],
            ..test_config().auth
        },
        ..test_config()
    };
    let app = spawn_app_with(pool, config, tradeplane::clock::Clock::system()).await;
    let (code, answer) = send(
        app.http("POST", "/api/auth/register")
            .header("host", "Desk.Example.com")
            .json(&json!({ "email": "first@example.com", "password": ADMIN_PASSWORD })),
    )
    .await;
    assert_eq!(code, 201, "{answer}");
}
