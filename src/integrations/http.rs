//! The one call path to vendors. Every provider request goes through `ProviderHttp::call` (or
//! `guard` for non-HTTP protocols such as Redis): a strict time box, the provider's rate limit,
//! jittered retries for idempotent reads only (never for auth or plan failures), secret
//! redaction in every message, and exactly one usage event per call.

use std::{sync::Arc, time::Duration};

use backon::{ExponentialBuilder, Retryable};
use governor::{DefaultDirectRateLimiter, RateLimiter};
use reqwest::{Method, header::HeaderMap};
use serde_json::{Value, json};
use tokio::time::Instant;
use url::Url;
use uuid::Uuid;

use super::{
    outcome::{Failure, codes},
    registry::{ProviderConfig, RateLimit},
    usage::UsageSink,
};
use crate::domain::provider::Outcome;
use crate::observability;
use crate::{
    clock::Clock,
    config::Secret,
    store::usage_events::{UsageEvent, UsageStatus},
};

/// Default time box of one request (connect + read).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Who a call is made for (recorded on its usage event).
#[derive(Debug, Clone, Copy, Default)]
pub struct CallContext {
    pub bot_id: Option<Uuid>,
    pub run_id: Option<Uuid>,
}

/// How a call may be treated: reads are retried, writes and verifies never.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallKind {
    Read,
    Write,
    /// A verify step: one attempt, usage status `VERIFY`.
    Verify,
    /// A billed generation (an LLM completion): retried only on 429/5xx and transport
    /// failures (the vendor did not process it), never on another 4xx.
    Generate,
}

pub enum Auth {
    None,
    Bearer(Secret),
    /// HTTP Basic with the key as user name and an empty password (Databento).
    BasicKey(Secret),
    Header(&'static str, Secret),
    Query(&'static str, Secret),
}

pub enum Body {
    None,
    Json(Value),
    Form(Vec<(String, String)>),
}

pub struct Request {
    pub action: &'static str,
    pub method: Method,
    pub url: Url,
    pub auth: Auth,
    pub query: Vec<(String, String)>,
    pub headers: Vec<(&'static str, String)>,
    pub body: Body,
    pub kind: CallKind,
    pub ctx: CallContext,
    /// Extra usage-event metadata known before the call (e.g. the model asked for).
    pub meta: Value,
}

impl Request {
    pub fn get(action: &'static str, url: Url, kind: CallKind) -> Self {
        Request {
            action,
            method: Method::GET,
            url,
            auth: Auth::None,
            query: Vec::new(),
            headers: Vec::new(),
            body: Body::None,
            kind,
            ctx: CallContext::default(),
            meta: Value::Object(Default::default()),
        }
    }

    pub fn post(action: &'static str, url: Url, body: Body, kind: CallKind) -> Self {
        Request {
            method: Method::POST,
            body,
            ..Request::get(action, url, kind)
        }
    }

    pub fn auth(mut self, auth: Auth) -> Self {
        self.auth = auth;
        self
    }

    pub fn query(mut self, name: &str, value: impl Into<String>) -> Self {
        self.query.push((name.to_owned(), value.into()));
        self
    }

    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    pub fn ctx(mut self, ctx: CallContext) -> Self {
        self.ctx = ctx;
        self
    }

    pub fn meta(mut self, meta: Value) -> Self {
        self.meta = meta;
        self
    }
}

/// A vendor's answer, whatever its status; the provider's interpreter decides what it means.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: bytes::Bytes,
}

impl Reply {
    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }

    pub fn retry_after(&self) -> Option<Duration> {
        self.headers
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(|s| Duration::from_secs_f64(s.min(3600.0)))
    }
}

/// Replaces every known secret (and its URL-encoded form) with `***`.
#[derive(Clone, Default)]
pub struct Redactor {
    secrets: Vec<String>,
}

impl Redactor {
    pub fn new(secrets: Vec<String>) -> Self {
        let mut all = Vec::new();
        for s in secrets {
            let encoded: String = url::form_urlencoded::byte_serialize(s.as_bytes()).collect();
            if encoded != s {
                all.push(encoded);
            }
            all.push(s);
        }
        // Longest first, so a secret containing another is replaced whole.
        all.sort_by_key(|s| std::cmp::Reverse(s.len()));
        Redactor { secrets: all }
    }

    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for s in &self.secrets {
            if !s.is_empty() {
                out = out.replace(s.as_str(), "***");
            }
        }
        out
    }
}

