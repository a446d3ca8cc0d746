//! FMP's economic calendar and FRED's series observations, deterministic: the same range
//! always lists the same events, the same series the same values. Strict like the vendors:
//! a missing key, or one that is not a sandbox key (`sandbox…`), gets the vendor's error body
//! (FMP 401 `{"Error Message": …}`, FRED 400 `{"error_code": 400, "error_message": …}`); FRED
//! wants `file_type=json` and a known series. Faults (`/_sandbox/faults`, vendors `fmp` and
//! `fred`) answer in the vendor's shapes.
//!
//! Schedule (UTC): US "CPI (MoM)" High every Tuesday 13:30; US "Initial Jobless Claims" Medium
//! every Thursday 13:30; US "Nonfarm Payrolls" High the first Friday of the month 13:30; US
//! "FOMC Interest Rate Decision" High the third Wednesday of the month 19:00; EU "ECB Interest
//! Rate Decision" High the second Thursday of the month 13:15.

use std::collections::HashMap;

use axum::http::StatusCode;
use axum::response::Response;
use chrono::{Datelike, Duration, NaiveDate, Weekday};
use serde_json::{Value, json};

use super::{Fault, SandboxState, json_reply, ok, stall};

const FMP_BAD_KEY: &str = "Invalid API KEY. Please retry or visit our documentation to create one FREE https://financialmodelingprep.com/developer/docs";

/// Days per calendar request FMP allows (about 90).
const FMP_MAX_DAYS: i64 = 90;

/// The value each series sits at (a small deterministic wobble is added per day).
pub fn series_level(series: &str) -> Option<f64> {
    match series {
        "DGS10" => Some(4.25),
        "DGS2" => Some(3.90),
        "FEDFUNDS" => Some(4.33),
        "VIXCLS" => Some(16.5),
        _ => None,
    }
}

fn key_ok(key: Option<&str>) -> bool {
    key.is_some_and(|k| k.starts_with("sandbox"))
}

pub(super) async fn route(
    state: &SandboxState,
    segments: &[&str],
    query: &HashMap<String, String>,
) -> Option<Response> {
    let q = |k: &str| query.get(k).map(String::as_str).filter(|v| !v.is_empty());
    match segments {
        ["fmp", "stable", "economic-calendar"] => {
            if !key_ok(q("apikey")) {
                return Some(json_reply(
                    StatusCode::UNAUTHORIZED,
                    json!({"Error Message": FMP_BAD_KEY}),
                ));
            }
            if let Some(fault) = state.take_fault("fmp") {
                stall(fault).await;
                return Some(fmp_fault(fault));
            }
            let day = |k: &str| q(k).and_then(|v| NaiveDate::parse_from_str(v, "%Y-%m-%d").ok());
            let (Some(from), Some(to)) = (day("from"), day("to")) else {
                return Some(json_reply(
                    StatusCode::BAD_REQUEST,
                    json!({"Error Message": "Invalid or missing `from`/`to` (YYYY-MM-DD)."}),
                ));
            };
            if to < from || (to - from).num_days() > FMP_MAX_DAYS {
                return Some(json_reply(
                    StatusCode::BAD_REQUEST,
                    json!({"Error Message": "The date range must be at most 90 days, `from` before `to`."}),
                ));
            }
            Some(ok(Value::Array(calendar(from, to))))
        }
        ["fred", "fred", "series", "observations"] => {
            match q("api_key") {
                None => {
                    return Some(fred_error(
                        StatusCode::BAD_REQUEST,
                        "Bad Request.  Variable api_key has not been set.",
                    ));
                }
                Some(k) if !key_ok(Some(k)) => {
                    return Some(fred_error(
                        StatusCode::BAD_REQUEST,
                        "Bad Request.  The value for variable api_key is not registered.  Read https://fred.stlouisfed.org/docs/api/api_key.html for more information.",
                    ));
                }
                Some(_) => {}
            }
            if let Some(fault) = state.take_fault("fred") {
                stall(fault).await;
                return Some(fred_fault(fault));
            }
            if q("file_type") != Some("json") {
                return Some(fred_error(
                    StatusCode::BAD_REQUEST,
                    "Bad Request.  The sandbox only answers file_type=json.",
                ));
            }
            let series = q("series_id").unwrap_or_default();
            let Some(level) = series_level(series) else {
                return Some(fred_error(
                    StatusCode::BAD_REQUEST,
                    "Bad Request.  The series does not exist.",
                ));
            };
            let limit: usize = q("limit")
                .and_then(|l| l.parse().ok())
                .unwrap_or(100)
                .min(1000);
            let desc = q("sort_order") == Some("desc");
            let today = state.clock.now().date_naive();
            Some(ok(observations(series, level, today, limit, desc)))
        }
        _ => None,
    }
}

fn fred_error(status: StatusCode, message: &str) -> Response {
    json_reply(
        status,
        json!({"error_code": status.as_u16(), "error_message": message}),
    )
}

fn fmp_fault(fault: Fault) -> Response {
    match fault {
        Fault::RateLimited => json_reply(
            StatusCode::TOO_MANY_REQUESTS,
            json!({"Error Message": "Limit Reach . Please upgrade your plan or visit our documentation for more details at https://financialmodelingprep.com/"}),
        ),
        Fault::NotAuthorized => json_reply(
            StatusCode::FORBIDDEN,
            json!({"Error Message": "Exclusive Endpoint : This endpoint is not available under your current subscription please visit our subscription page to upgrade your plan at https://financialmodelingprep.com/"}),
        ),
        Fault::Outage | Fault::Timeout | Fault::Refusal => json_reply(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"Error Message": "Service temporarily unavailable."}),
        ),
    }
}

