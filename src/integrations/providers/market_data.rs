//! Market-data and alt-data vendors: verify mapped from each vendor's real answers, and the
//! Massive (ex-Polygon) futures aggregates client (pagination via `next_url`), which decodes
//! each row straight into a `domain::bars::Bar` on the instrument's tick grid.

use chrono::{DateTime, Utc};
use rust_decimal::{Decimal, prelude::ToPrimitive};
use serde::Deserialize;
use serde_json::Value;
use url::Url;

use super::{ProviderClient, excerpt, join};
use crate::domain::{
    bars::Bar,
    contracts::{Contract, Vendor},
    instruments::ContractSpec,
    provider::Outcome,
    timeframe::Timeframe,
};
use crate::integrations::{
    http::{Auth, CallContext, CallKind, Reply, Request, bad_response, classify_status},
    outcome::{Failure, codes},
};

fn err(outcome: Outcome, code: &'static str, reply: &Reply, client: &ProviderClient) -> Failure {
    Failure {
        outcome,
        code,
        message: format!("HTTP {}: {}", reply.status, excerpt(client, &reply.body)),
        http_status: Some(reply.status),
        retry_after: reply.retry_after(),
    }
}

/// Databento: `GET /v0/metadata.list_datasets` (metadata, not billed), Basic auth with the key
/// as user name. Success is a JSON array of dataset codes; 401/403 mean a bad key.
pub async fn verify_databento(c: &ProviderClient) -> Result<String, Failure> {
    let url = join(c.base()?, "/v0/metadata.list_datasets");
    let req = Request::get("verify", url, CallKind::Verify)
        .auth(Auth::BasicKey(c.secret("DATABENTO_API_KEY")?));
    c.http
        .call(req, |r| {
            classify_status(r, c.http.redactor())?;
            match r.json() {
                Some(Value::Array(sets)) => Ok(format!("{} datasets visible", sets.len())),
                _ => Err(bad_response("metadata.list_datasets is not a JSON array")),
            }
        })
        .await
}

/// Polygon/Massive: `GET /v1/marketstatus/now` (all plans), Bearer auth. 401 "Unknown API Key"
/// is a bad key; 403 `NOT_AUTHORIZED` is a valid key without the entitlement.
pub async fn verify_polygon(c: &ProviderClient) -> Result<String, Failure> {
    let url = join(c.base()?, "/v1/marketstatus/now");
    let req = Request::get("verify", url, CallKind::Verify)
        .auth(Auth::Bearer(c.secret("POLYGON_API_KEY")?));
    c.http
        .call(req, |r| {
            let body = r.json().unwrap_or(Value::Null);
            if r.status == 403 && body["status"] == "NOT_AUTHORIZED" {
                return Err(err(
                    Outcome::InsufficientPlan,
                    codes::INSUFFICIENT_PLAN,
                    r,
                    c,
                ));
            }
            classify_status(r, c.http.redactor())?;
            match body["market"].as_str() {
                Some(m) => Ok(format!("market status: {m}")),
                None => Err(bad_response("marketstatus/now has no `market`")),
            }
        })
        .await
}

/// Finnhub: `GET /stock/market-status?exchange=US` with the `X-Finnhub-Token` header. 401
/// `Invalid API key.` is a bad key; 401/403 "You don't have access…" is a plan limit.
pub async fn verify_finnhub(c: &ProviderClient) -> Result<String, Failure> {
    let url = join(c.base()?, "/stock/market-status");
    let req = Request::get("verify", url, CallKind::Verify)
        .query("exchange", "US")
        .auth(Auth::Header(
            "X-Finnhub-Token",
            c.secret("FINNHUB_API_KEY")?,
        ));
    c.http
        .call(req, |r| {
            let body = r.json().unwrap_or(Value::Null);
            let text = body["error"].as_str().unwrap_or("");
            if matches!(r.status, 401 | 403) && text.contains("access") {
                return Err(err(
                    Outcome::InsufficientPlan,
                    codes::INSUFFICIENT_PLAN,
                    r,
                    c,
                ));
            }
            classify_status(r, c.http.redactor())?;
            match body.get("isOpen") {
                Some(open) => Ok(format!("US market open: {open}")),
                None => Err(bad_response("market-status has no `isOpen`")),
            }
        })
        .await
}

