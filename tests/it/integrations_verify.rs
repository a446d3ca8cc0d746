//! verify() per provider against wiremock: ok, the vendor's real invalid-key shape, rate limited,
//! timeout and 5xx each map to the right category and code and write one usage event per call.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use crate::support::{FAKE_KEY, env_for};
use serde_json::{Value, json};
use tradeplane::clock::Clock;
use tradeplane::domain::{
    contracts::{Contract, ContractMonth},
    instruments::Symbol,
    provider::Outcome,
    timeframe::Timeframe,
};
use tradeplane::integrations::{
    Integrations,
    providers::{self, VerifyReport},
    usage::MemoryUsageSink,
};
use tradeplane::store::usage_events::UsageStatus;
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{any, header, method, path},
};

struct Case {
    id: &'static str,
    method: &'static str,
    path: &'static str,
    ok_body: Value,
    /// The vendor's real answer to a bad key.
    invalid: ResponseTemplate,
    invalid_outcome: Outcome,
}

fn json_reply(status: u16, body: Value) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(body)
}

fn cases() -> Vec<Case> {
    let discord_path: &'static str =
        Box::leak(format!("/api/webhooks/123/{FAKE_KEY}").into_boxed_str());
    vec![
        Case {
            id: "databento",
            method: "GET",
            path: "/v0/metadata.list_datasets",
            ok_body: json!(["GLBX.MDP3", "XNAS.ITCH"]),
            invalid: json_reply(401, json!({"detail": "Authentication failed."})),
            invalid_outcome: Outcome::InvalidCredentials,
        },
        Case {
            id: "polygon",
            method: "GET",
            path: "/v1/marketstatus/now",
            ok_body: json!({"market": "open", "serverTime": "2026-11-26T09:00:00-05:00", "earlyHours": false, "afterHours": false}),
            invalid: json_reply(
                401,
                json!({"status": "ERROR", "request_id": "r1", "error": "Unknown API Key"}),
            ),
            invalid_outcome: Outcome::InvalidCredentials,
        },
        Case {
            id: "finnhub",
            method: "GET",
            path: "/stock/market-status",
            ok_body: json!({"exchange": "US", "holiday": null, "isOpen": false, "session": "closed", "t": 1, "timezone": "America/New_York"}),
            invalid: json_reply(401, json!({"error": "Invalid API key."})),
            invalid_outcome: Outcome::InvalidCredentials,
        },
        // Alpha Vantage serves data to wrong keys: the best it can say is unverifiable.
        Case {
            id: "alphavantage",
            method: "GET",
            path: "/query",
            ok_body: json!({"Global Quote": {"01. symbol": "IBM", "05. price": "210.00"}}),
            invalid: json_reply(200, json!({"Global Quote": {"01. symbol": "IBM"}})),
            invalid_outcome: Outcome::Unverifiable,
        },
        Case {
            id: "fmp",
            method: "GET",
            path: "/stable/quote",
            ok_body: json!([{"symbol": "AAPL", "price": 230.1}]),
            invalid: json_reply(
                200,
                json!({"Error Message": "Invalid API KEY. Please retry or visit our documentation to create one FREE https://financialmodelingprep.com/developer/docs"}),
            ),
            invalid_outcome: Outcome::InvalidCredentials,
        },
        Case {
            id: "fred",
            method: "GET",
            path: "/fred/series",
            ok_body: json!({"realtime_start": "2026-11-26", "seriess": [{"id": "GNPCA", "title": "Real GNP"}]}),
            invalid: json_reply(
                400,
                json!({"error_code": 400, "error_message": "Bad Request.  The value for variable api_key is not registered.  Read https://fred.stlouisfed.org/docs/api/api_key.html for more information."}),
            ),
            invalid_outcome: Outcome::InvalidCredentials,
        },
        Case {
            id: "openai",
            method: "GET",
            path: "/models",
            ok_body: json!({"object": "list", "data": [{"id": "gpt-4o", "object": "model"}]}),
            invalid: json_reply(
                401,
                json!({"error": {"message": "Incorrect API key provided: FAKE***4242.", "type": "invalid_request_error", "param": null, "code": "invalid_api_key"}}),
            ),
            invalid_outcome: Outcome::InvalidCredentials,
        },
        Case {
            id: "groq",
            method: "GET",
            path: "/models",
            ok_body: json!({"object": "list", "data": [{"id": "llama-3.3-70b-versatile"}]}),
            invalid: json_reply(
                401,
                json!({"error": {"message": "Invalid API Key", "type": "invalid_request_error", "code": "invalid_api_key"}}),
            ),
            invalid_outcome: Outcome::InvalidCredentials,
        },
        Case {
            id: "anthropic",
            method: "GET",
            path: "/v1/models",
            ok_body: json!({"data": [{"type": "model", "id": "claude-sonnet-4-5", "display_name": "Claude"}], "has_more": true}),
            invalid: json_reply(
                401,
                json!({"type": "error", "error": {"type": "authentication_error", "message": "invalid x-api-key"}, "request_id": "req_1"}),
            ),
            invalid_outcome: Outcome::InvalidCredentials,
        },
        Case {
            id: "google_gemini",
            method: "GET",
            path: "/models",
            ok_body: json!({"models": [{"name": "models/gemini-2.5-flash"}], "nextPageToken": "x"}),
            invalid: json_reply(
                400,
                json!({"error": {"code": 400, "message": "API key not valid. Please pass a valid API key.", "status": "INVALID_ARGUMENT",
                "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID", "domain": "googleapis.com"}]}}),
            ),
            invalid_outcome: Outcome::InvalidCredentials,
        },
        Case {
            id: "xai",
            method: "GET",
            path: "/api-key",
            ok_body: json!({"redacted_api_key": "xai-***", "api_key_id": "k1", "team_blocked": false, "api_key_blocked": false, "api_key_disabled": false}),
            invalid: json_reply(
                400,
                json!({"code": "Client specified an invalid argument", "error": "Incorrect API key provided: FA***42. You can obtain an API key from https://console.x.ai."}),
            ),
            invalid_outcome: Outcome::InvalidCredentials,
        },
        Case {
            id: "openrouter",
            method: "GET",
            path: "/key",
            ok_body: json!({"data": {"label": "sk-or-v1-…", "limit": null, "limit_remaining": null, "usage": 0, "is_free_tier": true}}),
            invalid: json_reply(
                401,
                json!({"error": {"code": 401, "message": "No cookie auth credentials found"}}),
            ),
            invalid_outcome: Outcome::InvalidCredentials,
        },
        Case {
            id: "unusual_whales",
            method: "GET",
            path: "/api/stock/SPY/info",
            ok_body: json!({"data": {"ticker": "SPY", "full_name": "SPDR S&P 500"}}),
            invalid: json_reply(401, json!({"message": "Unauthorized"})),
            invalid_outcome: Outcome::InvalidCredentials,
        },
        Case {
            id: "discord",
            method: "GET",
            path: discord_path,
            ok_body: json!({"id": "123", "type": 1, "guild_id": "9", "channel_id": "8", "name": "tradeplane", "token": FAKE_KEY}),
            invalid: json_reply(
                401,
                json!({"message": "Invalid Webhook Token", "code": 50027}),
            ),
            invalid_outcome: Outcome::InvalidCredentials,
        },
    ]
}

