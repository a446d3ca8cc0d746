//! Market-data and alt-data vendors: verify mapped from each vendor's real answers, and the
//! Polygon/Massive aggregates client (pagination via `next_url`), which decodes each row
//! straight into a `domain::bars::Bar` on the instrument's tick grid.

use chrono::{DateTime, Utc};
use rust_decimal::{Decimal, prelude::ToPrimitive};
use serde::Deserialize;
use serde_json::Value;
use url::Url;

use super::{ProviderClient, excerpt, join};
use crate::domain::{
    bars::Bar, instruments::ContractSpec, provider::Outcome, timeframe::Timeframe,
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

/// Polygon's `(multiplier, timespan)` for a timeframe.
const fn polygon_span(tf: Timeframe) -> (u32, &'static str) {
    match tf {
        Timeframe::S1 => (1, "second"),
        Timeframe::M1 => (1, "minute"),
        Timeframe::M5 => (5, "minute"),
        Timeframe::M15 => (15, "minute"),
        Timeframe::H1 => (1, "hour"),
        Timeframe::D1 => (1, "day"),
    }
}

/// Polygon/Massive aggregates `GET /v2/aggs/ticker/{t}/range/{m}/{span}/{from}/{to}` for
/// `[from, to)`, following `next_url` (auth re-attached only for the configured host). Each
/// page is one usage event. Bars come back with prices on `spec`'s tick grid.
pub async fn polygon_aggregates(
    c: &ProviderClient,
    spec: &ContractSpec,
    ticker: &str,
    timeframe: Timeframe,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    ctx: CallContext,
) -> Result<Vec<Bar>, Failure> {
    let base = c.base()?.clone();
    let key = c.secret("POLYGON_API_KEY")?;
    let (multiplier, timespan) = polygon_span(timeframe);
    // Polygon's `to` is inclusive.
    let (from, to) = (from.timestamp_millis(), to.timestamp_millis() - 1);
    let path = format!("/v2/aggs/ticker/{ticker}/range/{multiplier}/{timespan}/{from}/{to}");
    let mut next: Option<Url> = Some(join(&base, &path));
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
                .query("adjusted", "true")
                .query("sort", "asc")
                .query("limit", "50000");
            first = false;
        }
        let page = c
            .http
            .call(req, |r| {
                classify_status(r, c.http.redactor())?;
                let body = r
                    .json()
                    .ok_or_else(|| bad_response("aggregates: not JSON"))?;
                let mut out = Vec::new();
                for row in body["results"].as_array().map(Vec::as_slice).unwrap_or(&[]) {
                    out.push(
                        polygon_bar(row, spec)
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

/// One row of Polygon's `results`. serde_json reads a JSON number as f64 and rust_decimal
/// takes that float's shortest decimal text (`5030.25` stays `5030.25`, never
/// `5030.250000000000181…`), which is the number as the vendor wrote it.
#[derive(Deserialize)]
struct PolygonAgg {
    t: i64,
    o: Decimal,
    h: Decimal,
    l: Decimal,
    c: Decimal,
    v: Decimal,
}

/// A Polygon row as a bar on the tick grid; `None` for a negative or unreadable price or
/// volume. Volume is a count (a fraction is dropped).
fn polygon_bar(row: &Value, spec: &ContractSpec) -> Option<Bar> {
    let agg = PolygonAgg::deserialize(row).ok()?;
    if agg.v < Decimal::ZERO {
        return None;
    }
    let volume = agg.v.trunc().to_u64()?;
    Some(Bar {
        ts_open: DateTime::from_timestamp_millis(agg.t)?,
        open: spec.snap(agg.o)?,
        high: spec.snap(agg.h)?,
        low: spec.snap(agg.l)?,
        close: spec.snap(agg.c)?,
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
    fn polygon_rows_decode_onto_the_tick_grid() {
        let es = Symbol::Es.spec();
        let row = json!({"t": 1_764_000_000_000_i64, "o": 5030, "h": 5030.2500001, "l": 5029.9,
                         "c": 5030.25, "v": 12.0, "vw": 5030.1, "n": 3});
        let bar = polygon_bar(&row, &es).unwrap();
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
        let row = json!({"t": 0, "o": 2310.1, "h": 2310.3, "l": 2309.9, "c": 2310.2, "v": 1});
        let bar = polygon_bar(&row, &rty).unwrap();
        assert_eq!((bar.open, bar.close), (dec!(2310.1), dec!(2310.2)));
        assert!(
            [bar.open, bar.high, bar.low, bar.close]
                .iter()
                .all(|p| rty.is_on_tick(*p))
        );
    }

    #[test]
    fn polygon_rows_with_bad_numbers_are_refused() {
        let es = Symbol::Es.spec();
        let ok = json!({"t": 0, "o": 1, "h": 1, "l": 1, "c": 1, "v": 1});
        assert!(polygon_bar(&ok, &es).is_some());
        for (field, value) in [
            ("o", json!(-0.25)),
            ("c", json!("abc")),
            ("h", json!(null)),
            ("l", json!(1e300)),
            ("v", json!(-1)),
            ("t", json!(1.5)),
        ] {
            let mut row = ok.clone();
            row[field] = value.clone();
            assert!(polygon_bar(&row, &es).is_none(), "{field} = {value}");
        }
    }
}
