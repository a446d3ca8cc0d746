//! How the Observatory's files are delivered (`api::web`): pre-compressed variants to clients
//! that accept them, hashed assets cached for a year and never answered with the app's HTML,
//! the app's HTML revalidated on every load.

use sqlx::PgPool;
use tradeplane::clock::Clock;

use crate::support::{TestApp, raw::RawConn, raw::RawResponse, spawn_app_with, test_config};

const JS: &str = "console.log('the Observatory');\n";

/// A built web dir: index.html and one hashed asset, each with `.br` and `.gz` beside it
/// (their bytes only need to differ: the server never decodes them).
fn web_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let assets = dir.path().join("assets");
    std::fs::create_dir(&assets).unwrap();
    let write = |path: std::path::PathBuf, body: &str| std::fs::write(path, body).unwrap();
    write(
        dir.path().join("index.html"),
        "<!doctype html><title>app</title>",
    );
    write(dir.path().join("index.html.br"), "BR-HTML");
    write(dir.path().join("index.html.gz"), "GZ-HTML");
    write(assets.join("index-Ab12Cd34.js"), JS);
    write(assets.join("index-Ab12Cd34.js.br"), "BR-JS");
    write(assets.join("index-Ab12Cd34.js.gz"), "GZ-JS");
    dir
}

async fn app(pool: PgPool, dir: &tempfile::TempDir) -> TestApp {
    let mut config = test_config();
    config.web_dir = dir.path().to_owned();
    spawn_app_with(pool, config, Clock::system()).await
}

async fn get(app: &TestApp, path: &str, accept_encoding: Option<&str>) -> RawResponse {
    let mut conn = RawConn::open(app).await;
    let encoding = accept_encoding
        .map(|e| format!("accept-encoding: {e}\r\n"))
        .unwrap_or_default();
    conn.send(&format!(
        "GET {path} HTTP/1.1\r\nhost: localhost\r\n{encoding}\r\n"
    ))
    .await;
    conn.read_response().await
}

#[sqlx::test]
async fn assets_are_sent_compressed_and_cached_for_a_year(pool: PgPool) {
    let dir = web_dir();
    let app = app(pool, &dir).await;
    let asset = "/assets/index-Ab12Cd34.js";

    for (accept, encoding, length) in [
        (Some("gzip, deflate, br"), Some("br"), "BR-JS".len()),
        (Some("gzip"), Some("gzip"), "GZ-JS".len()),
        (None, None, JS.len()),
    ] {
        let r = get(&app, asset, accept).await;
        assert_eq!(r.status, 200, "{accept:?}");
        assert_eq!(r.header("content-encoding"), encoding, "{accept:?}");
        assert_eq!(
            r.header("content-length"),
            Some(length.to_string().as_str())
        );
        assert_eq!(
            r.header("cache-control"),
            Some("public, max-age=31536000, immutable")
        );
        assert_eq!(r.header("vary"), Some("accept-encoding"));
    }

    // A hash that does not exist (an old build's) is a 404 that is not cached, not the HTML.
    let r = get(&app, "/assets/index-Old00000.js", Some("br")).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_ne!(r.header("content-type"), Some("text/html"));
}

#[sqlx::test]
async fn the_apps_html_is_revalidated_on_every_load(pool: PgPool) {
    let dir = web_dir();
    let app = app(pool, &dir).await;
    for path in ["/", "/bots/01a23a66-0000-7000-8000-000000000001"] {
        let r = get(&app, path, Some("br")).await;
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.header("cache-control"), Some("no-cache"), "{path}");
        assert_eq!(r.header("content-encoding"), Some("br"), "{path}");
        assert!(
            r.header("content-type").unwrap().starts_with("text/html"),
            "{path}"
        );
    }
}
