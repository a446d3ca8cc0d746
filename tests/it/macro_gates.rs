//! Issue 19 §3: the economic-calendar gate (FMP) and FRED macro variables. The exact vendor
//! requests against wiremock (reference/providers.md §5, §6) and their error shapes, the
//! strict sandbox, and end to end: a PAPER bot with the calendar filter fails closed without
//! a calendar, is blocked inside an event's window (the trace names the gate and the event)
//! and trades outside it; FRED series are profit variables; the macro filter blocks; a vendor
//! refusal is recorded and keeps the stored calendar.

use std::{sync::Arc, time::Duration};

use chrono::{NaiveDate, TimeZone, Utc};
use serde_json::{Value, json};
use sqlx::PgPool;
use tradeplane::{
    clock::Clock,
    domain::strategy_filters::MacroSeries,
    integrations::{
        Integrations, http::CallContext, outcome::codes, providers::macro_data,
        usage::MemoryUsageSink,
    },
    runtime::macro_data::{refresh_calendar, refresh_series, reload},
    store::macro_data as store,
};
use uuid::Uuid;
use wiremock::{
    Mock, MockServer, Request, ResponseTemplate,
    matchers::{any, method, path},
};

use crate::support::{
    FAKE_KEY, env_for,
    fixtures::{set_stage, start_sandbox, until},
    paper::{config, tick},
    spawn_app_with_runtime_config,
};

fn day(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

/// Method, path and sorted query of a request, the key replaced by its variable name.
fn render(req: &Request, key_var: &str) -> String {
    let mut out = format!("{} {}\n", req.method, req.url.path());
    let mut query: Vec<(String, String)> = req.url.query_pairs().into_owned().collect();
    query.sort();
    for (k, v) in query {
        out.push_str(&format!(
            "query {k}={}\n",
            v.replace(FAKE_KEY, &format!("${key_var}"))
        ));
    }
    out
}

fn client(
    id: &str,
    base: &str,
    sink: &MemoryUsageSink,
) -> Arc<tradeplane::integrations::providers::ProviderClient> {
    Integrations::from_env(
        &env_for(id, base),
        Arc::new(sink.clone()),
        Duration::from_secs(5),
        &Clock::system(),
    )
    .client(id)
    .expect("configured")
}

#[tokio::test]
async fn fmp_gets_the_documented_calendar_request_and_its_errors_map() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/stable/economic-calendar"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            {"date": "2026-12-08 13:30:00", "country": "US", "event": "CPI (MoM)", "currency": "USD",
             "previous": 0.3, "estimate": 0.2, "actual": null, "change": null, "impact": "High",
             "changePercentage": 0}
        ])))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    let sink = MemoryUsageSink::new();
    let c = client("fmp", &server.uri(), &sink);
    let events = macro_data::fetch_fmp_calendar(
        &c,
        day("2026-12-07"),
        day("2026-12-21"),
        CallContext::default(),
    )
    .await
    .unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event, "CPI (MoM)");
    assert_eq!(
        events[0].event_at,
        Utc.with_ymd_and_hms(2026, 12, 8, 13, 30, 0).unwrap()
    );
    let requests = server.received_requests().await.unwrap();
    // reference/providers.md §5: GET /stable/economic-calendar?from=YYYY-MM-DD&to=YYYY-MM-DD&apikey=…
    assert_eq!(
        render(&requests[0], "FMP_API_KEY"),
        "GET /stable/economic-calendar\nquery apikey=$FMP_API_KEY\nquery from=2026-12-07\nquery to=2026-12-21\n"
    );
    assert!(requests[0].headers.get("authorization").is_none());

    // The vendor's refusals: a bad key (401 with `Error Message`), a plan without the endpoint.
    for (status, body, code) in [
        (
            401,
            json!({"Error Message": "Invalid API KEY. Please retry or visit our documentation to create one FREE https://financialmodelingprep.com/developer/docs"}),
            codes::INVALID_CREDENTIALS,
        ),
        (
            403,
            json!({"Error Message": "Exclusive Endpoint : This endpoint is not available under your current subscription"}),
            codes::INSUFFICIENT_PLAN,
        ),
        (
            200,
            json!([{"Error Message": "Invalid API KEY."}]),
            codes::INVALID_CREDENTIALS,
        ),
    ] {
        server.reset().await;
        Mock::given(any())
            .respond_with(ResponseTemplate::new(status).set_body_json(body))
            .mount(&server)
            .await;
        let err = macro_data::fetch_fmp_calendar(
            &c,
            day("2026-12-07"),
            day("2026-12-21"),
            CallContext::default(),
        )
        .await
        .unwrap_err();
        assert_eq!(err.code, code, "{status}: {}", err.message);
        assert!(!err.message.contains(FAKE_KEY));
        // Never retried: one request.
        assert_eq!(server.received_requests().await.unwrap().len(), 1);
    }
    // One usage event per call, with the action and the error code.
    let events = sink.events();
    assert_eq!(events.len(), 4);
    assert!(events.iter().all(|e| e.action == "macro.economic_calendar"));
    assert_eq!(
        events[1].error_code.as_deref(),
        Some(codes::INVALID_CREDENTIALS)
    );
}

