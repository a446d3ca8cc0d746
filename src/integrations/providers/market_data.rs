//! Market-data and alt-data vendors: verify mapped from each vendor's real answers, and the
//! Polygon/Massive aggregates client (pagination via `next_url`).

use serde_json::Value;
use url::Url;

use super::{ProviderClient, excerpt, join};
use crate::domain::provider::Outcome;
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

/// One OHLCV bar as the vendors give it (prices as floats, volume as a count).
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    pub ts: chrono::DateTime<chrono::Utc>,
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub close: f64,
    pub volume: f64,
}

/// Most pages followed for one request (50,000 bars each): a runaway `next_url` loop stops.
const MAX_PAGES: usize = 100;

/// Polygon/Massive aggregates `GET /v2/aggs/ticker/{t}/range/{m}/{span}/{from}/{to}`, following
/// `next_url` (auth re-attached only for the configured host). Each page is one usage event.
pub async fn polygon_aggregates(
    c: &ProviderClient,
    ticker: &str,
    multiplier: u32,
    timespan: &str,
    from: &str,
    to: &str,
    ctx: CallContext,
) -> Result<Vec<Bar>, Failure> {
    let base = c.base()?.clone();
    let key = c.secret("POLYGON_API_KEY")?;
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
                        parse_polygon_bar(row)
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

fn parse_polygon_bar(row: &Value) -> Option<Bar> {
    let ts = chrono::DateTime::from_timestamp_millis(row["t"].as_i64()?)?;
    Some(Bar {
        ts,
        open: row["o"].as_f64()?,
        high: row["h"].as_f64()?,
        low: row["l"].as_f64()?,
        close: row["c"].as_f64()?,
        volume: row["v"].as_f64()?,
    })
}
