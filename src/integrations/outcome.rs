//! How provider calls fail: a call failure with its SPEC §4 outcome category
//! (`domain::provider::Outcome`) and the stable usage-event error codes.

use std::time::Duration;

use crate::domain::provider::Outcome;

/// Error codes written to usage events (`error_code`) for failed calls.
pub mod codes {
    pub const INVALID_CREDENTIALS: &str = "INVALID_CREDENTIALS";
    pub const INSUFFICIENT_PLAN: &str = "INSUFFICIENT_PLAN";
    pub const RATE_LIMITED: &str = "RATE_LIMITED";
    /// Our own limiter had no permit within the call's time box.
    pub const LOCAL_RATE_LIMITED: &str = "LOCAL_RATE_LIMITED";
    /// Tradovate login penalty (`p-ticket`/`p-captcha`).
    pub const LOGIN_PENALTY: &str = "LOGIN_PENALTY";
    pub const TIMEOUT: &str = "TIMEOUT";
    pub const UNREACHABLE: &str = "UNREACHABLE";
    pub const PROVIDER_HTTP_5XX: &str = "PROVIDER_HTTP_5XX";
    pub const PROVIDER_HTTP_4XX: &str = "PROVIDER_HTTP_4XX";
    pub const BAD_RESPONSE: &str = "BAD_RESPONSE";
    pub const UNVERIFIABLE: &str = "UNVERIFIABLE";
    pub const ENVIRONMENT_MISMATCH: &str = "ENVIRONMENT_MISMATCH";
    /// The model refused the prompt (a content filter or safety block).
    pub const CONTENT_REFUSED: &str = "CONTENT_REFUSED";
}

/// A failed call: the category, a stable code, and a message with every secret redacted.
#[derive(Debug, Clone)]
pub struct Failure {
    pub outcome: Outcome,
    pub code: &'static str,
    pub message: String,
    pub http_status: Option<u16>,
    pub retry_after: Option<Duration>,
}

impl Failure {
    pub fn new(outcome: Outcome, code: &'static str, message: impl Into<String>) -> Self {
        Failure {
            outcome,
            code,
            message: message.into(),
            http_status: None,
            retry_after: None,
        }
    }

    pub fn status(mut self, status: u16) -> Self {
        self.http_status = Some(status);
        self
    }

    /// Worth another attempt (a read, or a generation billed only when it answers): a 429 or
    /// 5xx, or no answer at all. Never an auth or plan failure, and never another 4xx: the
    /// request itself is wrong and would fail again.
    pub fn is_transient(&self) -> bool {
        matches!(
            self.outcome,
            Outcome::RateLimited | Outcome::Unreachable | Outcome::ProviderError
        ) && self.code != codes::LOGIN_PENALTY
            && self.code != codes::BAD_RESPONSE
            && self.code != codes::CONTENT_REFUSED
            && self.code != codes::PROVIDER_HTTP_4XX
    }
}
