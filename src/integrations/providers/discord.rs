//! Discord webhook posts (reference/providers.md §10.1): `POST` the webhook URL with
//! `{content, allowed_mentions}`; 204/200 is success, 429 carries `retry_after`. The URL holds
//! the token, so it is only ever handed to the call path, which redacts it.

use serde_json::Value;
use url::Url;

use super::{ProviderClient, excerpt};
use crate::domain::provider::Outcome;
use crate::integrations::{
    http::{Body, CallKind, Reply, Request, bad_response, classify_status},
    outcome::{Failure, codes},
};

/// Discord's limit on `content` (characters).
pub const CONTENT_MAX_CHARS: usize = 2000;

/// The webhook URL's path (id/token) on the configured host (the official one or an override).
fn webhook_url(c: &ProviderClient) -> Result<Url, Failure> {
    let hook = Url::parse(c.secret("DISCORD_WEBHOOK_URL")?.expose())
        .map_err(|_| bad_response("DISCORD_WEBHOOK_URL is not a URL"))?;
    let mut url = c.base()?.clone();
    url.set_path(hook.path());
    url.set_query(None);
    Ok(url)
}

/// Posts one message (never retried: a retry could post it twice). One usage event, action
/// `alert.post`, under the current trace id.
pub async fn post(c: &ProviderClient, payload: Value) -> Result<(), Failure> {
    let req = Request::post(
        "alert.post",
        webhook_url(c)?,
        Body::Json(payload),
        CallKind::Write,
    );
    c.http.call(req, |r| interpret(c, r)).await
}

fn interpret(c: &ProviderClient, r: &Reply) -> Result<(), Failure> {
    if (200..300).contains(&r.status) {
        return Ok(());
    }
    let body = r.json().unwrap_or(Value::Null);
    if r.status == 429 {
        // The body's `retry_after` (seconds, fractional) is the documented one; the header too.
        let after = body["retry_after"]
            .as_f64()
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(|s| std::time::Duration::from_secs_f64(s.min(3600.0)))
            .or_else(|| r.retry_after());
        return Err(Failure {
            outcome: Outcome::RateLimited,
            code: codes::RATE_LIMITED,
            message: format!("HTTP 429: {}", excerpt(c, &r.body)),
            http_status: Some(429),
            retry_after: after,
        });
    }
    // Bad token (50027) or deleted webhook (10015): the operator must replace the URL.
    if matches!(r.status, 401 | 404) && matches!(body["code"].as_i64(), Some(50027 | 10015)) {
        return Err(Failure::new(
            Outcome::InvalidCredentials,
            codes::INVALID_CREDENTIALS,
            format!("HTTP {}: {}", r.status, excerpt(c, &r.body)),
        )
        .status(r.status));
    }
    classify_status(r, c.http.redactor())
}

/// `text` cut to at most `max` characters (on a character boundary), marked when cut.
pub fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_counts_characters_not_bytes() {
        assert_eq!(truncate("abc", 3), "abc");
        assert_eq!(truncate("abcd", 3), "ab…");
        let long = "é".repeat(2500);
        let cut = truncate(&long, CONTENT_MAX_CHARS);
        assert_eq!(cut.chars().count(), CONTENT_MAX_CHARS);
    }
}
