//! Golden requests: every market-data call the product makes, rendered (method, path, query
//! or form fields, auth scheme; the key replaced by its variable name) and compared with a
//! file in `tests/it/golden/`, so changing a request shape changes a golden file. Each golden
//! is also checked against the vendor's documented example (reference/providers.md §1.2,
//! §2). Then the strict sandbox: it refuses what the vendors refuse, in their shapes, and the
//! old bug (a bare root sent as a Databento raw symbol) stays dead.
//!
//! Regenerate after an intended change: `UPDATE_GOLDEN=1 cargo test --test it vendor_requests::`.

use std::{sync::Arc, time::Duration};

use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sqlx::PgPool;
use tradeplane::{
    clock::Clock,
    domain::{
        contracts::{Contract, ContractMonth},
        instruments::Symbol,
        timeframe::Timeframe,
    },
    integrations::{
        Integrations,
        http::CallContext,
        providers::{databento, market_data::massive_futures_aggregates},
        usage::MemoryUsageSink,
    },
    runtime::BarsRequest,
};
use wiremock::{Mock, MockServer, Request, ResponseTemplate, matchers::any};

use crate::support::{
    FAKE_KEY, env_for,
    fixtures::{sandbox_fault as fault, start_sandbox},
    golden::golden,
    spawn_admin_app,
};

const DATABENTO_KEY: &str = "db-GOLDENgoldenGOLDENgoldenGOLD0";

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

/// One request as the golden file shows it: the key is replaced by its variable name.
fn render(req: &Request, key: &str, key_var: &str) -> String {
    let mut out = format!("{} {}\n", req.method, req.url.path());
    let mut query: Vec<(String, String)> = req.url.query_pairs().into_owned().collect();
    query.sort();
    for (k, v) in query {
        out.push_str(&format!("query {k}={v}\n"));
    }
    let auth = req
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let auth = match auth.split_once(' ') {
        Some(("Basic", b64)) => {
            let pair = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .ok()
                .and_then(|raw| String::from_utf8(raw).ok())
                .unwrap_or_default();
            format!(
                "Basic base64({})",
                pair.replace(key, &format!("${key_var}"))
            )
        }
        Some((scheme, token)) => format!("{scheme} {}", token.replace(key, &format!("${key_var}"))),
        None => "(none)".to_owned(),
    };
    out.push_str(&format!("auth {auth}\n"));
    if let Some(ct) = req
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
    {
        out.push_str(&format!("content-type {ct}\n"));
        if ct.starts_with("application/x-www-form-urlencoded") {
            let mut form: Vec<(String, String)> = url::form_urlencoded::parse(&req.body)
                .into_owned()
                .collect();
            form.sort();
            for (k, v) in form {
                out.push_str(&format!("form {k}={v}\n"));
            }
        }
    }
    out
}

fn integrations(env: &tradeplane::integrations::registry::EnvMap) -> Integrations {
    Integrations::from_env(
        env,
        Arc::new(MemoryUsageSink::new()),
        Duration::from_secs(5),
        &Clock::system(),
    )
}

fn lines_with<'a>(rendered: &'a str, prefix: &str) -> Vec<&'a str> {
    rendered.lines().filter(|l| l.starts_with(prefix)).collect()
}

/// A mock answering every request with `status` and a JSON `detail`.
async fn answering(status: u16, detail: &str) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(status).set_body_json(json!({"detail": detail})))
        .mount(&server)
        .await;
    server
}

/// One Databento fetch: ESH5's 1-minute bars of 2025-01-06.
async fn fetch_esh5(
    client: &tradeplane::integrations::providers::ProviderClient,
) -> Result<Vec<tradeplane::domain::bars::Bar>, tradeplane::integrations::outcome::Failure> {
    databento::ohlcv(
        client,
        &Contract::new(Symbol::Es, 2025, ContractMonth::H),
        ::databento::dbn::Schema::Ohlcv1M,
        at("2025-01-06T00:00:00Z"),
        at("2025-01-07T00:00:00Z"),
        CallContext::default(),
    )
    .await
}

/// Databento's historical client is built once per provider client: two fetches go out on
/// one kept-alive connection, not one connection (and one TLS root store read) per request.
/// Each is refused with a 422, which is not retried (the same request would fail again).
#[tokio::test]
async fn databento_fetches_share_one_client_and_its_connection() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let server = answering(422, "bad").await;
    // A TCP proxy in front of the mock, counting the connections it accepts.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy = listener.local_addr().unwrap();
    let upstream = *server.address();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counted = accepted.clone();
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                if let Ok(mut upstream) = tokio::net::TcpStream::connect(upstream).await {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                }
            });
        }
    });
    let mut env = env_for("databento", &format!("http://{proxy}"));
    env.insert("DATABENTO_API_KEY".into(), DATABENTO_KEY.into());
    let integrations = integrations(&env);
    let client = integrations.client("databento").unwrap();
    for _ in 0..2 {
        let err = fetch_esh5(&client).await.unwrap_err();
        assert_eq!(err.http_status, Some(422), "{err:?}");
    }
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        1,
        "one connection for both"
    );
}

