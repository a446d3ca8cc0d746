//! SPEC §1: the envelope on every response, the matching status codes, and trace ids.

use sqlx::PgPool;

use crate::support::{envelope, error_code, spawn_app};

#[sqlx::test]
async fn normal_get_is_enveloped(pool: PgPool) {
    let app = spawn_app(pool).await.signed_in_as_admin().await;
    let (status, body) = app.healthz().await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "up");
}

#[sqlx::test]
async fn unknown_api_route_is_route_not_found(pool: PgPool) {
    let app = spawn_app(pool).await.signed_in_as_admin().await;
    let (status, body) = app.call("GET", "/api/no/such/thing", None).await;
    assert_eq!(status, 404);
    assert_eq!(error_code(&body), "ROUTE_NOT_FOUND");
    let (status, body) = app.call("POST", "/api/nope", None).await;
    assert_eq!(status, 404);
    assert_eq!(error_code(&body), "ROUTE_NOT_FOUND");
}

#[sqlx::test]
async fn wrong_method_is_405_with_allow(pool: PgPool) {
    let app = spawn_app(pool).await.signed_in_as_admin().await;
    let res = app
        .client
        .delete(app.url("/api/system/events"))
        .send()
        .await
        .unwrap();
    let allow = res
        .headers()
        .get("allow")
        .map(|v| v.to_str().unwrap().to_owned());
    let (status, body) = envelope(res).await;
    assert_eq!(status, 405);
    assert_eq!(error_code(&body), "METHOD_NOT_ALLOWED");
    assert!(allow.unwrap_or_default().contains("GET"));
}

#[sqlx::test]
async fn malformed_json_is_400(pool: PgPool) {
    let app = spawn_app(pool).await.signed_in_as_admin().await;
    let res = app
        .client
        .post(app.url("/api/test/echo"))
        .header("content-type", "application/json")
        .body("{\"name\": \"a\", ")
        .send()
        .await
        .unwrap();
    let (status, body) = envelope(res).await;
    assert_eq!(status, 400);
    assert_eq!(error_code(&body), "MALFORMED_JSON");
}

#[sqlx::test]
async fn wrong_shape_is_validation_failed(pool: PgPool) {
    let app = spawn_app(pool).await.signed_in_as_admin().await;
    let res = app
        .client
        .post(app.url("/api/test/echo"))
        .json(&serde_json::json!({ "name": "a", "count": -1 }))
        .send()
        .await
        .unwrap();
    let (status, body) = envelope(res).await;
    assert_eq!(status, 422);
    assert_eq!(error_code(&body), "VALIDATION_FAILED");
    assert!(
        body["error"]["details"]["reason"]
            .as_str()
            .unwrap()
            .contains("count")
    );
}

#[sqlx::test]
async fn good_json_is_accepted(pool: PgPool) {
    let app = spawn_app(pool).await.signed_in_as_admin().await;
    let res = app
        .client
        .post(app.url("/api/test/echo"))
        .json(&serde_json::json!({ "name": "a", "count": 3 }))
        .send()
        .await
        .unwrap();
    let (status, body) = envelope(res).await;
    assert_eq!(status, 200);
    assert_eq!(body["count"], 3);
}

#[sqlx::test]
async fn wrong_content_type_is_415(pool: PgPool) {
    let app = spawn_app(pool).await.signed_in_as_admin().await;
    let res = app
        .client
        .post(app.url("/api/test/echo"))
        .header("content-type", "text/plain")
        .body("{\"name\":\"a\",\"count\":1}")
        .send()
        .await
        .unwrap();
    let (status, body) = envelope(res).await;
    assert_eq!(status, 415);
    assert_eq!(error_code(&body), "UNSUPPORTED_MEDIA_TYPE");
}

#[sqlx::test]
async fn oversized_body_is_413(pool: PgPool) {
    let app = spawn_app(pool).await.signed_in_as_admin().await;
    let big = format!(
        "{{\"name\":\"{}\",\"count\":1}}",
        "x".repeat(tradeplane::api::BODY_LIMIT_BYTES + 1)
    );
    // With a Content-Length the limit layer refuses before reading the body.
    let res = app
        .client
        .post(app.url("/api/test/echo"))
        .header("content-type", "application/json")
        .body(big.clone())
        .send()
        .await
        .unwrap();
    let (status, body) = envelope(res).await;
    assert_eq!(status, 413);
    assert_eq!(error_code(&body), "PAYLOAD_TOO_LARGE");

    // Streamed without a Content-Length, the JSON extractor hits the limit while reading.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = big
        .into_bytes()
        .chunks(64 * 1024)
        .map(|c| Ok(c.to_vec()))
        .collect();
    let res = app
        .client
        .post(app.url("/api/test/echo"))
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await
        .unwrap();
    let (status, body) = envelope(res).await;
    assert_eq!(status, 413);
    assert_eq!(error_code(&body), "PAYLOAD_TOO_LARGE");
}

#[sqlx::test]
async fn panic_is_500_internal_and_the_server_lives(pool: PgPool) {
    let app = spawn_app(pool).await.signed_in_as_admin().await;
    let (status, body) = app.call("GET", "/api/test/panic", None).await;
    assert_eq!(status, 500);
    assert_eq!(error_code(&body), "INTERNAL");
    // The panic message stays in the logs, not in the response.
    assert!(!body.to_string().contains("index out of bounds"));
    let (status, _) = app.healthz().await;
    assert_eq!(status, 200);
}

#[sqlx::test]
async fn incoming_traceparent_is_honoured(pool: PgPool) {
    let app = spawn_app(pool).await.signed_in_as_admin().await;
    let res = app
        .client
        .get(app.url("/api/no/such/thing"))
        .header(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )
        .send()
        .await
        .unwrap();
    let (_, body) = envelope(res).await;
    assert_eq!(body["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
}

#[sqlx::test]
async fn malformed_traceparent_gets_a_fresh_id(pool: PgPool) {
    let app = spawn_app(pool).await.signed_in_as_admin().await;
    let mut seen = Vec::new();
    for _ in 0..2 {
        let res = app
            .client
            .get(app.url("/healthz"))
            .header("traceparent", "00-zzzz-00f067aa0ba902b7-01")
            .send()
            .await
            .unwrap();
        let (_, body) = envelope(res).await;
        seen.push(body["trace_id"].as_str().unwrap().to_owned());
    }
    assert_ne!(seen[0], seen[1]);
}

#[sqlx::test]
async fn non_api_paths_serve_the_web_app(pool: PgPool) {
    let app = spawn_app(pool).await.signed_in_as_admin().await;
    let res = app
        .http("GET", "/bots/some-client-side-route")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let res = app.client.post(app.url("/")).send().await.unwrap();
    let (status, body) = envelope(res).await;
    assert_eq!(status, 405);
    assert_eq!(error_code(&body), "METHOD_NOT_ALLOWED");
}

#[sqlx::test]
async fn error_catalog_is_served(pool: PgPool) {
    let app = spawn_app(pool).await.signed_in_as_admin().await;
    let (status, body) = app.error_catalog().await;
    assert_eq!(status, 200);
    let errors = body["errors"].as_array().unwrap();
    assert_eq!(errors.len(), tradeplane::error_code::ErrorCode::ALL.len());
    let internal = errors
        .iter()
        .find(|e| e["code"] == "INTERNAL")
        .expect("INTERNAL listed");
    assert_eq!(internal["http_status"], 500);
    assert!(
        errors
            .iter()
            .all(|e| e["suggested_fix"].as_str().is_some_and(|s| !s.is_empty()))
    );
}
