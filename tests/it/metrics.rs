//! `/metrics` (issue 20 part 8) in an end-to-end run: a PAPER bot evaluating, a provider
//! outage that opens its breaker, and an open event stream move every series, and every series
//! the shipped Grafana dashboard and Prometheus alert rules use is served.
//!
//! The event counters are process-wide (other tests add to them), so they are checked to have
//! grown by at least this run's own share; the state gauges are this server's own, checked
//! exactly.

use std::collections::BTreeMap;

use serde_json::json;
use sqlx::PgPool;
use tradeplane::domain::timeframe::Timeframe;

use crate::support::{
    TestApp,
    fixtures::{sandbox_fault, start_sandbox, ten_minutes_of_es, until},
    paper::{config, session_start, started_bot, tick},
    spawn_app_with_runtime_config,
    sse::SseClient,
};

/// One sample line: name, labels, value.
type Sample = (String, BTreeMap<String, String>, f64);

fn parse(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let value: f64 = value.parse().ok()?;
            let (name, labels) = match series.split_once('{') {
                Some((name, rest)) => {
                    let body = rest.strip_suffix('}')?;
                    let labels = body
                        .split("\",")
                        .filter(|kv| !kv.is_empty())
                        .filter_map(|kv| {
                            let (k, v) = kv.split_once("=\"")?;
                            Some((k.to_owned(), v.trim_end_matches('"').to_owned()))
                        })
                        .collect();
                    (name, labels)
                }
                None => (series, BTreeMap::new()),
            };
            Some((name.to_owned(), labels, value))
        })
        .collect()
}

/// The sum of `name`'s samples whose labels include `labels`.
fn sum(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|(n, l, _)| {
            n == name
                && labels
                    .iter()
                    .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|(_, _, v)| v)
        .sum()
}

async fn scrape(app: &TestApp) -> Vec<Sample> {
    let res = app.http("GET", "/metrics").send().await.unwrap();
    assert_eq!(res.status(), 200);
    parse(&res.text().await.unwrap())
}

/// The series names (`tradeplane_*`, `http_*`) a dashboard or rule file uses.
fn series_used(text: &str) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let rest = &text[i..];
        let starts_word = i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_');
        if starts_word && (rest.starts_with("tradeplane_") || rest.starts_with("http_")) {
            let len = rest
                .find(|c: char| !(c.is_ascii_lowercase() || c == '_'))
                .unwrap_or(rest.len());
            names.push(rest[..len].to_owned());
            i += len;
        } else {
            i += 1;
        }
    }
    names.sort();
    names.dedup();
    names
}

#[sqlx::test]
async fn every_series_moves_in_an_end_to_end_run(pool: PgPool) {
    let env = start_sandbox().await;
    let mut runtime = config(&env);
    // The scheduler ticks 1 s bars (no bot runs on them): the tick lag histogram fills.
    runtime.scheduler.timeframes = vec![Timeframe::S1];
    let app = spawn_app_with_runtime_config(pool.clone(), runtime)
        .await
        .signed_in_as_admin()
        .await;
    let rt = app.state.runtime.clone();
    let before = scrape(&app).await;
    assert_eq!(
        sum(&before, "tradeplane_runners", &[("state", "RUNNING")]),
        0.0
    );

    // A PAPER bot evaluates 5 bars: its bar reads are Databento calls.
    let bot = started_bot(&app, "metrics").await;
    let bars = 5;
    for i in 1..=bars {
        tick(
            &rt,
            &pool,
            bot,
            session_start() + chrono::Duration::minutes(i),
        )
        .await;
    }
    // An open event stream.
    let _stream = SseClient::open(&app.client, app.url("/api/events/stream"), None).await;
    // Polygon's outage: three failed reads open its breaker.
    sandbox_fault(&env["POLYGON_BASE_URL"], "polygon", json!("outage"), None).await;
    for _ in 0..3 {
        rt.fetch_bars("polygon", ten_minutes_of_es())
            .await
            .unwrap_err();
    }

    let lag_count = "tradeplane_tick_lag_seconds_count";
    let after = until("a scheduler tick after the run", async || {
        let s = scrape(&app).await;
        (sum(&s, lag_count, &[]) > sum(&before, lag_count, &[])).then_some(s)
    })
    .await;
    let grew = |name: &str, labels: &[(&str, &str)]| {
        sum(&after, name, labels) - sum(&before, name, labels)
    };

    // This server's state, exactly.
    assert_eq!(
        sum(&after, "tradeplane_runners", &[("state", "RUNNING")]),
        1.0
    );
    assert_eq!(sum(&after, "tradeplane_runners", &[]), 1.0);
    assert_eq!(
        sum(
            &after,
            "tradeplane_provider_breaker_state",
            &[("provider", "polygon"), ("state", "OPEN")]
        ),
        1.0
    );
    assert_eq!(
        sum(
            &after,
            "tradeplane_provider_breaker_state",
            &[("provider", "databento"), ("state", "CLOSED")]
        ),
        1.0
    );
    let polygon_ok = sum(
        &after,
        "tradeplane_provider_success_ratio",
        &[("provider", "polygon")],
    );
    assert!(polygon_ok < 0.5, "its 3 reads failed: {polygon_ok}");
    assert_eq!(sum(&after, "tradeplane_sse_clients", &[]), 1.0);
    assert!(sum(&after, "tradeplane_db_pool_max_connections", &[]) >= 1.0);
    assert!(sum(&after, "tradeplane_db_pool_connections", &[]) >= 1.0);
    assert_eq!(sum(&after, "tradeplane_kill_switch_active", &[]), 0.0);

    // Events: at least this run's own.
    assert!(grew("tradeplane_evaluations_total", &[]) >= bars as f64);
    let no_trade_outcomes = grew("tradeplane_evaluations_total", &[("outcome", "no_trade")])
        + grew("tradeplane_evaluations_total", &[("outcome", "blocked")]);
    if no_trade_outcomes > 0.0 {
        assert!(grew("tradeplane_no_trades_total", &[]) >= 1.0);
    }
    assert!(
        grew(
            "tradeplane_provider_calls_total",
            &[("provider", "databento"), ("result", "ok")]
        ) >= bars as f64,
        "every evaluation reads its bars from Databento"
    );
    assert!(
        grew(
            "tradeplane_provider_errors_total",
            &[("provider", "polygon"), ("code", "PROVIDER_HTTP_5XX")]
        ) >= 3.0
    );
    assert!(
        grew(
            "tradeplane_provider_call_duration_seconds_count",
            &[("provider", "polygon")]
        ) >= 3.0
    );
    assert!(grew(lag_count, &[]) >= 1.0);

    // Every series the dashboard and the alert rules use is served.
    let served: Vec<&str> = after.iter().map(|(n, _, _)| n.as_str()).collect();
    for file in ["ops/grafana/tradeplane.json", "ops/prometheus/alerts.yml"] {
        let text = std::fs::read_to_string(file).unwrap();
        let used = series_used(&text);
        assert!(used.len() >= 5, "{file}: {used:?}");
        for name in used {
            assert!(
                served.contains(&name.as_str()),
                "{file} uses {name}, not served"
            );
        }
    }
    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string("ops/grafana/tradeplane.json").unwrap())
            .unwrap();
    assert!(dashboard["panels"].as_array().unwrap().len() >= 10);
}

#[test]
fn series_names_are_found_in_queries_but_not_inside_other_words() {
    assert_eq!(
        series_used("rate(tradeplane_a_total[5m]) / x_http_b + http_requests_total{s=\"5\"}"),
        vec!["http_requests_total", "tradeplane_a_total"]
    );
}
