//! Finnhub market news, deterministic: `GET /finnhub/news?category=general&minId=N` answers the
//! 24 hourly headlines up to the sandbox clock's hour (every 6th clearly risk-off), plus any
//! injected with `POST /_sandbox/finnhub/news` `{"headline", "source"?, "datetime"? (UNIX s,
//! default now)}`, newest first, only ids above `minId`. Ids grow with time (an hourly
//! headline's id is its hour's UNIX time × 10; an injected one's is the injection time × 10
//! plus a counter), so a client's `minId` sees each once.
//!
//! Refuses like Finnhub: no `X-Finnhub-Token` header (or `?token=`) is 401
//! `{"error":"Invalid API key."}`; an unknown category 422. Faults (`POST /_sandbox/faults`
//! with `vendor: "finnhub"`): `outage` 502, `rate_limited` 429 + `Retry-After: 1`,
//! `not_authorized` 401 `Invalid API key.`, `refusal` 403 (plan), `timeout` (a minute, then 502).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::{
    http::{HeaderMap, Method, StatusCode, header},
    response::Response,
};
use chrono::{DurationRound, TimeDelta};
use serde_json::{Value, json};

use super::{Fault, SandboxState, has_header, json_reply, ok};

/// Headlines injected by tests: (id, UNIX s, headline, source).
pub(super) type Injected = Arc<Mutex<Vec<(i64, i64, String, String)>>>;

/// The fixed headlines the hours cycle through; index 0 (every 6th hour) is risk-off.
const HOURLY: [(&str, &str); 6] = [
    (
        "Stocks plunge as recession fears trigger a global market selloff",
        "Reuters",
    ),
    ("Fed officials keep the policy outlook unchanged", "CNBC"),
    (
        "Tech shares rally to a record high on strong earnings",
        "Bloomberg",
    ),
    (
        "Oil prices steady ahead of the inventory report",
        "MarketWatch",
    ),
    ("Retail sales in line with expectations", "Reuters"),
    ("Treasury yields little changed in quiet trading", "CNBC"),
];

const CATEGORIES: [&str; 4] = ["general", "forex", "crypto", "merger"];

#[derive(Debug, serde::Deserialize)]
struct Inject {
    headline: String,
    source: Option<String>,
    datetime: Option<i64>,
}

/// Answers a Finnhub news request or an injection, or `None` when the path is neither.
pub(super) async fn route(
    state: &SandboxState,
    method: &Method,
    segments: &[&str],
    headers: &HeaderMap,
    query: &HashMap<String, String>,
    body: &[u8],
) -> Option<Response> {
    match segments {
        ["_sandbox", "finnhub", "news"] if method == Method::POST => Some(inject(state, body)),
        ["finnhub", "news"] if method == Method::GET => Some(news(state, headers, query).await),
        _ => None,
    }
}

fn inject(state: &SandboxState, body: &[u8]) -> Response {
    let cmd = match serde_json::from_slice::<Inject>(body) {
        Ok(c) if !c.headline.trim().is_empty() => c,
        Ok(_) => {
            return json_reply(
                StatusCode::BAD_REQUEST,
                json!({"error": "headline is required"}),
            );
        }
        Err(e) => return json_reply(StatusCode::BAD_REQUEST, json!({"error": e.to_string()})),
    };
    let now = state.clock.now().timestamp();
    let mut injected = state.news.lock().unwrap_or_else(|p| p.into_inner());
    let floor = now * 10 + 1;
    let id = injected
        .iter()
        .map(|(id, ..)| id + 1)
        .max()
        .map_or(floor, |next| next.max(floor));
    let at = cmd.datetime.unwrap_or(now);
    let source = cmd.source.unwrap_or_else(|| "Sandbox".into());
    injected.push((id, at, cmd.headline, source));
    ok(json!({"id": id, "datetime": at}))
}

fn item(id: i64, at: i64, headline: &str, source: &str) -> Value {
    json!({"category": "general", "datetime": at, "headline": headline, "id": id,
        "image": "", "related": "", "source": source,
        "summary": "", "url": format!("https://example.com/sandbox-news/{id}")})
}

