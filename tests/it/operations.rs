//! `/healthz`, `/readyz`, `/metrics`.

use sqlx::PgPool;

use crate::support::{error_code, spawn_app};

#[sqlx::test]
async fn ready_when_database_is_up_and_migrated(pool: PgPool) {
    let app = spawn_app(pool).await;
    let (status, body) = app.readyz().await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["ready"], true);
    assert_eq!(body["migrations"], "current");
}

#[sqlx::test]
async fn not_ready_with_a_pending_migration(pool: PgPool) {
    let latest: i64 = sqlx::query_scalar("SELECT max(version) FROM _sqlx_migrations")
        .fetch_one(&pool)
        .await
        .unwrap();
    sqlx::query("DELETE FROM _sqlx_migrations WHERE version = $1")
        .bind(latest)
        .execute(&pool)
        .await
        .unwrap();
    let app = spawn_app(pool).await;
    let (status, body) = app.readyz().await;
    assert_eq!(status, 503);
    assert_eq!(error_code(&body), "DATABASE_UNAVAILABLE");
    assert_eq!(body["error"]["details"]["pending_migrations"][0], latest);
}

#[sqlx::test]
async fn not_ready_when_the_database_is_gone(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    pool.close().await;
    let (status, body) = app.readyz().await;
    assert_eq!(status, 503);
    assert_eq!(error_code(&body), "DATABASE_UNAVAILABLE");
    // Liveness does not depend on the database.
    let (status, _) = app.healthz().await;
    assert_eq!(status, 200);
}

#[sqlx::test]
async fn metrics_count_requests_by_route_and_status(pool: PgPool) {
    let app = spawn_app(pool).await.signed_in_as_admin().await;
    for _ in 0..3 {
        app.http("GET", "/api/errors").send().await.unwrap();
    }
    app.client
        .delete(app.url("/api/errors"))
        .send()
        .await
        .unwrap();
    let res = app.http("GET", "/metrics").send().await.unwrap();
    assert_eq!(res.status(), 200);
    let text = res.text().await.unwrap();
    // The recorder is process-wide and other tests run in parallel: check presence, not totals.
    let count_line = text
        .lines()
        .find(|l| {
            l.starts_with("http_requests_total{")
                && l.contains("route=\"/api/errors\"")
                && l.contains("status=\"200\"")
                && l.contains("method=\"GET\"")
        })
        .expect("request counter for /api/errors");
    let count: f64 = count_line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(count >= 3.0, "{count_line}");
    assert!(
        text.contains("route=\"/api/errors\",status=\"405\"") || text.contains("status=\"405\"")
    );
    assert!(text.contains("http_request_duration_seconds_bucket{"));
}