pub async fn run_verify(
    id: &str,
    base: &str,
    timeout: Duration,
) -> (VerifyReport, MemoryUsageSink) {
    let sink = MemoryUsageSink::new();
    let integrations = Integrations::from_env(
        &env_for(id, base),
        Arc::new(sink.clone()),
        timeout,
        &Clock::system(),
    );
    let client = integrations.client(id).expect("configured");
    (providers::verify(&client).await, sink)
}

fn assert_clean(report: &VerifyReport, sink: &MemoryUsageSink) {
    assert!(!report.message.contains(FAKE_KEY), "{report:?}");
    for e in sink.events() {
        let text = serde_json::to_string(&e).unwrap();
        assert!(!text.contains(FAKE_KEY), "{text}");
        assert_eq!(e.status, UsageStatus::Verify);
        assert_eq!(e.trace_id.len(), 32);
    }
}

async fn check(case: &Case, reply: ResponseTemplate, outcome: Outcome, code: Option<&str>) {
    let server = MockServer::start().await;
    Mock::given(method(case.method))
        .and(path(case.path))
        .respond_with(reply)
        .mount(&server)
        .await;
    let (report, sink) = run_verify(case.id, &server.uri(), Duration::from_millis(400)).await;
    assert_eq!(report.outcome, outcome, "{}: {report:?}", case.id);
    assert_eq!(
        report.error_code.as_deref(),
        code,
        "{}: {report:?}",
        case.id
    );
    let events = sink.events();
    assert_eq!(events.len(), 1, "{}: one usage event", case.id);
    assert_eq!(events[0].provider_id, case.id);
    assert_eq!(events[0].error_code.as_deref(), code);
    assert_eq!(
        server.received_requests().await.unwrap().len(),
        1,
        "{}: never retried",
        case.id
    );
    assert_clean(&report, &sink);
}

