//! Massive (formerly Polygon) aggregates: the stocks endpoint, the futures endpoint paged by
//! `next_url`, their time filters and their fault answers.

use std::collections::HashMap;

use axum::{
    http::{HeaderMap, StatusCode, header},
    response::Response,
};
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Value, json};

use super::faults::late_end;
use super::{Fault, POLYGON_PAGE, json_reply, ohlcv, ok};

/// `from`/`to` as Polygon takes them: `YYYY-MM-DD` (whole days, `to` inclusive) or ms epoch.
fn polygon_time(raw: &str, end: bool) -> Option<DateTime<Utc>> {
    if let Ok(ms) = raw.parse::<i64>() {
        return DateTime::from_timestamp_millis(ms + i64::from(end));
    }
    let day = NaiveDate::parse_from_str(raw, "%Y-%m-%d").ok()?;
    let day = if end { day.succ_opt()? } else { day };
    Some(day.and_hms_opt(0, 0, 0)?.and_utc())
}

pub(super) fn polygon_aggs(
    headers: &HeaderMap,
    ticker: &str,
    mult: &str,
    span: &str,
    from: &str,
    to: &str,
    query: &HashMap<String, String>,
) -> Response {
    let unit: i64 = match span {
        "second" => 1,
        "minute" => 60,
        "hour" => 3600,
        "day" => 86_400,
        _ => {
            return json_reply(
                StatusCode::BAD_REQUEST,
                json!({"status": "ERROR", "error": format!("timespan {span} is not simulated")}),
            );
        }
    };
    let (Ok(mult), Some(start), Some(end)) = (
        mult.parse::<i64>(),
        polygon_time(from, false),
        polygon_time(to, true),
    ) else {
        return json_reply(
            StatusCode::BAD_REQUEST,
            json!({"status": "ERROR", "error": "bad multiplier or date"}),
        );
    };
    let limit = query
        .get("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .unwrap_or(5000)
        .clamp(1, 50_000)
        .min(POLYGON_PAGE);
    // The cursor is the start (ms) of the next page's first bar, so a page costs O(page), not
    // O(everything before it).
    let start = query
        .get("cursor")
        .and_then(|c| c.parse::<i64>().ok())
        .and_then(DateTime::from_timestamp_millis)
        .map_or(start, |c| c.max(start));
    let all = ohlcv::bars(
        ticker,
        unit.saturating_mul(mult.clamp(1, 10_000)),
        start,
        end,
        limit + 1,
    );
    let page: Vec<Value> = all
        .iter()
        .take(limit)
        .map(|b| json!({"o": b.open, "h": b.high, "l": b.low, "c": b.close, "v": b.volume, "vw": (b.high + b.low + b.close) / 3.0, "t": b.ts.timestamp_millis(), "n": b.volume / 3}))
        .collect();
    let mut body = json!({
        "ticker": ticker, "queryCount": page.len(), "resultsCount": page.len(), "adjusted": true,
        "results": page, "status": "OK", "request_id": "sandbox", "count": page.len(),
    });
    if let Some(next) = all.get(limit) {
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("127.0.0.1");
        body["next_url"] = json!(format!(
            "http://{host}/polygon/v2/aggs/ticker/{ticker}/range/{mult}/{span}/{from}/{to}?cursor={}&limit={limit}",
            next.ts.timestamp_millis()
        ));
    }
    ok(body)
}

pub(super) fn massive_fault(fault: Fault) -> Response {
    match fault {
        Fault::Outage | Fault::Timeout | Fault::Refusal => json_reply(
            StatusCode::BAD_GATEWAY,
            json!({"status": "ERROR", "request_id": "sandbox", "error": "Bad gateway"}),
        ),
        Fault::RateLimited => {
            let mut res = json_reply(
                StatusCode::TOO_MANY_REQUESTS,
                json!({"status": "ERROR", "request_id": "sandbox", "error": "You've exceeded the maximum requests per minute, please wait or upgrade your subscription to continue. https://massive.com/pricing"}),
            );
            res.headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
            res
        }
        Fault::NotAuthorized => json_reply(
            StatusCode::FORBIDDEN,
            json!({"status": "NOT_AUTHORIZED", "request_id": "sandbox", "message": "You are not entitled to this data. Please upgrade your plan at https://massive.com/pricing"}),
        ),
    }
}

/// A Massive time filter: UNIX ns or `YYYY-MM-DD` (midnight UTC).
fn massive_time(raw: &str) -> Option<DateTime<Utc>> {
    if let Ok(ns) = raw.parse::<i64>() {
        return Some(DateTime::from_timestamp_nanos(ns));
    }
    let day = NaiveDate::parse_from_str(raw, "%Y-%m-%d").ok()?;
    Some(day.and_hms_opt(0, 0, 0)?.and_utc())
}

/// Massive's futures `resolution` (`1sec`…`59sec`, `1min`…`59min`, `1hour`…`23hour`,
/// `1session`) as seconds; `None` for what Massive refuses.
fn massive_resolution(raw: &str) -> Option<i64> {
    let digits = raw.find(|c: char| !c.is_ascii_digit())?;
    let (n, unit) = raw.split_at(digits);
    let n: i64 = n.parse().ok()?;
    let unit = unit
        .strip_suffix('s')
        .filter(|u| *u != "se")
        .unwrap_or(unit);
    let (len, max) = match unit {
        "sec" => (1, 59),
        "min" => (60, 59),
        "hour" => (3600, 23),
        "session" => (86_400, 1),
        _ => return None,
    };
    (1..=max).contains(&n).then_some(n * len)
}

/// Massive futures aggregates `GET /futures/v1/aggs/{ticker}` for a listed contract (`ESZ6`),
/// paged by `next_url` (a cursor at the next bar's start); `late_until`: a `late` fault's
/// newest bar end.
pub(super) fn massive_futures_aggs(
    headers: &HeaderMap,
    ticker: &str,
    query: &HashMap<String, String>,
    late_until: Option<DateTime<Utc>>,
) -> Response {
    let bad = |msg: &str| {
        json_reply(
            StatusCode::BAD_REQUEST,
            json!({"status": "ERROR", "request_id": "sandbox", "error": msg}),
        )
    };
    if ohlcv::futures_root(ticker).is_none() || ticker.contains('.') {
        return json_reply(
            StatusCode::NOT_FOUND,
            json!({"status": "NOT_FOUND", "request_id": "sandbox", "message": format!("Ticker {ticker} not found.")}),
        );
    }
    let resolution = query.get("resolution").map_or("1min", String::as_str);
    let Some(len) = massive_resolution(resolution) else {
        return bad("Bad Request - resolution value is not allowed.");
    };
    let q = |k: &str| query.get(k).map(String::as_str);
    let (Some(start), Some(end)) = (
        q("window_start.gte").and_then(massive_time),
        q("window_start.lt").and_then(massive_time),
    ) else {
        return bad(
            "the sandbox serves window_start.gte with window_start.lt (UNIX ns or YYYY-MM-DD)",
        );
    };
    if q("sort").is_some_and(|s| s != "window_start.asc") {
        return bad("the sandbox serves sort=window_start.asc");
    }
    let limit = q("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .unwrap_or(1000)
        .clamp(1, 50_000)
        .min(POLYGON_PAGE);
    let start = q("cursor")
        .and_then(|c| c.parse::<i64>().ok())
        .map(DateTime::from_timestamp_nanos)
        .map_or(start, |c| c.max(start));
    let all = ohlcv::bars(
        ticker,
        len,
        start,
        late_end(end, len, late_until),
        limit + 1,
    );
    let page: Vec<Value> = all
        .iter()
        .take(limit)
        .map(|b| {
            json!({"ticker": ticker, "open": b.open, "high": b.high, "low": b.low, "close": b.close,
                "volume": b.volume, "dollar_volume": b.close * b.volume as f64 * 50.0,
                "transactions": b.volume / 3, "window_start": b.ts.timestamp_nanos_opt(),
                "session_end_date": crate::domain::calendar::trade_date(b.ts).to_string()})
        })
        .collect();
    let mut body = json!({"status": "OK", "request_id": "sandbox", "results": page});
    if let Some(next) = all.get(limit) {
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("127.0.0.1");
        let query = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("resolution", resolution)
            .append_pair(
                "window_start.gte",
                q("window_start.gte").unwrap_or_default(),
            )
            .append_pair("window_start.lt", q("window_start.lt").unwrap_or_default())
            .append_pair("limit", &limit.to_string())
            .append_pair("sort", "window_start.asc")
            .append_pair(
                "cursor",
                &next
                    .ts
                    .timestamp_nanos_opt()
                    .unwrap_or_default()
                    .to_string(),
            )
            .finish();
        let url = format!("http://{host}/polygon/futures/v1/aggs/{ticker}?{query}");
        body["next_url"] = json!(url);
    }
    ok(body)
}