/// Alpha Vantage answers every request with HTTP 200 and accepts wrong keys, so a data answer
/// only proves reachability (`unverifiable`); `Information`/`Note` is its throttle message.
pub async fn verify_alphavantage(c: &ProviderClient) -> Result<String, Failure> {
    let url = join(c.base()?, "/query");
    let req = Request::get("verify", url, CallKind::Verify)
        .query("function", "GLOBAL_QUOTE")
        .query("symbol", "IBM")
        .auth(Auth::Query("apikey", c.secret("ALPHAVANTAGE_API_KEY")?));
    c.http
        .call(req, |r| {
            classify_status(r, c.http.redactor())?;
            let body = r.json().unwrap_or(Value::Null);
            if body.get("Information").is_some() || body.get("Note").is_some() {
                let text = body["Information"].as_str().or(body["Note"].as_str()).unwrap_or("");
                let outcome = if text.to_ascii_lowercase().contains("premium") {
                    (Outcome::InsufficientPlan, codes::INSUFFICIENT_PLAN)
                } else {
                    (Outcome::RateLimited, codes::RATE_LIMITED)
                };
                return Err(err(outcome.0, outcome.1, r, c));
            }
            if body.get("Error Message").is_some() {
                return Err(err(Outcome::ProviderError, codes::BAD_RESPONSE, r, c));
            }
            if body.get("Global Quote").is_some() {
                return Err(Failure::new(
                    Outcome::Unverifiable,
                    codes::UNVERIFIABLE,
                    "reachable; Alpha Vantage cannot prove a key valid (it serves data to wrong keys)",
                ));
            }
            Err(bad_response("GLOBAL_QUOTE has no `Global Quote`"))
        })
        .await
}

/// FMP: `GET /stable/quote?symbol=AAPL`; a bad key may come back as HTTP 200 with an
/// `Error Message` body (object or one-element array), so the body decides.
pub async fn verify_fmp(c: &ProviderClient) -> Result<String, Failure> {
    let url = join(c.base()?, "/stable/quote");
    let req = Request::get("verify", url, CallKind::Verify)
        .query("symbol", "AAPL")
        .auth(Auth::Query("apikey", c.secret("FMP_API_KEY")?));
    c.http
        .call(req, |r| {
            let body = r.json().unwrap_or(Value::Null);
            let message = body["Error Message"]
                .as_str()
                .or(body[0]["Error Message"].as_str())
                .map(str::to_owned);
            if let Some(m) = message {
                let lower = m.to_ascii_lowercase();
                let (outcome, code) = if lower.contains("invalid api key") {
                    (Outcome::InvalidCredentials, codes::INVALID_CREDENTIALS)
                } else if lower.contains("limit reach") {
                    (Outcome::RateLimited, codes::RATE_LIMITED)
                } else if lower.contains("subscription")
                    || lower.contains("plan")
                    || lower.contains("premium")
                {
                    (Outcome::InsufficientPlan, codes::INSUFFICIENT_PLAN)
                } else {
                    (Outcome::ProviderError, codes::BAD_RESPONSE)
                };
                return Err(err(outcome, code, r, c));
            }
            classify_status(r, c.http.redactor())?;
            match body {
                Value::Array(rows) => Ok(format!("{} quote row(s)", rows.len())),
                _ => Err(bad_response("quote is not a JSON array")),
            }
        })
        .await
}

/// FRED: `GET /fred/series?series_id=GNPCA&file_type=json`; a bad key is HTTP 400 whose
/// `error_message` mentions `api_key`; other 400s are not credential problems.
pub async fn verify_fred(c: &ProviderClient) -> Result<String, Failure> {
    let url = join(c.base()?, "/fred/series");
    let req = Request::get("verify", url, CallKind::Verify)
        .query("series_id", "GNPCA")
        .query("file_type", "json")
        .auth(Auth::Query("api_key", c.secret("FRED_API_KEY")?));
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
            match body["seriess"].as_array() {
                Some(s) => Ok(format!("{} series", s.len())),
                None => Err(bad_response("series has no `seriess`")),
            }
        })
        .await
}

