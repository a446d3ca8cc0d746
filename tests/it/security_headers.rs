//! Security headers on every response (issue 21 part 5): the web app, the API docs, API
//! answers and errors from every layer; HSTS only when a trusted proxy says the client used https.

use sqlx::PgPool;
use tradeplane::{api::security_headers, clock::Clock};

use crate::support::{spawn_app, spawn_app_with, test_config};

const COMMON: &[(&str, &str)] = &[
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "no-referrer"),
    ("cross-origin-opener-policy", "same-origin"),
];

#[sqlx::test]
async fn every_surface_carries_its_policy_and_no_hsts_over_plain_http(pool: PgPool) {
    let app = spawn_app(pool).await;
    for (method, path, csp) in [
        ("GET", "/", security_headers::WEB_CSP),
        ("GET", "/bots/some/deep/link", security_headers::WEB_CSP),
        ("GET", "/api/docs/", security_headers::DOCS_CSP),
        ("GET", "/api", security_headers::API_CSP),
        ("GET", "/api/auth/me", security_headers::API_CSP),
        ("GET", "/api/no-such-route", security_headers::API_CSP),
        ("DELETE", "/api/system/status", security_headers::API_CSP),
        ("GET", "/api/openapi.json", security_headers::API_CSP),
        ("GET", "/healthz", security_headers::API_CSP),
        ("GET", "/metrics", security_headers::API_CSP),
    ] {
        let res = app.http(method, path).send().await.unwrap();
        let headers = res.headers();
        assert_eq!(headers["content-security-policy"], csp, "{method} {path}");
        assert!(csp.contains("frame-ancestors 'none'"));
        for (name, value) in COMMON {
            assert_eq!(headers[*name], *value, "{method} {path} {name}");
        }
        assert!(
            headers.contains_key("permissions-policy"),
            "{method} {path}"
        );
        assert!(
            !headers.contains_key("strict-transport-security"),
            "{method} {path}: no HSTS over plain http"
        );
    }
}

#[sqlx::test]
async fn hsts_only_when_a_trusted_proxy_forwards_https(pool: PgPool) {
    let mut config = test_config();
    config.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    let app = spawn_app_with(pool, config, Clock::system()).await;
    let res = app
        .http("GET", "/api/system/status")
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.headers()["strict-transport-security"],
        security_headers::HSTS
    );
    let res = app
        .http("GET", "/")
        .header("x-forwarded-proto", "http")
        .send()
        .await
        .unwrap();
    assert!(!res.headers().contains_key("strict-transport-security"));
}

#[sqlx::test]
async fn an_untrusted_peer_cannot_ask_for_hsts(pool: PgPool) {
    let app = spawn_app(pool).await;
    let res = app
        .http("GET", "/")
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .unwrap();
    assert!(!res.headers().contains_key("strict-transport-security"));
}