async fn news(
    state: &SandboxState,
    headers: &HeaderMap,
    query: &HashMap<String, String>,
) -> Response {
    let bad_key = || {
        json_reply(
            StatusCode::UNAUTHORIZED,
            json!({"error": "Invalid API key."}),
        )
    };
    if !has_header(headers, "x-finnhub-token") && query.get("token").is_none_or(|t| t.is_empty()) {
        return bad_key();
    }
    if let Some(fault) = state.take_fault("finnhub") {
        super::stall(fault).await;
        return match fault {
            Fault::Outage | Fault::Timeout => {
                json_reply(StatusCode::BAD_GATEWAY, json!({"error": "Bad gateway."}))
            }
            Fault::RateLimited => {
                let mut res = json_reply(
                    StatusCode::TOO_MANY_REQUESTS,
                    json!({"error": "API limit reached. Please try again later. Remaining Limit: 0"}),
                );
                res.headers_mut()
                    .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
                res
            }
            Fault::NotAuthorized => bad_key(),
            Fault::Refusal => json_reply(
                StatusCode::FORBIDDEN,
                json!({"error": "You don't have access to this resource."}),
            ),
        };
    }
    let category = query.get("category").map_or("", String::as_str);
    if !CATEGORIES.contains(&category) {
        return json_reply(
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({"error": "Invalid category. Use one of: general, forex, crypto, merger."}),
        );
    }
    let min_id = query
        .get("minId")
        .and_then(|m| m.parse::<i64>().ok())
        .unwrap_or(0);
    let now = state.clock.now();
    let hour = now
        .duration_trunc(TimeDelta::hours(1))
        .unwrap_or(now)
        .timestamp();
    let mut items: Vec<(i64, Value)> = Vec::new();
    if category == "general" {
        for k in 0..24 {
            let at = hour - k * 3600;
            let (headline, source) = HOURLY[usize::try_from((at / 3600) % 6).unwrap_or(0)];
            items.push((at, item(at * 10, at, headline, source)));
        }
        let injected = state.news.lock().unwrap_or_else(|p| p.into_inner());
        for (id, at, headline, source) in injected.iter() {
            items.push((*at, item(*id, *at, headline, source)));
        }
    }
    items.retain(|(_, v)| v["id"].as_i64().is_some_and(|id| id > min_id));
    items.sort_by_key(|(at, v)| std::cmp::Reverse((*at, v["id"].as_i64())));
    ok(Value::Array(items.into_iter().map(|(_, v)| v).collect()))
}

#[cfg(test)]
mod tests {
    use axum::body::{Body, to_bytes};
    use axum::http::Request;
    use tower::ServiceExt;

    use crate::clock::Clock;

    async fn call(router: &axum::Router, req: Request<Body>) -> (StatusCode, serde_json::Value) {
        let res = router.clone().oneshot(req).await.unwrap();
        let status = res.status();
        let body = to_bytes(res.into_body(), 1 << 20).await.unwrap();
        (status, serde_json::from_slice(&body).unwrap())
    }

    use super::*;

    #[tokio::test]
    async fn hourly_headlines_injection_min_id_and_the_vendors_refusals() {
        let clock = Clock::manual("2026-12-04T10:30:00Z".parse().unwrap());
        let router = super::super::router(clock.clone());
        let get = |q: &str, key: bool| {
            let mut b = Request::get(format!("/finnhub/news?{q}"));
            if key {
                b = b.header("x-finnhub-token", "sandbox");
            }
            b.body(Body::empty()).unwrap()
        };
        let (status, body) = call(&router, get("category=general", false)).await;
        assert_eq!(status, 401);
        assert_eq!(body, json!({"error": "Invalid API key."}));
        let (status, _) = call(&router, get("category=sports", true)).await;
        assert_eq!(status, 422);
        let (status, body) = call(&router, get("category=general&minId=0", true)).await;
        assert_eq!(status, 200);
        let items = body.as_array().unwrap();
        assert_eq!(items.len(), 24);
        // Newest first, the hour's headline at 10:00; every 6th hour is the risk-off one.
        assert_eq!(items[0]["datetime"], 1_796_378_400);
        let risk_off = items
            .iter()
            .filter(|i| i["headline"].as_str().unwrap().contains("plunge"))
            .count();
        assert_eq!(risk_off, 4);
        let newest = items[0]["id"].as_i64().unwrap();
        let inject = Request::post("/_sandbox/finnhub/news")
            .header("content-type", "application/json")
            .body(Body::from(
                r#"{"headline": "War breaks out", "datetime": 1796300000}"#,
            ))
            .unwrap();
        let (status, injected) = call(&router, inject).await;
        assert_eq!(status, 200);
        assert!(injected["id"].as_i64().unwrap() > newest);
        let (_, body) = call(
            &router,
            get(&format!("category=general&minId={newest}"), true),
        )
        .await;
        assert_eq!(body.as_array().unwrap().len(), 1, "{body}");
        assert_eq!(body[0]["headline"], "War breaks out");
        // A fault answers in Finnhub's shape.
        let fault = Request::post("/_sandbox/faults")
            .header("content-type", "application/json")
            .body(Body::from(
                r#"{"vendor": "finnhub", "fault": "rate_limited", "count": 1}"#,
            ))
            .unwrap();
        call(&router, fault).await;
        let (status, body) = call(&router, get("category=general", true)).await;
        assert_eq!(status, 429);
        assert!(body["error"].as_str().unwrap().contains("API limit"));
        let (status, _) = call(&router, get("category=general", true)).await;
        assert_eq!(status, 200);
    }
}