#[tokio::test]
async fn databento_get_range_is_the_documented_request() {
    let server = answering(503, "down").await;
    let mut env = env_for("databento", &server.uri());
    env.insert("DATABENTO_API_KEY".into(), DATABENTO_KEY.into());
    let integrations = integrations(&env);
    let client = integrations.client("databento").unwrap();
    let _ = fetch_esh5(&client).await;
    let requests = server.received_requests().await.unwrap();
    let rendered = render(&requests[0], DATABENTO_KEY, "DATABENTO_API_KEY");
    golden("databento_timeseries_get_range", &rendered);
    // reference/providers.md §1.2: `curl -u "$DATABENTO_API_KEY:" -X POST
    // https://hist.databento.com/v0/timeseries.get_range -d dataset=GLBX.MDP3 -d schema=ohlcv-1m
    // -d stype_in=… -d symbols=… -d start=… -d end=…` (a listed contract is a raw symbol).
    assert!(rendered.starts_with("POST /v0/timeseries.get_range\n"));
    assert!(rendered.contains("auth Basic base64($DATABENTO_API_KEY:)\n"));
    for field in [
        "form dataset=GLBX.MDP3",
        "form schema=ohlcv-1m",
        "form stype_in=raw_symbol",
        "form symbols=ESH5",
        "form start=1736121600000000000",
        "form end=1736208000000000000",
    ] {
        assert!(
            rendered.contains(&format!("{field}\n")),
            "{field} in\n{rendered}"
        );
    }
    assert!(
        lines_with(&rendered, "query ").is_empty(),
        "no query string, a form body"
    );
}

#[tokio::test]
async fn massive_futures_aggregates_are_the_documented_request_and_follow_next_url() {
    let server = MockServer::start().await;
    let next = format!(
        "{}/futures/v1/aggs/NQZ6?cursor=abc&limit=50000",
        server.uri()
    );
    Mock::given(wiremock::matchers::query_param("cursor", "abc"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"status": "OK", "request_id": "2", "results": [
            {"ticker": "NQZ6", "open": 21000.25, "high": 21001.0, "low": 21000.0, "close": 21000.5, "volume": 40,
             "dollar_volume": 1.0, "transactions": 9, "window_start": 1_795_532_460_000_000_000_i64, "session_end_date": "2026-11-24"}]})))
        .mount(&server)
        .await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"status": "OK", "request_id": "1", "results": [
            {"ticker": "NQZ6", "open": 21000.0, "high": 21000.5, "low": 20999.75, "close": 21000.25, "volume": 55,
             "dollar_volume": 1.0, "transactions": 12, "window_start": 1_795_532_400_000_000_000_i64, "session_end_date": "2026-11-24"}],
            "next_url": next})))
        .mount(&server)
        .await;
    let integrations = integrations(&env_for("polygon", &server.uri()));
    let client = integrations.client("polygon").unwrap();
    let bars = massive_futures_aggregates(
        &client,
        &Contract::new(Symbol::Nq, 2026, ContractMonth::Z),
        Timeframe::M1,
        at("2026-11-24T15:00:00Z"),
        at("2026-11-24T15:02:00Z"),
        CallContext::default(),
    )
    .await
    .unwrap();
    assert_eq!(bars.len(), 2);
    let key = FAKE_KEY;
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 2);
    let first = render(&requests[0], key, "POLYGON_API_KEY");
    let second = render(&requests[1], key, "POLYGON_API_KEY");
    golden("massive_futures_aggs", &first);
    golden("massive_futures_aggs_next_page", &second);
    // reference/providers.md §2: futures bars are `GET /futures/v1/aggs/{ticker}` (a contract
    // ticker such as `ESZ5`), Bearer auth; the next page is `next_url` as given, auth re-attached.
    assert!(first.starts_with("GET /futures/v1/aggs/NQZ6\n"));
    assert!(first.contains("auth Bearer $POLYGON_API_KEY\n"));
    assert!(first.contains("query resolution=1min\n"));
    assert!(first.contains("query window_start.gte=1795532400000000000\n"));
    assert!(first.contains("query window_start.lt=1795532520000000000\n"));
    assert!(second.contains("query cursor=abc\n"));
    assert!(second.contains("auth Bearer $POLYGON_API_KEY\n"));
    assert!(
        lines_with(&second, "query resolution").is_empty(),
        "next_url is used as given"
    );
}

