//! Connection limits of the accept loop (`api::server`), probed over raw loopback TCP as a
//! slow-loris attacker would: idle and half-sent connections are closed at their timeouts,
//! the caps refuse one connection too many with an envelope, and status stays fast meanwhile.

use std::time::{Duration, Instant};

use sqlx::PgPool;
use tradeplane::{clock::Clock, config::ConnectionLimits};

use crate::support::{
    ADMIN_EMAIL, ADMIN_PASSWORD, TestApp, error_code, raw::RawConn, spawn_app, spawn_app_with,
    sse::SseClient, test_config,
};

async fn app_with(pool: PgPool, limits: ConnectionLimits) -> TestApp {
    let mut config = test_config();
    config.connections = limits;
    spawn_app_with(pool, config, Clock::system()).await
}

fn short_timeouts() -> ConnectionLimits {
    ConnectionLimits {
        header_read_timeout: Duration::from_millis(1000),
        idle_timeout: Duration::from_millis(2500),
        ..ConnectionLimits::default()
    }
}

/// `GET /api/system/status` answers, and within a second.
async fn status_is_fast(app: &TestApp) {
    let started = Instant::now();
    let (status, _) = app.system_status().await;
    assert_eq!(status, 200);
    let took = started.elapsed();
    assert!(took < Duration::from_secs(1), "status took {took:?}");
}

fn assert_around(took: Option<Duration>, expected: Duration, what: &str) {
    let took = took.unwrap_or_else(|| panic!("{what}: still open"));
    assert!(
        took >= expected.saturating_sub(Duration::from_millis(300))
            && took <= expected + Duration::from_millis(1200),
        "{what}: closed after {took:?}, expected about {expected:?}"
    );
}

#[sqlx::test]
async fn idle_and_half_sent_connections_close_at_their_timeouts(pool: PgPool) {
    let limits = short_timeouts();
    let app = app_with(pool, limits).await;

    // Many slow connections held at once, of every kind.
    let mut silent = Vec::new();
    let mut partial = Vec::new();
    for _ in 0..20 {
        silent.push(RawConn::open(&app).await);
        let mut conn = RawConn::open(&app).await;
        conn.send("GET /api/system/status HTTP/1.1\r\nhost: localhost\r\n")
            .await;
        partial.push(conn);
    }
    // A trickling head: a byte now and then must not extend the header deadline.
    let mut trickle = RawConn::open(&app).await;
    trickle.send("G").await;
    let trickle_started = Instant::now();
    // Kept alive after a complete exchange, then idle.
    let mut kept = RawConn::open(&app).await;
    kept.send_get("/healthz").await;
    assert_eq!(kept.read_response().await.status, 200);
    let kept_idle_since = Instant::now();

    status_is_fast(&app).await;
    for byte in "ET /healthz HTTP/1.1\r\nx".chars() {
        trickle.send(&byte.to_string()).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        if trickle_started.elapsed() > limits.header_read_timeout - Duration::from_millis(200) {
            break;
        }
    }
    let took = trickle.closed_within(Duration::from_secs(3)).await;
    assert_around(
        took.map(|_| trickle_started.elapsed()),
        limits.header_read_timeout,
        "a trickling head",
    );

    // The half-sent heads went at the header timeout, long before the idle one.
    for conn in &mut partial {
        let took = conn.closed_within(Duration::from_millis(500)).await;
        assert!(
            took.is_some(),
            "a half-sent head outlived the header timeout"
        );
    }
    status_is_fast(&app).await;
    // The silent ones are idle: they live until the idle timeout, then go.
    for conn in &mut silent[..1] {
        assert!(
            conn.closed_within(Duration::from_millis(100))
                .await
                .is_none(),
            "a silent connection was closed at the header timeout, not the idle one"
        );
    }
    let took = kept.closed_within(Duration::from_secs(5)).await;
    assert_around(
        took.map(|_| kept_idle_since.elapsed()),
        limits.idle_timeout,
        "an idle kept-alive connection",
    );
    for conn in &mut silent {
        assert!(
            conn.closed_within(Duration::from_secs(2)).await.is_some(),
            "a silent connection outlived the idle timeout"
        );
    }
    status_is_fast(&app).await;
}

/// Opens `n` connections the server has admitted (each answered one request).
async fn admitted(app: &TestApp, n: usize) -> Vec<RawConn> {
    let mut conns = Vec::new();
    for _ in 0..n {
        let mut conn = RawConn::open(app).await;
        conn.send_get("/healthz").await;
        assert_eq!(conn.read_response().await.status, 200);
        conns.push(conn);
    }
    conns
}

/// The next connection is answered `RATE_LIMITED` with a fix and a trace id, then closed.
async fn assert_refused(app: &TestApp) {
    let mut conn = RawConn::open(app).await;
    conn.send_get("/healthz").await;
    let response = conn.read_response().await;
    assert_eq!(response.status, 429, "{}", response.body);
    assert_eq!(error_code(&response.body), "RATE_LIMITED");
    assert!(
        response.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("connections")
    );
    assert!(
        !response.body["error"]["suggested_fix"]
            .as_str()
            .unwrap()
            .is_empty()
    );
    let trace_id = response.body["trace_id"].as_str().unwrap();
    assert_eq!(trace_id.len(), 32, "{trace_id}");
    assert_eq!(response.header("x-trace-id"), Some(trace_id));
    assert_eq!(response.header("retry-after"), Some("1"));
    assert!(
        conn.closed_within(Duration::from_secs(1)).await.is_some(),
        "a refused connection stays open"
    );
}