/// One provider's HTTP client, limiter and usage recording. An actor can own one.
pub struct ProviderHttp {
    provider_id: &'static str,
    client: reqwest::Client,
    limiter: DefaultDirectRateLimiter,
    /// A lane reads pass before `limiter` ([`Self::with_read_lane`]), so they cannot spend
    /// the whole budget; `None`: reads and writes share it alike.
    reads: Option<DefaultDirectRateLimiter>,
    sink: Arc<dyn UsageSink>,
    /// Stamps usage events (and session expiries).
    clock: Clock,
    redactor: Redactor,
    timeout: Duration,
    max_retries: usize,
}

impl ProviderHttp {
    pub fn new(
        config: &ProviderConfig,
        sink: Arc<dyn UsageSink>,
        timeout: Duration,
        clock: Clock,
    ) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT.min(timeout))
            .timeout(timeout)
            // Redirects could carry a key to another host.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("tradeplane/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(ProviderHttp {
            provider_id: config.spec.id,
            client,
            limiter: RateLimiter::direct(config.rate_limit.quota()),
            reads: None,
            sink,
            clock,
            redactor: Redactor::new(config.secret_values()),
            timeout,
            max_retries: 2,
        })
    }

    /// Reads (`CallKind::Read`) first pass a lane of `limit`, a share of the provider's
    /// budget: what the lane leaves is always there for writes (a broker's orders and cancels
    /// never wait behind many bots' polls).
    pub fn with_read_lane(mut self, limit: RateLimit) -> Self {
        self.reads = Some(RateLimiter::direct(limit.quota()));
        self
    }

    pub fn provider_id(&self) -> &'static str {
        self.provider_id
    }

    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    pub fn redactor(&self) -> &Redactor {
        &self.redactor
    }

    /// Sends `req` (retrying transient failures of reads), lets `interpret` decide what the
    /// reply means, and records one usage event for the whole call.
    pub async fn call<T>(
        &self,
        req: Request,
        interpret: impl Fn(&Reply) -> Result<T, Failure>,
    ) -> Result<T, Failure> {
        self.call_described(req, interpret, |_| Value::Null).await
    }

    /// [`Self::call`], adding `describe(result)`'s fields (e.g. tokens used) to the usage
    /// event's metadata.
    pub async fn call_described<T>(
        &self,
        req: Request,
        interpret: impl Fn(&Reply) -> Result<T, Failure>,
        describe: impl FnOnce(&T) -> Value,
    ) -> Result<T, Failure> {
        let action = req.action;
        let kind = req.kind;
        let ctx = req.ctx;
        let attempts = std::sync::atomic::AtomicU32::new(0);
        let once = || async {
            attempts.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let reply = self.send_once(&req).await?;
            interpret(&reply)
        };
        let started = Instant::now();
        let retried: fn(&Failure) -> bool = match kind {
            CallKind::Read | CallKind::Generate => Failure::is_transient,
            CallKind::Write | CallKind::Verify => |_: &Failure| false,
        };
        let result = if matches!(kind, CallKind::Read | CallKind::Generate) {
            once.retry(
                ExponentialBuilder::default()
                    .with_min_delay(Duration::from_millis(200))
                    .with_max_delay(Duration::from_secs(2))
                    .with_max_times(self.max_retries)
                    .with_jitter(),
            )
            .when(retried)
            .adjust(|f: &Failure, delay| match (delay, f.retry_after) {
                // Retries used up (`delay` None): stop, whatever the vendor asks; a
                // Retry-After never extends the count (a vendor answering 429 forever would
                // otherwise be asked forever).
                (None, _) => None,
                // A vendor's Retry-After longer than our time box ends the call instead.
                (Some(_), Some(after)) if after > self.timeout => None,
                (Some(_), Some(after)) => Some(after),
                (Some(d), None) => Some(d),
            })
            .await
        } else {
            once().await
        };
        let tries = attempts.load(std::sync::atomic::Ordering::Relaxed);
        let mut metadata = req.meta.clone();
        if !metadata.is_object() {
            metadata = json!({});
        }
        metadata["attempts"] = json!(tries);
        if let Ok(t) = &result
            && let Value::Object(extra) = describe(t)
        {
            for (k, v) in extra {
                metadata[k] = v;
            }
        }
        self.record(action, kind, ctx, started, &result, metadata);
        result
    }

    /// Runs a non-HTTP operation (e.g. a Redis PING) under the same limiter, time box and
    /// usage recording; never retried.
    pub async fn guard<T, F>(
        &self,
        action: &'static str,
        kind: CallKind,
        fut: F,
    ) -> Result<T, Failure>
    where
        F: std::future::Future<Output = Result<T, Failure>>,
    {
        self.guard_for(action, kind, CallContext::default(), fut)
            .await
    }

    /// [`Self::guard`] on behalf of a bot run: its usage event carries `ctx`.
    pub async fn guard_for<T, F>(
        &self,
        action: &'static str,
        kind: CallKind,
        ctx: CallContext,
        fut: F,
    ) -> Result<T, Failure>
    where
        F: std::future::Future<Output = Result<T, Failure>>,
    {
        let started = Instant::now();
        let result = match self.acquire(kind).await {
            Err(f) => Err(f),
            Ok(()) => match tokio::time::timeout(self.timeout, fut).await {
                Ok(r) => r.map_err(|f| Failure {
                    message: self.redactor.redact(&f.message),
                    ..f
                }),
                Err(_) => Err(Failure::new(
                    Outcome::Unreachable,
                    codes::TIMEOUT,
                    format!("no answer within {} ms", self.timeout.as_millis()),
                )),
            },
        };
        self.record(action, kind, ctx, started, &result, json!({}));
        result
    }

    async fn acquire(&self, kind: CallKind) -> Result<(), Failure> {
        let budget = async {
            if let (CallKind::Read, Some(reads)) = (kind, &self.reads) {
                reads.until_ready().await;
            }
            self.limiter.until_ready().await;
        };
        match tokio::time::timeout(self.timeout, budget).await {
            Ok(()) => Ok(()),
            Err(_) => Err(Failure::new(
                Outcome::RateLimited,
                codes::LOCAL_RATE_LIMITED,
                format!(
                    "{} rate limit: no request budget within the time box",
                    self.provider_id
                ),
            )),
        }
    }

    async fn send_once(&self, req: &Request) -> Result<Reply, Failure> {
        self.acquire(req.kind).await?;
        let mut url = req.url.clone();
        if !req.query.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for (k, v) in &req.query {
                pairs.append_pair(k, v);
            }
        }
        let mut builder = self.client.request(req.method.clone(), url);
        builder = match &req.auth {
            Auth::None => builder,
            Auth::Bearer(s) => builder.bearer_auth(s.expose()),
            Auth::BasicKey(s) => builder.basic_auth(s.expose(), Some("")),
            Auth::Header(name, s) => builder.header(*name, s.expose()),
            Auth::Query(name, s) => builder.query(&[(*name, s.expose())]),
        };
        for (name, value) in &req.headers {
            builder = builder.header(*name, value);
        }
        builder = match &req.body {
            Body::None => builder,
            Body::Json(v) => builder.json(v),
            Body::Form(f) => builder.form(f),
        };
        let response = builder
            .send()
            .await
            .map_err(|e| self.transport_failure(e))?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response
            .bytes()
            .await
            .map_err(|e| self.transport_failure(e))?;
        Ok(Reply {
            status,
            headers,
            body,
        })
    }

    fn transport_failure(&self, err: reqwest::Error) -> Failure {
        let code = if err.is_timeout() {
            codes::TIMEOUT
        } else {
            codes::UNREACHABLE
        };
        // The URL may carry a query-string key: drop it, then redact whatever remains.
        let err = err.without_url();
        let mut message = err.to_string();
        let mut source = std::error::Error::source(&err);
        while let Some(s) = source {
            message.push_str(": ");
            message.push_str(&s.to_string());
            source = s.source();
        }
        Failure::new(Outcome::Unreachable, code, self.redactor.redact(&message))
    }

    /// Records an event for a call that never reached `call`/`guard` (one the provider's
    /// circuit breaker refused), through the same sink.
    pub fn record_event(&self, event: UsageEvent) {
        let took = Duration::from_millis(u64::try_from(event.latency_ms).unwrap_or(0));
        observability::provider_call(
            self.provider_id,
            result_label(event.status),
            event.error_code.as_deref(),
            took,
        );
        self.sink.record(event);
    }

    fn record<T>(
        &self,
        action: &'static str,
        kind: CallKind,
        ctx: CallContext,
        started: Instant,
        result: &Result<T, Failure>,
        mut metadata: Value,
    ) {
        let latency = u32::try_from(started.elapsed().as_millis()).unwrap_or(u32::MAX);
        let status = match (kind, result) {
            (CallKind::Verify, _) => UsageStatus::Verify,
            (_, Ok(_)) => UsageStatus::Ok,
            (_, Err(_)) => UsageStatus::Error,
        };
        observability::provider_call(
            self.provider_id,
            result_label(status),
            result.as_ref().err().map(|f| f.code),
            started.elapsed(),
        );
        let mut event =
            UsageEvent::new(self.provider_id, action, status, latency, self.clock.now());
        event.bot_id = ctx.bot_id;
        event.run_id = ctx.run_id;
        if let Err(f) = result {
            event.error_code = Some(f.code.to_owned());
            metadata["outcome"] = json!(f.outcome.as_str());
            metadata["message"] = json!(self.redactor.redact(&f.message));
            if let Some(s) = f.http_status {
                metadata["http_status"] = json!(s);
            }
            tracing::warn!(
                provider_id = self.provider_id,
                action,
                code = f.code,
                message = %self.redactor.redact(&f.message),
                "provider call failed"
            );
        } else {
            metadata["outcome"] = json!("ok");
        }
        event.metadata = metadata;
        self.sink.record(event);
    }
}