#[tokio::test]
async fn single_call_providers_map_every_answer() {
    for case in cases() {
        let ok_outcome = if case.id == "alphavantage" {
            Outcome::Unverifiable
        } else {
            Outcome::Ok
        };
        let ok_code = if case.id == "alphavantage" {
            Some("UNVERIFIABLE")
        } else {
            None
        };
        check(
            &case,
            json_reply(200, case.ok_body.clone()),
            ok_outcome,
            ok_code,
        )
        .await;
        let invalid_code = match case.invalid_outcome {
            Outcome::InvalidCredentials => Some("INVALID_CREDENTIALS"),
            _ => Some("UNVERIFIABLE"),
        };
        check(
            &case,
            case.invalid.clone(),
            case.invalid_outcome,
            invalid_code,
        )
        .await;
        let limited = if case.id == "alphavantage" {
            json_reply(
                200,
                json!({"Information": "We have detected your API key as FAKE and our standard API rate limit is 25 requests per day."}),
            )
        } else {
            json_reply(429, json!({"message": "slow down"})).insert_header("retry-after", "30")
        };
        check(&case, limited, Outcome::RateLimited, Some("RATE_LIMITED")).await;
        let slow = json_reply(200, case.ok_body.clone()).set_delay(Duration::from_secs(2));
        check(&case, slow, Outcome::Unreachable, Some("TIMEOUT")).await;
        check(
            &case,
            json_reply(503, json!({"error": "upstream"})),
            Outcome::ProviderError,
            Some("PROVIDER_HTTP_5XX"),
        )
        .await;
    }
}

#[tokio::test]
async fn plan_limits_are_not_bad_keys() {
    let server = MockServer::start().await;
    Mock::given(path("/v1/marketstatus/now"))
        .respond_with(json_reply(403, json!({"status": "NOT_AUTHORIZED", "request_id": "r", "message": "Your plan doesn't include this data timeframe."})))
        .mount(&server).await;
    let (report, _) = run_verify("polygon", &server.uri(), Duration::from_secs(2)).await;
    assert_eq!(report.outcome, Outcome::InsufficientPlan);
    let server = MockServer::start().await;
    Mock::given(path("/models"))
        .respond_with(json_reply(429, json!({"error": {"message": "You exceeded your current quota", "type": "insufficient_quota", "code": "insufficient_quota"}})))
        .mount(&server).await;
    let (report, _) = run_verify("openai", &server.uri(), Duration::from_secs(2)).await;
    assert_eq!(report.outcome, Outcome::InsufficientPlan);
    let server = MockServer::start().await;
    Mock::given(path("/api-key"))
        .respond_with(json_reply(
            200,
            json!({"api_key_id": "k", "api_key_blocked": true}),
        ))
        .mount(&server)
        .await;
    let (report, _) = run_verify("xai", &server.uri(), Duration::from_secs(2)).await;
    assert_eq!(report.outcome, Outcome::InvalidCredentials);
}