/// Unusual Whales has no free "whoami": one small read (`/api/stock/SPY/info`, 1 quota unit).
pub async fn verify_unusual_whales(c: &ProviderClient) -> Result<String, Failure> {
    let url = join(c.base()?, "/api/stock/SPY/info");
    let req =
        Request::get("verify", url, CallKind::Verify).auth(Auth::Bearer(c.secret("UW_API_KEY")?));
    c.http
        .call(req, |r| {
            classify_status(r, c.http.redactor())?;
            match r.json() {
                Some(Value::Object(_)) => Ok("stock info read".to_owned()),
                _ => Err(bad_response("stock info is not a JSON object")),
            }
        })
        .await
}

/// Most pages followed for one request (50,000 bars each): a runaway `next_url` loop stops.
const MAX_PAGES: usize = 100;

/// Massive's futures `resolution` for a timeframe (a number and a unit; minutes stop at 59).
const fn massive_resolution(tf: Timeframe) -> &'static str {
    match tf {
        Timeframe::S1 => "1sec",
        Timeframe::M1 => "1min",
        Timeframe::M5 => "5min",
        Timeframe::M15 => "15min",
        Timeframe::H1 => "1hour",
        Timeframe::D1 => "1session",
    }
}

/// Massive (ex-Polygon) futures aggregates `GET /futures/v1/aggs/{ticker}` for one listed
/// contract (`ESZ6`; the stocks endpoint `/v2/aggs/ticker/…` has no futures) in `[from, to)`:
/// `resolution`, `window_start.gte`/`window_start.lt` in UNIX ns, `limit=50000`,
/// `sort=window_start.asc`, Bearer auth; pages follow `next_url` (auth re-attached only for the
/// configured host). Each page is one usage event. Bars come back on the root's tick grid; a
/// 403 `NOT_AUTHORIZED` (plan without futures) is `INSUFFICIENT_PLAN`.
///
/// The secondary is polled through this endpoint, never streamed: Massive's WebSocket feeds
/// are per market (`wss://socket.massive.com/<market>`), whether a plan includes futures is
/// not confirmed (reference/providers.md §2, §12) and a plan-gated resource answers
/// `NOT_AUTHORIZED`. The feed reads the secondary only while failed over, once per
/// boundary for every bot of a series (`runtime::feed`), so polling costs one request per bar.
pub async fn massive_futures_aggregates(
    c: &ProviderClient,
    contract: &Contract,
    timeframe: Timeframe,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    ctx: CallContext,
) -> Result<Vec<Bar>, Failure> {
    let base = c.base()?.clone();
    let key = c.secret("POLYGON_API_KEY")?;
    let spec = contract.root.spec();
    let (Some(from_ns), Some(to_ns)) = (from.timestamp_nanos_opt(), to.timestamp_nanos_opt())
    else {
        return Err(bad_response("time range out of bounds"));
    };
    let ticker = contract.spelled_for(Vendor::Massive);
    let mut next: Option<Url> = Some(join(&base, &format!("/futures/v1/aggs/{ticker}")));
    let mut first = true;
    let mut bars = Vec::new();
    let mut pages = 0;
    while let Some(url) = next.take() {
        pages += 1;
        if pages > MAX_PAGES {
            return Err(bad_response("aggregates: too many next_url pages"));
        }
        if url.host_str() != base.host_str()
            || url.port_or_known_default() != base.port_or_known_default()
        {
            return Err(bad_response("aggregates: next_url points at another host"));
        }
        let mut req = Request::get("bars.fetch", url, CallKind::Read)
            .auth(Auth::Bearer(key.clone()))
            .ctx(ctx);
        if first {
            req = req
                .query("resolution", massive_resolution(timeframe))
                .query("window_start.gte", from_ns.to_string())
                .query("window_start.lt", to_ns.to_string())
                .query("limit", "50000")
                .query("sort", "window_start.asc");
            first = false;
        }
        let page = c
            .http
            .call(req, |r| {
                let body = r.json().unwrap_or(Value::Null);
                if r.status == 403 && body["status"] == "NOT_AUTHORIZED" {
                    return Err(err(
                        Outcome::InsufficientPlan,
                        codes::INSUFFICIENT_PLAN,
                        r,
                        c,
                    ));
                }
                classify_status(r, c.http.redactor())?;
                if body.is_null() {
                    return Err(bad_response("aggregates: not JSON"));
                }
                let mut out = Vec::new();
                for row in body["results"].as_array().map(Vec::as_slice).unwrap_or(&[]) {
                    out.push(
                        massive_bar(row, &spec)
                            .ok_or_else(|| bad_response("aggregates: bad bar"))?,
                    );
                }
                let next = body["next_url"].as_str().and_then(|u| Url::parse(u).ok());
                Ok((out, next))
            })
            .await?;
        bars.extend(page.0);
        next = page.1;
    }
    Ok(bars)
}