#[tokio::test]
async fn fred_gets_the_documented_observations_request_and_its_errors_map() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/fred/series/observations"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "realtime_start": "2026-12-04", "realtime_end": "2026-12-04", "count": 2, "offset": 0,
            "limit": 10, "sort_order": "desc",
            "observations": [
                {"realtime_start": "2026-12-04", "realtime_end": "2026-12-04", "date": "2026-12-03", "value": "4.25"},
                {"realtime_start": "2026-12-04", "realtime_end": "2026-12-04", "date": "2026-12-02", "value": "."}
            ]
        })))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    let sink = MemoryUsageSink::new();
    let c = client("fred", &server.uri(), &sink);
    let obs =
        macro_data::fetch_fred_observations(&c, MacroSeries::Dgs10, 10, CallContext::default())
            .await
            .unwrap();
    assert_eq!(
        obs,
        vec![
            store::Observation {
                date: day("2026-12-03"),
                value: Some(4.25)
            },
            store::Observation {
                date: day("2026-12-02"),
                value: None
            },
        ]
    );
    let requests = server.received_requests().await.unwrap();
    // reference/providers.md §6: series/observations, key and file_type as query parameters.
    assert_eq!(
        render(&requests[0], "FRED_API_KEY"),
        "GET /fred/series/observations\nquery api_key=$FRED_API_KEY\nquery file_type=json\nquery limit=10\nquery series_id=DGS10\nquery sort_order=desc\n"
    );

    for (body, code) in [
        (
            json!({"error_code": 400, "error_message": "Bad Request.  The value for variable api_key is not registered.  Read https://fred.stlouisfed.org/docs/api/api_key.html for more information."}),
            codes::INVALID_CREDENTIALS,
        ),
        (
            json!({"error_code": 400, "error_message": "Bad Request.  The series does not exist."}),
            codes::PROVIDER_HTTP_4XX,
        ),
    ] {
        server.reset().await;
        Mock::given(any())
            .respond_with(ResponseTemplate::new(400).set_body_json(body))
            .mount(&server)
            .await;
        let err =
            macro_data::fetch_fred_observations(&c, MacroSeries::Dgs10, 10, CallContext::default())
                .await
                .unwrap_err();
        assert_eq!(err.code, code, "{}", err.message);
        if code == codes::INVALID_CREDENTIALS {
            let sent = server.received_requests().await.unwrap().len();
            assert_eq!(sent, 1, "a bad key is not retried");
        }
    }
}