fn ironbeam_ok(server_ok: bool) -> Vec<Mock> {
    vec![
        Mock::given(method("POST")).and(path("/auth"))
            .respond_with(json_reply(200, json!({"status": "OK", "message": "OK", "token": "tok-ironbeam-1"}))),
        Mock::given(method("GET")).and(path("/info/trader")).and(header("authorization", "Bearer tok-ironbeam-1"))
            .respond_with(json_reply(200, json!({"status": "OK", "accounts": ["51234"], "isLive": !server_ok, "traderId": "T1"}))),
        Mock::given(method("POST")).and(path("/logout"))
            .respond_with(json_reply(200, json!({"status": "OK", "message": "OK"}))).expect(1),
    ]
}

#[tokio::test]
async fn ironbeam_logs_in_reads_one_account_call_and_logs_out() {
    let server = MockServer::start().await;
    for m in ironbeam_ok(true) {
        m.mount(&server).await;
    }
    let (report, sink) = run_verify("ironbeam", &server.uri(), Duration::from_secs(2)).await;
    assert_eq!(report.outcome, Outcome::Ok, "{report:?}");
    let actions: Vec<_> = sink.events().iter().map(|e| e.action.clone()).collect();
    assert_eq!(
        actions,
        ["verify.auth", "verify.info_trader", "verify.logout"]
    );
    assert_clean(&report, &sink);
    server.verify().await;

    // A live account under a demo configuration is caught, and the session still ends.
    let server = MockServer::start().await;
    for m in ironbeam_ok(false) {
        m.mount(&server).await;
    }
    let (report, _) = run_verify("ironbeam", &server.uri(), Duration::from_secs(2)).await;
    assert_eq!(report.error_code.as_deref(), Some("ENVIRONMENT_MISMATCH"));
    server.verify().await;

    for (reply, outcome, code) in [
        (
            json_reply(
                401,
                json!({"status": "ERROR", "message": "Unauthorized", "error": "Invalid credentials"}),
            ),
            Outcome::InvalidCredentials,
            "INVALID_CREDENTIALS",
        ),
        (
            json_reply(
                429,
                json!({"status": "ERROR", "error": "Too many requests"}),
            ),
            Outcome::RateLimited,
            "RATE_LIMITED",
        ),
        (
            json_reply(200, json!({})).set_delay(Duration::from_secs(2)),
            Outcome::Unreachable,
            "TIMEOUT",
        ),
        (
            json_reply(500, json!({"status": "ERROR"})),
            Outcome::ProviderError,
            "PROVIDER_HTTP_5XX",
        ),
    ] {
        let server = MockServer::start().await;
        Mock::given(any()).respond_with(reply).mount(&server).await;
        let (report, sink) =
            run_verify("ironbeam", &server.uri(), Duration::from_millis(400)).await;
        assert_eq!(
            (report.outcome, report.error_code.as_deref()),
            (outcome, Some(code))
        );
        assert_eq!(sink.events().len(), 1, "a failed login is the only call");
        assert_clean(&report, &sink);
    }
}