/// Once one connection closes, a new one is admitted again (the server notices the close
/// when it reads, so allow it a moment).
async fn admitted_again(app: &TestApp) {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let mut conn = RawConn::open(app).await;
        conn.send_get("/healthz").await;
        let status = conn.read_response().await.status;
        if status == 200 {
            return;
        }
        assert!(Instant::now() < deadline, "still refused after a close");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[sqlx::test]
async fn the_per_address_cap_refuses_one_more_clearly(pool: PgPool) {
    let app = app_with(
        pool,
        ConnectionLimits {
            max_per_address: 3,
            ..ConnectionLimits::default()
        },
    )
    .await;
    let mut held = admitted(&app, 3).await;
    assert_refused(&app).await;
    assert_refused(&app).await;
    // Ordinary clients (reqwest pools its connections) are refused too while the cap is full.
    let (status, body) = app.system_status().await;
    assert_eq!((status, error_code(&body)), (429, "RATE_LIMITED"));
    drop(held.pop());
    admitted_again(&app).await;
}

#[sqlx::test]
async fn the_global_cap_refuses_one_more_clearly(pool: PgPool) {
    let app = app_with(
        pool,
        ConnectionLimits {
            max_connections: 2,
            ..ConnectionLimits::default()
        },
    )
    .await;
    let mut held = admitted(&app, 2).await;
    assert_refused(&app).await;
    drop(held.pop());
    admitted_again(&app).await;
}

/// Opens a stream with `client`: its status, and the envelope when refused.
async fn try_stream(app: &TestApp, client: &reqwest::Client) -> (u16, serde_json::Value) {
    let res = client
        .get(app.url("/api/events/stream"))
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    if status == 200 {
        return (status, serde_json::Value::Null);
    }
    (status, res.json().await.unwrap())
}

#[sqlx::test]
async fn a_session_holds_at_most_four_event_streams(pool: PgPool) {
    let app = spawn_app(pool).await.signed_in_as_admin().await;
    let url = app.url("/api/events/stream");
    let mut open = Vec::new();
    for _ in 0..4 {
        open.push(SseClient::open(&app.client, url.clone(), None).await);
    }
    let (status, body) = try_stream(&app, &app.client).await;
    assert_eq!((status, error_code(&body)), (429, "RATE_LIMITED"), "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("4 open event streams")
    );
    assert!(!body["error"]["suggested_fix"].as_str().unwrap().is_empty());
    assert_eq!(body["trace_id"].as_str().unwrap().len(), 32);

    // The cap is per session: the same user signed in elsewhere has its own.
    let elsewhere = app.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(try_stream(&app, &elsewhere.client).await.0, 200);

    // A closed stream frees its slot (once the server notices the close).
    drop(open.pop());
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let (status, body) = try_stream(&app, &app.client).await;
        if status == 200 {
            break;
        }
        assert_eq!(error_code(&body), "RATE_LIMITED");
        assert!(
            Instant::now() < deadline,
            "the slot of a closed stream was not freed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Request heads hyper cannot parse are answered as the app answers: an envelope with its
/// code, fix and trace id, the security headers, then the connection closes. A good request
/// on a kept-alive connection first is answered normally. (Oversized heads, 431, are covered
/// by `head_refusal`'s unit tests: the server closes before reading all of them, so the client
/// may see a reset instead of the answer.)
#[sqlx::test]
async fn unparsable_request_heads_get_an_envelope_not_a_bare_status(pool: PgPool) {
    let app = app_with(pool, short_timeouts()).await;
    let cases: [(&str, u16, &str); 3] = [
        (
            "GET /api/system/status HTTP/1.1\r\nhost: localhost\r\nx-note: a\u{1}b\r\n\r\n",
            400,
            "MALFORMED_REQUEST",
        ),
        (
            "GET /api/system/status HTTP/1.1\r\nhost: localhost\r\nx bad name: 1\r\n\r\n",
            400,
            "MALFORMED_REQUEST",
        ),
        (
            "G\u{1}T / HTTP/1.1\r\nhost: localhost\r\n\r\n",
            400,
            "MALFORMED_REQUEST",
        ),
    ];
    for (request, status, code) in cases {
        let mut conn = RawConn::open(&app).await;
        conn.send_get("/healthz").await;
        assert_eq!(conn.read_response().await.status, 200);
        conn.send(request).await;
        let response = conn.read_response().await;
        assert_eq!(response.status, status, "{request:.60}: {}", response.body);
        assert_eq!(error_code(&response.body), code);
        assert!(
            !response.body["error"]["suggested_fix"]
                .as_str()
                .unwrap()
                .is_empty()
        );
        let trace_id = response.body["trace_id"].as_str().unwrap();
        assert_eq!(trace_id.len(), 32, "{trace_id}");
        assert_eq!(response.header("x-trace-id"), Some(trace_id));
        assert_eq!(response.header("x-content-type-options"), Some("nosniff"));
        assert!(
            conn.closed_within(Duration::from_secs(1)).await.is_some(),
            "{code}: the connection stays open"
        );
    }
    status_is_fast(&app).await;
}