#[tokio::test]
async fn the_sandbox_refuses_what_the_vendors_refuse() {
    let env = start_sandbox().await;
    let http = reqwest::Client::new();
    let fmp = format!("{}/stable/economic-calendar", env["FMP_BASE_URL"]);
    let fred = format!("{}/fred/series/observations", env["FRED_BASE_URL"]);
    let get = async |url: &str, query: &[(&str, &str)]| {
        let r = http.get(url).query(query).send().await.unwrap();
        (r.status().as_u16(), r.json::<Value>().await.unwrap())
    };
    for key in [None, Some("wrong-key")] {
        let mut q = vec![("from", "2026-12-01"), ("to", "2026-12-14")];
        q.extend(key.map(|k| ("apikey", k)));
        let (status, body) = get(&fmp, &q).await;
        assert_eq!(status, 401, "{body}");
        assert!(
            body["Error Message"]
                .as_str()
                .unwrap()
                .starts_with("Invalid API KEY")
        );
    }
    let (status, body) = get(
        &fmp,
        &[
            ("from", "2026-12-01"),
            ("to", "2026-12-14"),
            ("apikey", "sandbox-fmp"),
        ],
    )
    .await;
    assert_eq!(status, 200);
    let rows = body.as_array().unwrap();
    assert!(
        rows.iter()
            .any(|r| r["event"] == "Nonfarm Payrolls" && r["date"] == "2026-12-04 13:30:00")
    );
    let (status, _) = get(
        &fmp,
        &[
            ("from", "2026-12-01"),
            ("to", "2027-06-01"),
            ("apikey", "sandbox-fmp"),
        ],
    )
    .await;
    assert_eq!(status, 400, "more than 90 days");

    let base = [("series_id", "DGS10"), ("file_type", "json")];
    let (status, body) = get(&fred, &base).await;
    assert_eq!((status, body["error_code"].as_u64()), (400, Some(400)));
    assert!(
        body["error_message"]
            .as_str()
            .unwrap()
            .contains("api_key has not been set")
    );
    let (status, body) = get(&fred, &[base[0], base[1], ("api_key", "wrong-key")]).await;
    assert_eq!(status, 400);
    assert!(
        body["error_message"]
            .as_str()
            .unwrap()
            .contains("api_key is not registered")
    );
    let (status, body) = get(
        &fred,
        &[
            ("series_id", "NOPE"),
            ("file_type", "json"),
            ("api_key", "sandbox-fred"),
        ],
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = get(
        &fred,
        &[
            base[0],
            base[1],
            ("api_key", "sandbox-fred"),
            ("sort_order", "desc"),
            ("limit", "3"),
        ],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["observations"].as_array().unwrap().len(), 3);
}

async fn create_bot(app: &crate::support::TestApp, name: &str, filters: Value) -> Uuid {
    let (status, body) = app
        .create_bot(json!({
            "name": name, "symbol": "ES", "timeframe": "1m", "stage": "LAB",
            "strategy": {"kind": "sma_crossover", "params": {"fast": 2, "slow": 4}, "filters": filters},
            "risk": {"max_order_size": 1, "max_position": 1, "daily_loss_limit": 100000.0,
                     "max_drawdown": 100000.0}
        }))
        .await;
    assert_eq!(status, 201, "{body}");
    let id: Uuid = body["bot"]["id"].as_str().unwrap().parse().unwrap();
    set_stage(&app.pool, id, "PAPER").await;
    id
}

/// The blockers of the bot's no-trade traces that carry `code`.
async fn blockers(pool: &PgPool, bot: Uuid, code: &str) -> Vec<Value> {
    let rows: Vec<Value> = sqlx::query_scalar(
        "SELECT b FROM no_trade_traces t, jsonb_array_elements(t.blocked_by) b \
         WHERE t.bot_id = $1 AND b->>'code' = $2",
    )
    .bind(bot)
    .bind(code)
    .fetch_all(pool)
    .await
    .unwrap();
    rows
}

#[sqlx::test]
async fn a_paper_bot_with_the_calendar_filter_stops_entries_around_events(pool: PgPool) {
    let env = start_sandbox().await;
    let app = spawn_app_with_runtime_config(pool.clone(), config(&env))
        .await
        .signed_in_as_admin()
        .await;
    let rt = app.state.runtime.clone();
    for provider in ["databento", "polygon"] {
        let (status, body) = app.verify_integration(provider).await;
        assert_eq!(status, 200, "{body}");
    }
    // A bad option is refused naming its field, and nothing is created.
    let (status, body) = app
        .create_bot(json!({
            "name": "bad-filter", "symbol": "ES", "timeframe": "1m", "stage": "LAB",
            "strategy": {"kind": "sma_crossover", "params": {"fast": 2, "slow": 4},
                         "filters": {"economic_calendar": {"minutes_before": 721}}}
        }))
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(
        body["error"]["details"]["field"],
        "strategy.filters.economic_calendar.minutes_before"
    );

    let bot = create_bot(&app, "calendar-gated", json!({"economic_calendar": {}})).await;
    let (_, body) = app.get_bot(bot).await;
    let stored = &body["bot"]["strategy"]["filters"]["economic_calendar"];
    assert_eq!(stored["minutes_before"], 15, "{body}");
    assert_eq!(stored["impacts"], json!(["High"]));
    let (status, body) = app.start_bot(bot).await;
    assert_eq!(status, 200, "{body}");

    // No calendar covers Tuesday 2026-11-17: entries fail closed.
    let tue = |h, m| Utc.with_ymd_and_hms(2026, 11, 17, h, m, 0).unwrap();
    tick(&rt, &pool, bot, tue(13, 0)).await;
    let stale = blockers(&pool, bot, "ECONOMIC_CALENDAR_STALE").await;
    assert_eq!(stale.len(), 1, "{stale:?}");
    assert_eq!(stale[0]["gate"], "economic_calendar");

    // The leader's refresh, for those days, from the sandbox; the runners reload it.
    let stored = refresh_calendar(&rt, day("2026-11-16"), day("2026-11-18"))
        .await
        .expect("fmp is configured")
        .unwrap();
    assert!(stored >= 2, "{stored}");
    reload(&rt).await.unwrap();

    // 13:30 is US CPI: inside [13:15, 13:45] the trace names the gate and the event.
    tick(&rt, &pool, bot, tue(13, 30)).await;
    let window = blockers(&pool, bot, "ECONOMIC_EVENT_WINDOW").await;
    assert_eq!(window.len(), 1, "{window:?}");
    assert_eq!(window[0]["gate"], "economic_calendar");
    let reason = window[0]["reason_human"].as_str().unwrap();
    assert!(
        reason.contains("CPI (MoM) (US, High impact) at 2026-11-17 13:30 UTC"),
        "{reason}"
    );
    assert!(
        window[0]["suggested_fix"]
            .as_str()
            .unwrap()
            .contains("minutes_before")
    );

    // Outside the window the bot trades.
    let mut minute = 46;
    loop {
        tick(
            &rt,
            &pool,
            bot,
            tue(13, 0) + chrono::Duration::minutes(minute),
        )
        .await;
        let decisions: i64 =
            sqlx::query_scalar("SELECT count(*) FROM decision_traces WHERE bot_id = $1")
                .bind(bot)
                .fetch_one(&pool)
                .await
                .unwrap();
        if decisions > 0 {
            break;
        }
        minute += 1;
        assert!(
            minute < 60 * 5,
            "no decision within 4 hours outside the window"
        );
    }
    // Every window blocker is from inside the window (one evaluation).
    assert_eq!(blockers(&pool, bot, "ECONOMIC_EVENT_WINDOW").await.len(), 1);
}

#[sqlx::test]
async fn fred_series_are_profit_variables_and_the_macro_filter_blocks(pool: PgPool) {
    let env = start_sandbox().await;
    let app = spawn_app_with_runtime_config(pool.clone(), config(&env))
        .await
        .signed_in_as_admin()
        .await;
    let rt = app.state.runtime.clone();
    for provider in ["databento", "polygon"] {
        let (status, body) = app.verify_integration(provider).await;
        assert_eq!(status, 200, "{body}");
    }
    let done = refresh_series(&rt, 10).await;
    assert_eq!(done.len(), 4, "{done:?}");
    assert!(done.iter().all(|(_, r)| r.is_ok()), "{done:?}");

    let bot = create_bot(
        &app,
        "rates-gated",
        json!({"macro_filter": {"series_id": "DGS10", "block_above": 4.0}}),
    )
    .await;
    let (status, body) = app.profit_variables("limit=100").await;
    assert_eq!(status, 200, "{body}");
    let items = body["items"].as_array().unwrap();
    let dgs10 = items
        .iter()
        .find(|v| v["name"] == "fred.DGS10")
        .unwrap_or_else(|| panic!("no fred.DGS10 in {body}"));
    assert_eq!(dgs10["source_integration"], "fred");
    let value = dgs10["latest_value"].as_f64().unwrap();
    assert!((4.2..=4.3).contains(&value), "{dgs10}");
    assert!(dgs10["value_as_of"].is_string(), "{dgs10}");
    assert_eq!(dgs10["used_by_bot_ids"], json!([bot.to_string()]));
    assert!(items.iter().any(|v| v["name"] == "fred.VIXCLS"));

    let (status, body) = app.start_bot(bot).await;
    assert_eq!(status, 200, "{body}");
    reload(&rt).await.unwrap();
    tick(
        &rt,
        &pool,
        bot,
        Utc.with_ymd_and_hms(2026, 11, 17, 15, 0, 0).unwrap(),
    )
    .await;
    let blocked = blockers(&pool, bot, "MACRO_FILTER_BLOCKED").await;
    assert_eq!(blocked.len(), 1, "{blocked:?}");
    assert_eq!(blocked[0]["gate"], "macro_filter");
    assert!(
        blocked[0]["reason_human"]
            .as_str()
            .unwrap()
            .contains("DGS10")
    );
}

#[sqlx::test]
async fn a_vendor_refusal_is_recorded_and_keeps_the_stored_calendar(pool: PgPool) {
    let mut env = start_sandbox().await;
    env.insert("FMP_API_KEY".into(), "wrong-key".into());
    let app = spawn_app_with_runtime_config(pool.clone(), config(&env))
        .await
        .signed_in_as_admin()
        .await;
    let rt = app.state.runtime.clone();
    let at = Utc.with_ymd_and_hms(2026, 12, 8, 13, 30, 0).unwrap();
    let kept = tradeplane::domain::economic_calendar::EconomicEvent {
        event: "CPI (MoM)".into(),
        country: "US".into(),
        impact: "High".into(),
        event_at: at,
    };
    store::store_calendar(
        &pool,
        "fmp",
        at - chrono::Duration::days(1),
        at + chrono::Duration::days(1),
        &[kept],
        rt.clock().now(),
    )
    .await
    .unwrap();

    let result = refresh_calendar(&rt, day("2026-12-07"), day("2026-12-09"))
        .await
        .expect("fmp is configured");
    assert!(result.is_err(), "{result:?}");
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM economic_events")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(count, 1, "the stored calendar stays");
    let usage = until("the refused call's usage event", async || {
        sqlx::query_scalar::<_, String>(
            "SELECT error_code FROM integration_usage_events \
             WHERE provider_id = 'fmp' AND action = 'macro.economic_calendar'",
        )
        .fetch_optional(&pool)
        .await
        .unwrap()
    })
    .await;
    assert_eq!(usage, codes::INVALID_CREDENTIALS);
    let (severity, message) = until("the SEV-3 event", async || {
        sqlx::query_as::<_, (String, String)>(
            "SELECT severity, message FROM system_events WHERE code = 'MACRO_REFRESH_FAILED' \
             AND provider_id = 'fmp'",
        )
        .fetch_optional(&pool)
        .await
        .unwrap()
    })
    .await;
    assert_eq!(severity, "SEV-3");
    assert!(!message.contains("wrong-key"), "{message}");
    // The runtime lives on: the breaker counted the failure and the API answers.
    let fmp = rt
        .providers_health()
        .into_iter()
        .find(|p| p.provider_id == "fmp")
        .unwrap();
    assert_eq!(
        fmp.last_error_code.as_deref(),
        Some(codes::INVALID_CREDENTIALS),
        "{fmp:?}"
    );
    assert!(fmp.failures_in_window >= 1, "{fmp:?}");
    let (status, _) = app.profit_variables("").await;
    assert_eq!(status, 200);
}

#[sqlx::test]
async fn backtests_replay_the_stored_calendar_or_fail_and_refuse_a_macro_filter(pool: PgPool) {
    let env = start_sandbox().await;
    let runtime = tradeplane::runtime::RuntimeConfig {
        jobs: tradeplane::runtime::jobs::JobsConfig {
            workers: 1,
            poll_every: Duration::from_millis(50),
            heartbeat_every: Duration::from_millis(50),
        },
        ..config(&env)
    };
    let app = spawn_app_with_runtime_config(pool.clone(), runtime)
        .await
        .signed_in_as_admin()
        .await;
    let rt = app.state.runtime.clone();
    let body = |filters: Value| {
        json!({
            "strategy": {"kind": "sma_crossover", "params": {"fast": 2, "slow": 4}, "filters": filters},
            "symbol": "ES", "timeframe": "5m",
            "from": "2026-11-17T12:00:00Z", "to": "2026-11-17T16:00:00Z",
            "risk": {"daily_loss_limit": 50000, "max_drawdown": 50000}
        })
    };
    // A macro filter cannot be replayed: refused up front, naming it.
    let (status, reply) = app
        .create_backtest(body(
            json!({"macro_filter": {"series_id": "VIXCLS", "block_above": 30.0}}),
        ))
        .await;
    assert_eq!(status, 422, "{reply}");
    assert_eq!(
        reply["error"]["details"]["field"],
        "strategy.filters.macro_filter"
    );

    // No stored calendar covers the range: the job fails with ECONOMIC_CALENDAR_STALE.
    let (id, _) = app
        .queue_backtest(body(json!({"economic_calendar": {}})))
        .await;
    let failed = app.wait_for_backtest(&id, "FAILED").await;
    assert_eq!(
        failed["backtest"]["error_code"], "ECONOMIC_CALENDAR_STALE",
        "{failed}"
    );

    // Stored: the run replays it, and the CPI window shows among its no-trade reasons.
    refresh_calendar(&rt, day("2026-11-16"), day("2026-11-18"))
        .await
        .unwrap()
        .unwrap();
    let (id, _) = app
        .queue_backtest(body(json!({"economic_calendar": {}})))
        .await;
    let done = app.wait_for_backtest(&id, "SUCCEEDED").await;
    let counts = &done["backtest"]["no_trade_counts"];
    assert!(
        counts["ECONOMIC_EVENT_WINDOW"].as_u64().unwrap_or(0) >= 1,
        "{counts}"
    );
    // The same strategy without the filter is another run (its inputs differ) and sees no window.
    let (id, _) = app.queue_backtest(body(Value::Null)).await;
    let plain = app.wait_for_backtest(&id, "SUCCEEDED").await;
    assert!(plain["backtest"]["no_trade_counts"]["ECONOMIC_EVENT_WINDOW"].is_null());
    assert_ne!(
        plain["backtest"]["inputs_hash"],
        done["backtest"]["inputs_hash"]
    );
}

#[sqlx::test]
async fn the_leader_refreshes_on_its_own_and_every_node_reloads(pool: PgPool) {
    let env = start_sandbox().await;
    let runtime = tradeplane::runtime::RuntimeConfig {
        macro_data: tradeplane::runtime::macro_data::MacroConfig {
            auto_refresh: true,
            reload_every: Duration::from_millis(200),
            ..Default::default()
        },
        ..config(&env)
    };
    let app = spawn_app_with_runtime_config(pool.clone(), runtime)
        .await
        .signed_in_as_admin()
        .await;
    // The calendar for today + 14 days and every series, without being asked.
    let (from, to) = until("the leader's calendar fetch", async || {
        sqlx::query_as::<_, (chrono::DateTime<Utc>, chrono::DateTime<Utc>)>(
            "SELECT range_from, range_to FROM economic_calendar_fetches",
        )
        .fetch_optional(&pool)
        .await
        .unwrap()
    })
    .await;
    assert_eq!((to - from).num_days(), 15, "today … today + 14, whole days");
    let today = tradeplane::clock::Clock::system().now().date_naive();
    assert_eq!(from.date_naive(), today);
    let series = until("every series stored", async || {
        let n: i64 = sqlx::query_scalar("SELECT count(DISTINCT series_id) FROM fred_observations")
            .fetch_one(&pool)
            .await
            .unwrap();
        (n == 4).then_some(n)
    })
    .await;
    assert_eq!(series, 4);
    // The vendor calls went through the actors: usage events of each provider.
    for (provider, action) in [
        ("fmp", "macro.economic_calendar"),
        ("fred", "macro.fred_observations"),
    ] {
        until("usage events", async || {
            let n: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM integration_usage_events WHERE provider_id = $1 \
                 AND action = $2 AND status = 'OK'",
            )
            .bind(provider)
            .bind(action)
            .fetch_one(&pool)
            .await
            .unwrap();
            (n >= 1).then_some(n)
        })
        .await;
    }
    // The runners' snapshot (what every evaluation reads) holds the refreshed data.
    let rt = app.state.runtime.clone();
    until("the reload", async || {
        let data = rt.filter_data()?;
        (data.calendar.is_some() && data.macro_series.len() == 4).then_some(())
    })
    .await;
}