#[tokio::test]
async fn tradovate_maps_login_answers_and_reuses_its_token() {
    let server = MockServer::start().await;
    Mock::given(method("POST")).and(path("/auth/accesstokenrequest"))
        .respond_with(json_reply(200, json!({"accessToken": "tok-tv-1", "mdAccessToken": "md", "expirationTime": (crate::support::now() + chrono::Duration::minutes(80)).to_rfc3339(), "userId": 7, "name": "u", "hasLive": false})))
        .expect(1)
        .mount(&server).await;
    Mock::given(method("GET"))
        .and(path("/account/list"))
        .respond_with(json_reply(
            200,
            json!([{"id": 1, "name": "DEMO123", "active": true}]),
        ))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/auth/me"))
        .and(header("authorization", "Bearer tok-tv-1"))
        .respond_with(json_reply(200, json!({"userId": 7, "name": "u"})))
        .expect(1)
        .mount(&server)
        .await;
    let sink = MemoryUsageSink::new();
    let integrations = Integrations::from_env(
        &env_for("tradovate", &server.uri()),
        Arc::new(sink.clone()),
        Duration::from_secs(2),
        &Clock::system(),
    );
    let client = integrations.client("tradovate").unwrap();
    assert_eq!(providers::verify(&client).await.outcome, Outcome::Ok);
    // The second verify reuses the cached token: no second login.
    assert_eq!(providers::verify(&client).await.outcome, Outcome::Ok);
    let actions: Vec<_> = sink.events().iter().map(|e| e.action.clone()).collect();
    assert_eq!(
        actions,
        [
            "verify.accesstokenrequest",
            "verify.account_list",
            "verify.auth_me"
        ]
    );
    server.verify().await;

    for (reply, outcome, code) in [
        (
            json_reply(
                200,
                json!({"errorText": "Incorrect username or password. Please try again. Note that the username and password are case-sensitive"}),
            ),
            Outcome::InvalidCredentials,
            "INVALID_CREDENTIALS",
        ),
        (
            json_reply(
                200,
                json!({"p-ticket": "abc", "p-time": 15, "p-captcha": true}),
            ),
            Outcome::RateLimited,
            "LOGIN_PENALTY",
        ),
        (
            json_reply(429, json!({})),
            Outcome::RateLimited,
            "RATE_LIMITED",
        ),
        (
            json_reply(200, json!({})).set_delay(Duration::from_secs(2)),
            Outcome::Unreachable,
            "TIMEOUT",
        ),
        (
            json_reply(502, json!({})),
            Outcome::ProviderError,
            "PROVIDER_HTTP_5XX",
        ),
    ] {
        let server = MockServer::start().await;
        Mock::given(any()).respond_with(reply).mount(&server).await;
        let (report, sink) =
            run_verify("tradovate", &server.uri(), Duration::from_millis(400)).await;
        assert_eq!(
            (report.outcome, report.error_code.as_deref()),
            (outcome, Some(code)),
            "{report:?}"
        );
        assert_eq!(
            server.received_requests().await.unwrap().len(),
            1,
            "a failed login is never retried"
        );
        assert_eq!(sink.events().len(), 1);
        assert_clean(&report, &sink);
    }
}

/// A one-connection RESP server answering each command line with the next scripted reply.
async fn fake_redis(replies: Vec<&'static str>) -> String {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let mut stream = BufReader::new(stream);
        for reply in replies {
            // Read one RESP array: `*N`, then N `$len`/value pairs.
            let mut line = String::new();
            stream.read_line(&mut line).await.unwrap();
            let n: usize = line.trim()[1..].parse().unwrap();
            for _ in 0..2 * n {
                line.clear();
                stream.read_line(&mut line).await.unwrap();
            }
            if reply == "SILENT" {
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
            stream.get_mut().write_all(reply.as_bytes()).await.unwrap();
        }
    });
    format!("redis://{addr}")
}

#[tokio::test]
async fn redis_authenticates_and_pings_within_its_time_box() {
    for (replies, outcome) in [
        (vec!["+OK\r\n", "+PONG\r\n"], Outcome::Ok),
        (
            vec!["-WRONGPASS invalid username-password pair or user is disabled.\r\n"],
            Outcome::InvalidCredentials,
        ),
        (vec!["SILENT"], Outcome::Unreachable),
    ] {
        let base = fake_redis(replies).await;
        let (report, sink) = run_verify("redis", &base, Duration::from_millis(400)).await;
        assert_eq!(report.outcome, outcome, "{report:?}");
        assert_eq!(sink.events().len(), 1);
        assert_clean(&report, &sink);
    }
    // Nothing listening: unreachable.
    let (report, _) = run_verify("redis", "redis://127.0.0.1:1", Duration::from_millis(400)).await;
    assert_eq!(report.outcome, Outcome::Unreachable);
}

