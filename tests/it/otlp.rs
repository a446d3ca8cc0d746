//! OTLP span export (issue 20 part 8) against a collector stand-in (wiremock on
//! `/v1/traces`): a request's span carries the request's trace id, an evaluation's span the
//! trace id of its decision or no-trade trace; a collector that refuses is counted and slows
//! nothing.
//!
//! The exporter is process-wide (like the metrics recorder): this test starts it and stops it;
//! spans of other tests running meanwhile are posted too and ignored here.

use std::time::Duration;

use serde_json::Value;
use sqlx::PgPool;
use tradeplane::integrations::otlp::{self, ExportConfig};
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{header, method, path},
};

use crate::support::{
    fixtures::{start_sandbox, until},
    paper::{config, session_start, started_bot, tick},
    spawn_app_with_runtime_config,
};

/// Every span the collector received: (trace id, name, attributes as key → string value).
async fn spans(collector: &MockServer) -> Vec<(String, String, Vec<(String, String)>)> {
    let mut out = Vec::new();
    for request in collector.received_requests().await.unwrap_or_default() {
        let body: Value = serde_json::from_slice(&request.body).expect("OTLP JSON");
        for rs in body["resourceSpans"].as_array().into_iter().flatten() {
            assert_eq!(
                rs["resource"]["attributes"][0]["value"]["stringValue"],
                "tradeplane"
            );
            for ss in rs["scopeSpans"].as_array().into_iter().flatten() {
                for s in ss["spans"].as_array().into_iter().flatten() {
                    let start: u128 = s["startTimeUnixNano"].as_str().unwrap().parse().unwrap();
                    let end: u128 = s["endTimeUnixNano"].as_str().unwrap().parse().unwrap();
                    assert!(end >= start && start > 0, "{s}");
                    assert_eq!(s["spanId"].as_str().unwrap().len(), 16, "{s}");
                    let attrs = s["attributes"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|a| {
                            let v = &a["value"];
                            let v = v["stringValue"]
                                .as_str()
                                .or(v["intValue"].as_str())
                                .unwrap_or_default();
                            (a["key"].as_str().unwrap().to_owned(), v.to_owned())
                        })
                        .collect();
                    out.push((
                        s["traceId"].as_str().unwrap().to_owned(),
                        s["name"].as_str().unwrap().to_owned(),
                        attrs,
                    ));
                }
            }
        }
    }
    out
}

fn attr<'a>(attrs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    attrs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

#[sqlx::test]
async fn request_and_evaluation_spans_reach_the_collector_with_their_trace_ids(pool: PgPool) {
    let collector = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/traces"))
        .and(header("content-type", "application/json"))
        .and(header("x-tenant", "desk"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&collector)
        .await;
    let export = ExportConfig::from_lookup(|name| match name {
        "OTEL_EXPORTER_OTLP_ENDPOINT" => Some(collector.uri()),
        "OTEL_EXPORTER_OTLP_HEADERS" => Some("x-tenant=desk".to_owned()),
        _ => None,
    })
    .unwrap()
    .expect("an endpoint turns export on");
    let exporter = otlp::start(export);

    let env = start_sandbox().await;
    let app = spawn_app_with_runtime_config(pool.clone(), config(&env))
        .await
        .signed_in_as_admin()
        .await;

    // A request with a caller's trace context: its span carries that trace id.
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let res = app
        .http("GET", "/api/bots")
        .header("traceparent", format!("00-{trace_id}-00f067aa0ba902b7-01"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    // Two evaluations of a PAPER bot.
    let bot = started_bot(&app, "otlp").await;
    for i in 1..=2 {
        tick(
            &app.state.runtime,
            &pool,
            bot,
            session_start() + chrono::Duration::minutes(i),
        )
        .await;
    }
    let recorded: Vec<String> = sqlx::query_scalar(
        "SELECT trace_id FROM decision_traces WHERE bot_id = $1 \
         UNION ALL SELECT trace_id FROM no_trade_traces WHERE bot_id = $1",
    )
    .bind(bot)
    .fetch_all(&pool)
    .await
    .unwrap();
    assert!(!recorded.is_empty());

    let bot_id = bot.to_string();
    let seen = until(
        "the request and evaluation spans at the collector",
        async || {
            let s = spans(&collector).await;
            let request = s.iter().any(|(t, name, attrs)| {
                t == trace_id
                    && name == "GET /api/bots"
                    && attr(attrs, "http.route") == Some("/api/bots")
                    && attr(attrs, "http.response.status_code") == Some("200")
            });
            let evaluations: Vec<_> = s
                .iter()
                .filter(|(_, name, attrs)| {
                    name == "bot.evaluation" && attr(attrs, "tradeplane.bot_id") == Some(&bot_id)
                })
                .cloned()
                .collect();
            (request && evaluations.len() >= 2).then_some(evaluations)
        },
    )
    .await;
    // Folded no-trade rows keep the first evaluation's trace id, so at least one span leads
    // to a stored trace; every span names how its evaluation ended.
    assert!(
        seen.iter().any(|(t, _, _)| recorded.contains(t)),
        "{seen:?} vs {recorded:?}"
    );
    for (_, _, attrs) in &seen {
        let outcome = attr(attrs, "tradeplane.outcome").unwrap();
        assert!(
            ["decided", "no_trade", "blocked", "killed"].contains(&outcome),
            "{outcome}"
        );
    }

    // A collector that refuses: counted, and requests are answered as before.
    collector.reset().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&collector)
        .await;
    let failures = || async {
        let text = app
            .http("GET", "/metrics")
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{} ", otlp::EXPORT_FAILURES)))
            .map_or(0.0, |v| v.parse::<f64>().unwrap())
    };
    let before = failures().await;
    let res = app.http("GET", "/api/bots").send().await.unwrap();
    assert_eq!(res.status(), 200);
    until("a refused batch counted", async || {
        (failures().await > before).then_some(())
    })
    .await;

    otlp::stop();
    tokio::time::timeout(Duration::from_secs(15), exporter)
        .await
        .expect("the exporter ends after stop")
        .unwrap();
}