/// The `result` label of a provider call's metrics.
fn result_label(status: UsageStatus) -> &'static str {
    match status {
        UsageStatus::Ok => "ok",
        UsageStatus::Verify => "verify",
        UsageStatus::Error => "error",
    }
}

/// The common HTTP status mapping, for replies a vendor-specific rule did not claim.
pub fn classify_status(reply: &Reply, redactor: &Redactor) -> Result<(), Failure> {
    let s = reply.status;
    if (200..300).contains(&s) {
        return Ok(());
    }
    let snippet = redactor.redact(&String::from_utf8_lossy(
        &reply.body[..reply.body.len().min(300)],
    ));
    let (outcome, code) = match s {
        401 | 403 => (Outcome::InvalidCredentials, codes::INVALID_CREDENTIALS),
        402 => (Outcome::InsufficientPlan, codes::INSUFFICIENT_PLAN),
        429 => (Outcome::RateLimited, codes::RATE_LIMITED),
        500..=599 => (Outcome::ProviderError, codes::PROVIDER_HTTP_5XX),
        _ => (Outcome::ProviderError, codes::PROVIDER_HTTP_4XX),
    };
    Err(Failure {
        outcome,
        code,
        message: format!("HTTP {s}: {snippet}"),
        http_status: Some(s),
        retry_after: reply.retry_after(),
    })
}

/// A reply that is 2xx but not the documented shape.
pub fn bad_response(what: &str) -> Failure {
    Failure::new(
        Outcome::ProviderError,
        codes::BAD_RESPONSE,
        format!("unexpected response: {what}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_covers_plain_and_url_encoded_forms() {
        let r = Redactor::new(vec!["k3y/with+chars".into()]);
        assert_eq!(r.redact("a k3y/with+chars b"), "a *** b");
        assert_eq!(r.redact("?key=k3y%2Fwith%2Bchars"), "?key=***");
    }

    #[test]
    fn auth_failures_and_other_4xx_are_never_retried() {
        let f = Failure::new(Outcome::InvalidCredentials, codes::INVALID_CREDENTIALS, "");
        assert!(!f.is_transient());
        assert!(Failure::new(Outcome::ProviderError, codes::PROVIDER_HTTP_5XX, "").is_transient());
        assert!(Failure::new(Outcome::RateLimited, codes::RATE_LIMITED, "").is_transient());
        // Another 4xx: the same request would fail again.
        assert!(!Failure::new(Outcome::ProviderError, codes::PROVIDER_HTTP_4XX, "").is_transient());
    }
}