/// Every log line written during failing verifies is free of the key.
#[tokio::test]
async fn the_fake_key_reaches_no_log_line() {
    let buffer = Arc::new(Mutex::new(Vec::<u8>::new()));
    let capture = Capture(buffer.clone());
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || capture.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    // Callsites seen earlier by other tests (with no subscriber) cached "never": re-ask.
    tracing::callsite::rebuild_interest_cache();
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(json_reply(
            401,
            json!({"error": format!("Invalid API key {FAKE_KEY}")}),
        ))
        .mount(&server)
        .await;
    for id in [
        "fred",
        "alphavantage",
        "fmp",
        "openai",
        "discord",
        "finnhub",
    ] {
        let (report, _) = run_verify(id, &server.uri(), Duration::from_secs(2)).await;
        assert_ne!(report.outcome, Outcome::Ok);
    }
    // Nothing listening: transport errors (which name URLs) are redacted too.
    let (report, _) = run_verify("fred", "http://127.0.0.1:1", Duration::from_secs(2)).await;
    assert_eq!(report.outcome, Outcome::Unreachable);
    let logs = String::from_utf8(buffer.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("provider call failed"),
        "logging was captured"
    );
    assert!(!logs.contains(FAKE_KEY), "{logs}");
    assert!(!logs.contains("FAKEKEY"), "{logs}");
}

#[derive(Clone)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Databento bars through the official crate: vendor errors map like every other call, and
/// each request is one usage event (`bars.fetch`).
#[tokio::test]
async fn databento_range_errors_map_through_the_official_client() {
    use tradeplane::integrations::providers::databento;
    // The crate checks the key's shape (32 characters) before calling.
    let key = "db-FAKEKEYmustneverleak424242424";
    for (reply, outcome, code) in [
        (
            json_reply(401, json!({"detail": "Authentication failed."})),
            Outcome::InvalidCredentials,
            "INVALID_CREDENTIALS",
        ),
        (
            json_reply(429, json!({"detail": "Too many requests"})),
            Outcome::RateLimited,
            "RATE_LIMITED",
        ),
        (
            json_reply(503, json!({"detail": "Service unavailable"})),
            Outcome::ProviderError,
            "PROVIDER_HTTP_5XX",
        ),
        (
            json_reply(200, json!([])).set_delay(Duration::from_secs(2)),
            Outcome::Unreachable,
            "TIMEOUT",
        ),
    ] {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/v0/timeseries.get_range"))
            .respond_with(reply)
            .mount(&server)
            .await;
        let mut env = env_for("databento", &server.uri());
        env.insert("DATABENTO_API_KEY".into(), key.into());
        let sink = MemoryUsageSink::new();
        let integrations = Integrations::from_env(
            &env,
            Arc::new(sink.clone()),
            Duration::from_millis(400),
            &Clock::system(),
        );
        let client = integrations.client("databento").unwrap();
        let from = "2026-11-24T00:00:00Z".parse().unwrap();
        let to = "2026-11-25T00:00:00Z".parse().unwrap();
        let err = databento::ohlcv(
            &client,
            &Contract::new(Symbol::Es, 2026, ContractMonth::Z),
            databento_schema(),
            from,
            to,
            Default::default(),
        )
        .await
        .unwrap_err();
        assert_eq!((err.outcome, err.code), (outcome, code), "{err:?}");
        assert!(!err.message.contains(key));
        let events = sink.events();
        assert_eq!(events.len(), 1);
        assert_eq!(
            (events[0].action.as_str(), events[0].status.as_str()),
            ("bars.fetch", "ERROR")
        );
        assert!(!serde_json::to_string(&events[0]).unwrap().contains(key));
    }
}

fn databento_schema() -> ::databento::dbn::Schema {
    ::databento::dbn::Schema::Ohlcv1M
}