/// One row of Massive's futures `results`. serde_json reads a JSON number as f64 and
/// rust_decimal takes that float's shortest decimal text (`5030.25` stays `5030.25`, never
/// `5030.250000000000181…`), which is the number as the vendor wrote it.
#[derive(Deserialize)]
struct MassiveAgg {
    /// Bar start, UNIX ns.
    window_start: i64,
    open: Decimal,
    high: Decimal,
    low: Decimal,
    close: Decimal,
    volume: Decimal,
}

/// A Massive futures row as a bar on the tick grid; `None` for a negative or unreadable price
/// or volume. Volume is a count (a fraction is dropped).
fn massive_bar(row: &Value, spec: &ContractSpec) -> Option<Bar> {
    let agg = MassiveAgg::deserialize(row).ok()?;
    if agg.volume < Decimal::ZERO {
        return None;
    }
    let volume = agg.volume.trunc().to_u64()?;
    Some(Bar {
        ts_open: DateTime::from_timestamp_nanos(agg.window_start),
        open: spec.snap(agg.open)?,
        high: spec.snap(agg.high)?,
        low: spec.snap(agg.low)?,
        close: spec.snap(agg.close)?,
        volume,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::instruments::Symbol;
    use rust_decimal_macros::dec;
    use serde_json::json;

    #[test]
    fn massive_rows_decode_onto_the_tick_grid() {
        let es = Symbol::Es.spec();
        let row = json!({"ticker": "ESZ5", "window_start": 1_764_000_000_000_000_000_i64, "open": 5030,
                         "high": 5030.2500001, "low": 5029.9, "close": 5030.25, "volume": 12.0,
                         "dollar_volume": 3.0e7, "transactions": 3, "session_end_date": "2025-11-25"});
        let bar = massive_bar(&row, &es).unwrap();
        assert_eq!(
            (bar.open, bar.high, bar.low, bar.close, bar.volume),
            (dec!(5030), dec!(5030.25), dec!(5030), dec!(5030.25), 12)
        );
        assert_eq!(bar.ts_open.timestamp_millis(), 1_764_000_000_000);
        // Exactly the tick's scale: what the API shows as the mark.
        assert_eq!(bar.close.to_string(), "5030.25");
        assert_eq!(bar.open.to_string(), "5030.00");
        // RTY's 0.1 tick: a float such as 2310.1 is read as its text, not its binary value.
        let rty = Symbol::Rty.spec();
        let row = json!({"window_start": 0, "open": 2310.1, "high": 2310.3, "low": 2309.9, "close": 2310.2, "volume": 1});
        let bar = massive_bar(&row, &rty).unwrap();
        assert_eq!((bar.open, bar.close), (dec!(2310.1), dec!(2310.2)));
        assert!(
            [bar.open, bar.high, bar.low, bar.close]
                .iter()
                .all(|p| rty.is_on_tick(*p))
        );
    }

    #[test]
    fn massive_rows_with_bad_numbers_are_refused() {
        let es = Symbol::Es.spec();
        let ok =
            json!({"window_start": 0, "open": 1, "high": 1, "low": 1, "close": 1, "volume": 1});
        assert!(massive_bar(&ok, &es).is_some());
        for (field, value) in [
            ("open", json!(-0.25)),
            ("close", json!("abc")),
            ("high", json!(null)),
            ("low", json!(1e300)),
            ("volume", json!(-1)),
            ("window_start", json!(1.5)),
        ] {
            let mut row = ok.clone();
            row[field] = value.clone();
            assert!(massive_bar(&row, &es).is_none(), "{field} = {value}");
        }
    }
}