fn fred_fault(fault: Fault) -> Response {
    match fault {
        Fault::RateLimited => fred_error(
            StatusCode::TOO_MANY_REQUESTS,
            "Too Many Requests.  Exceeded Rate Limit",
        ),
        Fault::NotAuthorized => fred_error(
            StatusCode::BAD_REQUEST,
            "Bad Request.  The value for variable api_key is not registered.  Read https://fred.stlouisfed.org/docs/api/api_key.html for more information.",
        ),
        Fault::Outage | Fault::Timeout | Fault::Refusal => {
            fred_error(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
        }
    }
}

fn nth_weekday(day: NaiveDate, weekday: Weekday) -> u32 {
    if day.weekday() == weekday {
        (day.day() - 1) / 7 + 1
    } else {
        0
    }
}

/// The scheduled events of the days `from..=to`, in FMP's row shape.
pub fn calendar(from: NaiveDate, to: NaiveDate) -> Vec<Value> {
    let mut rows = Vec::new();
    let mut day = from;
    while day <= to {
        let mut add = |time: &str, country: &str, currency: &str, event: &str, impact: &str| {
            rows.push(json!({
                "date": format!("{} {time}", day.format("%Y-%m-%d")),
                "country": country, "event": event, "currency": currency,
                "previous": 0.2, "estimate": 0.3, "actual": null, "change": null,
                "impact": impact, "changePercentage": 0,
            }));
        };
        if day.weekday() == Weekday::Tue {
            add("13:30:00", "US", "USD", "CPI (MoM)", "High");
        }
        if day.weekday() == Weekday::Thu {
            add("13:30:00", "US", "USD", "Initial Jobless Claims", "Medium");
        }
        if nth_weekday(day, Weekday::Fri) == 1 {
            add("13:30:00", "US", "USD", "Nonfarm Payrolls", "High");
        }
        if nth_weekday(day, Weekday::Wed) == 3 {
            add(
                "19:00:00",
                "US",
                "USD",
                "FOMC Interest Rate Decision",
                "High",
            );
        }
        if nth_weekday(day, Weekday::Thu) == 2 {
            add(
                "13:15:00",
                "EU",
                "EUR",
                "ECB Interest Rate Decision",
                "High",
            );
        }
        day += Duration::days(1);
    }
    rows
}

/// Business-day observations up to yesterday (FRED publishes with a lag); every tenth one is
/// missing (`"."`), as FRED's holidays are.
fn observations(series: &str, level: f64, today: NaiveDate, limit: usize, desc: bool) -> Value {
    let mut rows = Vec::new();
    let mut day = today - Duration::days(1);
    while rows.len() < limit {
        if !matches!(day.weekday(), Weekday::Sat | Weekday::Sun) {
            let n = day.num_days_from_ce();
            let value = if n % 10 == 0 {
                ".".to_string()
            } else {
                // Wobbles ±0.04 around the level; the newest business day is the level itself.
                let wobble = if rows.is_empty() {
                    0.0
                } else {
                    f64::from(n % 5 - 2) * 0.02
                };
                format!("{:.2}", level + wobble)
            };
            rows.push(json!({
                "realtime_start": today.to_string(), "realtime_end": today.to_string(),
                "date": day.to_string(), "value": value,
            }));
        }
        day -= Duration::days(1);
    }
    if !desc {
        rows.reverse();
    }
    json!({
        "realtime_start": today.to_string(), "realtime_end": today.to_string(),
        "observation_start": "1600-01-01", "observation_end": "9999-12-31",
        "units": "lin", "output_type": 1, "file_type": "json",
        "order_by": "observation_date", "sort_order": if desc { "desc" } else { "asc" },
        "count": rows.len(), "offset": 0, "limit": limit, "observations": rows,
        "series_id": series,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedule_is_fixed() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        // December 2026: Fri 4 (NFP), Tue 1/8/15/22/29 (CPI), Wed 16 (FOMC), Thu 10 (ECB).
        let rows = calendar(d("2026-12-01"), d("2026-12-31"));
        let named = |e: &str| {
            rows.iter()
                .filter(|r| r["event"] == e)
                .map(|r| r["date"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        };
        assert_eq!(named("Nonfarm Payrolls"), vec!["2026-12-04 13:30:00"]);
        assert_eq!(
            named("FOMC Interest Rate Decision"),
            vec!["2026-12-16 19:00:00"]
        );
        assert_eq!(
            named("ECB Interest Rate Decision"),
            vec!["2026-12-10 13:15:00"]
        );
        assert_eq!(named("CPI (MoM)").len(), 5);
        assert_eq!(calendar(d("2026-12-01"), d("2026-12-31")), rows);
    }

    #[test]
    fn newest_observation_is_the_level() {
        let today = NaiveDate::from_ymd_opt(2026, 12, 4).unwrap();
        let v = observations("DGS10", 4.25, today, 5, true);
        let obs = v["observations"].as_array().unwrap();
        assert_eq!(obs.len(), 5);
        assert_eq!(obs[0]["date"], "2026-12-03");
        let first = obs[0]["value"].as_str().unwrap();
        assert!(first == "4.25" || first == ".", "{first}");
    }
}