/// Reads are retried with backoff on transient failures (one usage event, attempts counted);
/// auth failures are not retried, even on reads.
#[tokio::test]
async fn reads_retry_transient_failures_but_never_auth_failures() {
    use tradeplane::integrations::{
        http::CallContext,
        outcome::Failure,
        providers::{ProviderClient, market_data::massive_futures_aggregates},
    };
    async fn fetch(client: &ProviderClient) -> Result<Vec<tradeplane::domain::bars::Bar>, Failure> {
        massive_futures_aggregates(
            client,
            &Contract::new(Symbol::Es, 2026, ContractMonth::Z),
            Timeframe::M1,
            chrono::DateTime::from_timestamp_millis(1).unwrap(),
            chrono::DateTime::from_timestamp_millis(3).unwrap(),
            CallContext::default(),
        )
        .await
    }
    let server = MockServer::start().await;
    Mock::given(path("/futures/v1/aggs/ESZ6"))
        .respond_with(json_reply(503, json!({"status": "ERROR"})))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(path("/futures/v1/aggs/ESZ6"))
        .respond_with(json_reply(200, json!({"status": "OK", "results": [{"open": 1.0, "high": 2.0, "low": 0.5, "close": 1.5, "volume": 10.0, "window_start": 1_700_000_000_000_000_000_i64}]})))
        .mount(&server)
        .await;
    let sink = MemoryUsageSink::new();
    let integrations = Integrations::from_env(
        &env_for("polygon", &server.uri()),
        Arc::new(sink.clone()),
        Duration::from_secs(2),
        &Clock::system(),
    );
    let client = integrations.client("polygon").unwrap();
    let bars = fetch(&client).await.unwrap();
    assert_eq!(bars.len(), 1);
    let events = sink.events();
    assert_eq!(events.len(), 1, "one event per call, however many attempts");
    assert_eq!(events[0].status, UsageStatus::Ok);
    assert_eq!(events[0].metadata["attempts"], 2);

    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(json_reply(
            401,
            json!({"status": "ERROR", "error": "Unknown API Key"}),
        ))
        .mount(&server)
        .await;
    let sink = MemoryUsageSink::new();
    let integrations = Integrations::from_env(
        &env_for("polygon", &server.uri()),
        Arc::new(sink.clone()),
        Duration::from_secs(2),
        &Clock::system(),
    );
    let client = integrations.client("polygon").unwrap();
    let err = fetch(&client).await.unwrap_err();
    assert_eq!(err.outcome, Outcome::InvalidCredentials);
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
    assert_eq!(sink.events()[0].status, UsageStatus::Error);
    assert_eq!(sink.events()[0].metadata["attempts"], 1);
}

/// The provider's documented budget is enforced locally: Polygon's free plan allows 5/min.
#[tokio::test]
async fn the_rate_limit_holds_calls_beyond_the_vendor_budget() {
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(json_reply(200, json!({"market": "open"})))
        .mount(&server)
        .await;
    let sink = MemoryUsageSink::new();
    let integrations = Integrations::from_env(
        &env_for("polygon", &server.uri()),
        Arc::new(sink.clone()),
        Duration::from_millis(300),
        &Clock::system(),
    );
    let client = integrations.client("polygon").unwrap();
    for _ in 0..5 {
        assert_eq!(providers::verify(&client).await.outcome, Outcome::Ok);
    }
    let sixth = providers::verify(&client).await;
    assert_eq!(
        (sixth.outcome, sixth.error_code.as_deref()),
        (Outcome::RateLimited, Some("LOCAL_RATE_LIMITED"))
    );
    assert_eq!(
        server.received_requests().await.unwrap().len(),
        5,
        "the sixth never left"
    );
    assert_eq!(sink.events().len(), 6, "the refused call is recorded too");
}

/// Only `src/integrations/` talks to vendors: no HTTP client anywhere else in the product.
#[test]
fn no_other_module_reaches_a_vendor() {
    fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|e| e == "rs") {
                out.push(p);
            }
        }
    }
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    walk(&src, &mut files);
    for file in files {
        if file.starts_with(src.join("integrations")) {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        for needle in ["reqwest::", "HistoricalClient", "TcpStream::connect"] {
            assert!(
                !text.contains(needle),
                "{} uses `{needle}`: vendor calls go through src/integrations",
                file.display()
            );
        }
    }
}
