//! First run (issue 20 part 7): `GET /api/auth/first-run` answers, without a session, whether
//! the first admin is still to be created; `POST /api/auth/register` creates it only then.

use serde_json::json;
use sqlx::PgPool;

use crate::support::{ADMIN_PASSWORD, error_code, spawn_app};

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