/// Raw HTTP to the sandbox's Databento endpoint, as a client other than the product would send.
async fn databento_raw(base: &str, auth: Option<&str>, form: &[(&str, &str)]) -> (u16, Value) {
    let mut req = reqwest::Client::new()
        .post(format!("{base}/v0/timeseries.get_range"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(
            url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(form)
                .finish(),
        );
    if let Some(a) = auth {
        req = req.header("authorization", a);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn the_sandbox_refuses_what_databento_refuses() {
    let env = start_sandbox().await;
    let base = env["DATABENTO_BASE_URL"].clone();
    let key = &env["DATABENTO_API_KEY"];
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{key}:"))
    );
    let form = |symbols: &'static str, stype: &'static str, schema: &'static str| {
        vec![
            ("dataset", "GLBX.MDP3"),
            ("symbols", symbols),
            ("stype_in", stype),
            ("schema", schema),
            ("start", "2026-11-24T15:00:00Z"),
            ("end", "2026-11-24T15:05:00Z"),
            ("encoding", "dbn"),
            ("compression", "zstd"),
        ]
    };
    // The old bug: a bare root as a raw symbol does not resolve.
    let (status, body) =
        databento_raw(&base, Some(&basic), &form("ES", "raw_symbol", "ohlcv-1m")).await;
    assert_eq!(status, 422);
    assert_eq!(body["detail"]["case"], "symbology_invalid_request");
    assert_eq!(
        body["detail"]["message"],
        "None of the symbols could be resolved"
    );
    // A continuous symbol sent as a raw one does not either; as continuous it does.
    let (status, _) = databento_raw(
        &base,
        Some(&basic),
        &form("ES.c.0", "raw_symbol", "ohlcv-1m"),
    )
    .await;
    assert_eq!(status, 422);
    let (status, _) = databento_raw(
        &base,
        Some(&basic),
        &form("ES.c.0", "continuous", "ohlcv-1m"),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) =
        databento_raw(&base, Some(&basic), &form("ESZ6", "raw_symbol", "ohlcv-1m")).await;
    assert_eq!(status, 200);
    // Unknown schema.
    let (status, body) =
        databento_raw(&base, Some(&basic), &form("ESZ6", "raw_symbol", "ohlcv-2m")).await;
    assert_eq!(
        (status, body["detail"]["case"].as_str()),
        (422, Some("schema_invalid"))
    );
    // Start after end.
    let mut backwards = form("ESZ6", "raw_symbol", "ohlcv-1m");
    backwards[4] = ("start", "2026-11-24T16:00:00Z");
    let (status, body) = databento_raw(&base, Some(&basic), &backwards).await;
    assert_eq!(
        (status, body["detail"]["case"].as_str()),
        (422, Some("data_start_after_end"))
    );
    // Unauthenticated, or a Bearer token instead of Basic.
    let (status, body) = databento_raw(&base, None, &form("ESZ6", "raw_symbol", "ohlcv-1m")).await;
    assert_eq!(
        (status, body["detail"].as_str()),
        (401, Some("Authentication failed."))
    );
    let bearer = format!("Bearer {key}");
    let (status, _) = databento_raw(
        &base,
        Some(&bearer),
        &form("ESZ6", "raw_symbol", "ohlcv-1m"),
    )
    .await;
    assert_eq!(status, 401);

    // The official crate reads the refusal as the API's structured error.
    let mut client = ::databento::HistoricalClient::builder()
        .key(key.as_str())
        .unwrap()
        .base_url(base.parse().unwrap())
        .build()
        .unwrap();
    let params = ::databento::historical::timeseries::GetRangeParams::builder()
        .dataset("GLBX.MDP3")
        .symbols(vec!["ES"])
        .schema(::databento::dbn::Schema::Ohlcv1M)
        .date_time_range((
            time::OffsetDateTime::from_unix_timestamp(1_795_532_400).unwrap(),
            time::OffsetDateTime::from_unix_timestamp(1_795_532_700).unwrap(),
        ))
        .build();
    match client.timeseries().get_range(&params).await {
        Err(::databento::Error::Api(api)) => {
            assert_eq!(api.status_code.as_u16(), 422);
            assert_eq!(api.case.as_deref(), Some("symbology_invalid_request"));
        }
        Err(other) => panic!("expected the API's symbology error, got {other}"),
        Ok(_) => panic!("the sandbox accepted a bare root as a raw symbol"),
    }
}

#[tokio::test]
async fn the_sandbox_refuses_what_massive_refuses() {
    let env = start_sandbox().await;
    let base = env["POLYGON_BASE_URL"].clone();
    let http = reqwest::Client::new();
    let get = |path: String| {
        http.get(format!("{base}{path}"))
            .bearer_auth("sandbox-polygon")
            .send()
    };
    // The stocks endpoint has nothing for a futures ticker.
    for ticker in ["ES", "ESZ6", "ES.c.0"] {
        let res = get(format!(
            "/v2/aggs/ticker/{ticker}/range/1/minute/2026-11-24/2026-11-24"
        ))
        .await
        .unwrap();
        assert_eq!(res.status(), 200);
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["resultsCount"], 0, "{ticker}");
        assert!(body.get("results").is_none(), "{ticker}");
    }
    // The futures endpoint serves listed contracts only.
    let res = get("/futures/v1/aggs/ES?resolution=1min&window_start.gte=2026-11-24&window_start.lt=2026-11-25".into())
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let res = get("/futures/v1/aggs/ESZ6?resolution=90min&window_start.gte=2026-11-24&window_start.lt=2026-11-25".into())
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let res = get("/futures/v1/aggs/ESZ6?resolution=1min&window_start.gte=2026-11-24&window_start.lt=2026-11-25&limit=10".into())
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["results"].as_array().unwrap().len(), 10);
    assert_eq!(body["results"][0]["ticker"], "ESZ6");
    assert!(body["next_url"].as_str().unwrap().contains("cursor="));
    // Unauthenticated.
    let res = http
        .get(format!("{base}/futures/v1/aggs/ESZ6?resolution=1min"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
}

#[sqlx::test]
async fn plan_refusals_and_rate_limits_come_back_classified(pool: PgPool) {
    let env = start_sandbox().await;
    let app = spawn_admin_app(pool, &env).await;
    let rt = app.state.runtime.clone();
    let request = || BarsRequest {
        instrument: Symbol::Es,
        contract: None,
        timeframe: Timeframe::M1,
        from: at("2026-11-24T15:00:00Z"),
        to: at("2026-11-24T15:10:00Z"),
        ctx: CallContext::default(),
    };
    let base = env["POLYGON_BASE_URL"].clone();
    fault(&base, "polygon", json!("not_authorized"), None).await;
    let err = rt.fetch_bars("polygon", request()).await.unwrap_err();
    assert!(err.to_string().contains("INSUFFICIENT_PLAN"), "{err}");
    // One 429, then data: the read is retried after the vendor's Retry-After.
    fault(&base, "polygon", json!("rate_limited"), Some(1)).await;
    let bars = rt.fetch_bars("polygon", request()).await.unwrap();
    assert_eq!(bars.len(), 10);
    fault(&base, "databento", json!("rate_limited"), Some(1)).await;
    let bars = rt.fetch_bars("databento", request()).await.unwrap();
    assert_eq!(bars.len(), 10);
}

/// The product asks every vendor for listed contracts only: a range across the December roll
/// for every root, through both clients, against the strict sandbox (which refuses a bare
/// root), lands in the store contract by contract.
#[sqlx::test]
async fn bars_across_a_roll_come_from_each_contract(pool: PgPool) {
    let env = start_sandbox().await;
    let app = spawn_admin_app(pool.clone(), &env).await;
    let rt = app.state.runtime.clone();
    // The ESH27 roll: the 2026-12-10 trade date opens 2026-12-09 23:00 UTC.
    let (from, to) = (at("2026-12-09T21:00:00Z"), at("2026-12-10T01:00:00Z"));
    for provider in ["polygon", "databento"] {
        for root in Symbol::ALL {
            let bars = rt
                .fetch_bars(
                    provider,
                    BarsRequest {
                        instrument: *root,
                        contract: None,
                        timeframe: Timeframe::M5,
                        from,
                        to,
                        ctx: CallContext::default(),
                    },
                )
                .await
                .unwrap_or_else(|e| panic!("{provider} {root}: {e}"));
            // 21:00–22:00 before the halt, 23:00–01:00 after it.
            assert_eq!(bars.len(), 12 + 24, "{provider} {root}");
        }
    }
    let rows: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT symbol, contract, count(*) FROM market_bars WHERE provider_id = 'databento' \
         GROUP BY symbol, contract ORDER BY symbol, contract",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    // Two contracts per root, but NKD's: its December contract ends on the Thursday before
    // the second Friday and rolled on 2026-12-02, so the whole range is NKDH27's.
    assert_eq!(rows.len(), 2 * Symbol::ALL.len() - 1, "{rows:?}");
    assert!(
        rows.contains(&("NKD".into(), "NKDH27".into(), 36)),
        "{rows:?}"
    );
    assert!(
        rows.contains(&("M2K".into(), "M2KZ26".into(), 12)),
        "{rows:?}"
    );
    assert!(
        rows.contains(&("ES".into(), "ESZ26".into(), 12)),
        "{rows:?}"
    );
    assert!(
        rows.contains(&("ES".into(), "ESH27".into(), 24)),
        "{rows:?}"
    );
    assert!(
        rows.contains(&("YM".into(), "YMH27".into(), 24)),
        "{rows:?}"
    );
}
