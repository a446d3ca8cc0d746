//! Macro data through the one call path: FMP's economic calendar and FRED series
//! observations (reference/providers.md §5, §6). Reads (retried on 429/5xx/transport), each
//! one usage event; the provider actor wraps them in its breaker.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde_json::Value;

use super::{ProviderClient, excerpt, join};
use crate::domain::economic_calendar::EconomicEvent;
use crate::domain::provider::Outcome;
use crate::domain::strategy_filters::MacroSeries;
use crate::integrations::{
    http::{Auth, CallContext, CallKind, Reply, Request, bad_response, classify_status},
    outcome::{Failure, codes},
};
use crate::store::macro_data::Observation;

fn err(outcome: Outcome, code: &'static str, reply: &Reply, client: &ProviderClient) -> Failure {
    Failure {
        outcome,
        code,
        message: format!("HTTP {}: {}", reply.status, excerpt(client, &reply.body)),
        http_status: Some(reply.status),
        retry_after: reply.retry_after(),
    }
}

/// FMP signals problems with an `Error Message` body (object or one-element array), on any
/// status: a bad key, a plan without the endpoint, the daily limit.
fn fmp_error(r: &Reply, c: &ProviderClient) -> Option<Failure> {
    let body = r.json()?;
    let m = body["Error Message"]
        .as_str()
        .or(body[0]["Error Message"].as_str())?
        .to_ascii_lowercase();
    let (outcome, code) = if m.contains("invalid api key") || r.status == 401 {
        (Outcome::InvalidCredentials, codes::INVALID_CREDENTIALS)
    } else if m.contains("limit reach") || r.status == 429 {
        (Outcome::RateLimited, codes::RATE_LIMITED)
    } else if m.contains("subscription")
        || m.contains("plan")
        || m.contains("premium")
        || m.contains("exclusive")
        || r.status == 402
        || r.status == 403
    {
        (Outcome::InsufficientPlan, codes::INSUFFICIENT_PLAN)
    } else {
        (Outcome::ProviderError, codes::BAD_RESPONSE)
    };
    Some(err(outcome, code, r, c))
}

/// FMP `GET /stable/economic-calendar?from=YYYY-MM-DD&to=YYYY-MM-DD&apikey=…`: every event of
/// the days `from..=to`. `date` is `YYYY-MM-DD HH:MM:SS` in UTC.
pub async fn fetch_fmp_calendar(
    c: &ProviderClient,
    from: NaiveDate,
    to: NaiveDate,
    ctx: CallContext,
) -> Result<Vec<EconomicEvent>, Failure> {
    let url = join(c.base()?, "/stable/economic-calendar");
    let req = Request::get("macro.economic_calendar", url, CallKind::Read)
        .query("from", from.format("%Y-%m-%d").to_string())
        .query("to", to.format("%Y-%m-%d").to_string())
        .auth(Auth::Query("apikey", c.secret("FMP_API_KEY")?))
        .ctx(ctx);
    c.http
        .call_described(
            req,
            |r| {
                if let Some(f) = fmp_error(r, c) {
                    return Err(f);
                }
                classify_status(r, c.http.redactor())?;
                match r.json() {
                    Some(Value::Array(rows)) => parse_fmp_events(&rows),
                    _ => Err(bad_response("economic calendar is not a JSON array")),
                }
            },
            |events: &Vec<EconomicEvent>| serde_json::json!({ "events": events.len() }),
        )
        .await
}

/// Rows without a usable event name, country or time are skipped (FMP lists some with no
/// time); a row whose `date` does not parse fails the read (the shape changed).
pub fn parse_fmp_events(rows: &[Value]) -> Result<Vec<EconomicEvent>, Failure> {
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let (Some(event), Some(country), Some(date)) = (
            row["event"].as_str().filter(|s| !s.is_empty()),
            row["country"].as_str().filter(|s| !s.is_empty()),
            row["date"].as_str(),
        ) else {
            continue;
        };
        let at = NaiveDateTime::parse_from_str(date, "%Y-%m-%d %H:%M:%S")
            .map_err(|_| bad_response(&format!("economic calendar date `{date}`")))?;
        out.push(EconomicEvent {
            event: event.to_owned(),
            country: country.to_owned(),
            impact: row["impact"].as_str().unwrap_or("None").to_owned(),
            event_at: DateTime::<Utc>::from_naive_utc_and_offset(at, Utc),
        });
    }
    Ok(out)
}

/// FRED `GET /fred/series/observations?series_id=…&api_key=…&file_type=json&sort_order=desc&limit=N`:
/// the newest `limit` observations (`"."` = missing → `None`). A 400 naming `api_key` is a bad
/// key; other 400s (an unknown series) are request errors.
pub async fn fetch_fred_observations(
    c: &ProviderClient,
    series: MacroSeries,
    limit: u32,
    ctx: CallContext,
) -> Result<Vec<Observation>, Failure> {
    let url = join(c.base()?, "/fred/series/observations");
    let req = Request::get("macro.fred_observations", url, CallKind::Read)
        .query("series_id", series.as_str())
        .query("file_type", "json")
        .query("sort_order", "desc")
        .query("limit", limit.to_string())
        .auth(Auth::Query("api_key", c.secret("FRED_API_KEY")?))
        .ctx(ctx)
        .meta(serde_json::json!({ "series_id": series.as_str() }));
    c.http
        .call(req, |r| {
            let body = r.json().unwrap_or(Value::Null);
            if r.status == 400
                && body["error_message"]
                    .as_str()
                    .is_some_and(|m| m.contains("api_key"))
            {
                return Err(err(
                    Outcome::InvalidCredentials,
                    codes::INVALID_CREDENTIALS,
                    r,
                    c,
                ));
            }
            classify_status(r, c.http.redactor())?;
            let rows = body["observations"]
                .as_array()
                .ok_or_else(|| bad_response("observations has no `observations` array"))?;
            rows.iter()
                .map(|o| {
                    let date = o["date"]
                        .as_str()
                        .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
                        .ok_or_else(|| bad_response("observation without a date"))?;
                    let value = match o["value"].as_str() {
                        Some(".") | None => None,
                        Some(v) => Some(
                            v.parse::<f64>()
                                .map_err(|_| bad_response(&format!("observation value `{v}`")))?,
                        ),
                    };
                    Ok(Observation { date, value })
                })
                .collect()
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fmp_rows_parse_as_utc_and_skip_incomplete_ones() {
        let rows = vec![
            json!({"date": "2026-12-10 13:30:00", "country": "US", "event": "CPI (MoM)",
                   "currency": "USD", "previous": 0.3, "estimate": 0.2, "actual": null,
                   "change": null, "impact": "High", "changePercentage": 0}),
            json!({"date": "2026-12-10 13:30:00", "country": "", "event": "Nameless"}),
            json!({"date": "2026-12-11 09:00:00", "country": "EU", "event": "ECB Rate"}),
        ];
        let events = parse_fmp_events(&rows).unwrap();
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].event_at.to_rfc3339(), "2026-12-10T13:30:00+00:00");
        assert_eq!(events[0].impact, "High");
        assert_eq!(events[1].impact, "None");
        let bad = vec![json!({"date": "10/12/2026", "country": "US", "event": "CPI"})];
        assert_eq!(
            parse_fmp_events(&bad).unwrap_err().code,
            codes::BAD_RESPONSE
        );
    }
}