#[sqlx::test]
async fn a_strategy_edit_sets_and_clears_filters_and_the_series_users(pool: PgPool) {
    let env = start_sandbox().await;
    let app = spawn_app_with_runtime_config(pool.clone(), config(&env))
        .await
        .signed_in_as_admin()
        .await;
    let bot = create_bot(&app, "edited", Value::Null).await;
    let (_, body) = app.get_bot(bot).await;
    assert!(body["bot"]["strategy"].get("filters").is_none(), "{body}");
    let users = async || -> Value {
        sqlx::query_scalar(
            "SELECT used_by_bot_ids FROM profit_variables WHERE name = 'fred.VIXCLS'",
        )
        .fetch_optional(&pool)
        .await
        .unwrap()
        .unwrap_or(Value::Null)
    };
    let strategy = |filters: Value| json!({"strategy": {"kind": "sma_crossover", "params": {"fast": 2, "slow": 4}, "filters": filters}});
    // Unknown filter: refused naming `strategy.filters`, nothing changes.
    let (status, reply) = app.patch_bot(bot, strategy(json!({"news": {}}))).await;
    assert_eq!(status, 422, "{reply}");
    assert_eq!(reply["error"]["details"]["field"], "strategy.filters");
    let (status, reply) = app
        .patch_bot(
            bot,
            strategy(json!({"macro_filter": {"series_id": "VIXCLS", "block_above": 30.0, "max_age_days": 5}})),
        )
        .await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(
        reply["bot"]["strategy"]["filters"]["macro_filter"],
        json!({"series_id": "VIXCLS", "block_above": 30.0, "max_age_days": 5})
    );
    assert_eq!(users().await, json!([bot.to_string()]));
    // Back to no filter: the bot leaves the series' users.
    let (status, reply) = app.patch_bot(bot, strategy(Value::Null)).await;
    assert_eq!(status, 200, "{reply}");
    assert!(reply["bot"]["strategy"].get("filters").is_none(), "{reply}");
    assert_eq!(users().await, json!([]));
}
