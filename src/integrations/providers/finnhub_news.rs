//! Finnhub market news for the news gate: `GET /news?category=general&minId=N` with the key in
//! the `X-Finnhub-Token` header (reference/providers.md §3: header auth preferred over
//! `?token=`). The answer is a JSON array of `{category, datetime (UNIX s), headline, id,
//! image, related, source, summary, url}`; `minId` asks only for ids above it.
//!
//! Errors are `{"error": "<message>"}`: 401 `Invalid API key.` (a bad key), 401/403 "You don't
//! have access to this resource." (a plan limit), 429 (the rate limit; retried by the call
//! path honouring `retry-after`).

use serde_json::Value;

use super::{ProviderClient, excerpt, join};
use crate::domain::{news::NewsItem, provider::Outcome};
use crate::integrations::{
    http::{Auth, CallContext, CallKind, Request, bad_response, classify_status},
    outcome::{Failure, codes},
};

/// Usage-event action of a market-news fetch.
pub const ACTION: &str = "news.market";

/// Market news of `category` (`general`, `forex`, `crypto`, `merger`) newer than `min_id`
/// (0: the latest page), through the one call path (a read: retried on 429/5xx).
pub async fn market_news(
    c: &ProviderClient,
    category: &str,
    min_id: i64,
    ctx: CallContext,
) -> Result<Vec<NewsItem>, Failure> {
    let url = join(c.base()?, "/news");
    let req = Request::get(ACTION, url, CallKind::Read)
        .query("category", category)
        .query("minId", min_id.to_string())
        .auth(Auth::Header(
            "X-Finnhub-Token",
            c.secret("FINNHUB_API_KEY")?,
        ))
        .ctx(ctx);
    c.http
        .call_described(
            req,
            |r| {
                let body = r.json().unwrap_or(Value::Null);
                let text = body["error"].as_str().unwrap_or("");
                if matches!(r.status, 401 | 403) && text.contains("access") {
                    return Err(Failure {
                        outcome: Outcome::InsufficientPlan,
                        code: codes::INSUFFICIENT_PLAN,
                        message: format!("HTTP {}: {}", r.status, excerpt(c, &r.body)),
                        http_status: Some(r.status),
                        retry_after: r.retry_after(),
                    });
                }
                classify_status(r, c.http.redactor())?;
                let Value::Array(items) = body else {
                    return Err(bad_response("news is not a JSON array"));
                };
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    let parsed: NewsItem = serde_json::from_value(item)
                        .map_err(|e| bad_response(&format!("news item: {e}")))?;
                    if parsed.published_at().is_none() {
                        return Err(bad_response("news item `datetime` out of range"));
                    }
                    out.push(parsed);
                }
                Ok(out)
            },
            |items: &Vec<NewsItem>| serde_json::json!({"items": items.len(), "min_id": min_id}),
        )
        .await
}
