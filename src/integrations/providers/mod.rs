//! Provider clients: one `ProviderClient` per configured provider (an actor can own one), and
//! `verify()` dispatched to each vendor family's module.

mod brokers;
pub mod databento;
pub mod databento_live;
pub mod discord;
pub mod finnhub_news;
mod infra;
pub mod llm;
pub mod macro_data;
pub mod market_data;

use std::{sync::Arc, time::Duration};

use serde::Serialize;
use tokio::sync::Mutex;
use url::Url;
use utoipa::ToSchema;

use super::{
    http::{DEFAULT_TIMEOUT, ProviderHttp},
    outcome::Failure,
    registry::ProviderConfig,
    usage::UsageSink,
};
use crate::clock::Clock;
use crate::config::Secret;
use crate::domain::provider::Outcome;

/// A configured provider's client: its config, its call path and any session it holds.
pub struct ProviderClient {
    pub config: ProviderConfig,
    pub http: ProviderHttp,
    /// Tradovate's access token and its expiry, reused across verifies (logins are penalised).
    session: Mutex<Option<(Secret, chrono::DateTime<chrono::Utc>)>>,
    /// Databento's historical client, built on first use and cloned per request: one HTTP
    /// client (TLS roots read once, connections kept alive) for every fetch.
    databento: std::sync::Mutex<Option<::databento::HistoricalClient>>,
}

impl ProviderClient {
    /// None when the provider is not configured.
    pub fn new(
        config: ProviderConfig,
        sink: Arc<dyn UsageSink>,
        timeout: Duration,
        clock: Clock,
    ) -> Option<Result<Self, reqwest::Error>> {
        if !config.configured() {
            return None;
        }
        Some(
            ProviderHttp::new(&config, sink, timeout, clock).map(|http| ProviderClient {
                config,
                http,
                session: Mutex::new(None),
                databento: std::sync::Mutex::default(),
            }),
        )
    }

    pub fn with_default_timeout(
        config: ProviderConfig,
        sink: Arc<dyn UsageSink>,
        clock: Clock,
    ) -> Option<Result<Self, reqwest::Error>> {
        Self::new(config, sink, DEFAULT_TIMEOUT, clock)
    }

    pub fn id(&self) -> &'static str {
        self.config.spec.id
    }

    /// The base URL (always present on a configured provider).
    fn base(&self) -> Result<&Url, Failure> {
        self.config
            .base_url
            .as_ref()
            .ok_or_else(|| Failure::new(Outcome::Unverifiable, "NOT_CONFIGURED", "no base URL"))
    }

    fn secret(&self, name: &str) -> Result<Secret, Failure> {
        self.config.secret(name).cloned().ok_or_else(|| {
            Failure::new(
                Outcome::Unverifiable,
                "NOT_CONFIGURED",
                format!("{name} is not set"),
            )
        })
    }

    fn optional(&self, name: &str) -> Option<String> {
        self.config.secret(name).map(|s| s.expose().to_owned())
    }
}

/// The result of one verify.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct VerifyReport {
    pub outcome: Outcome,
    /// Stable code of a failed verify (also on the usage event), null when ok.
    pub error_code: Option<String>,
    /// Human-readable, secrets redacted.
    pub message: String,
}

impl VerifyReport {
    fn from_result(result: Result<String, Failure>) -> Self {
        match result {
            Ok(message) => VerifyReport {
                outcome: Outcome::Ok,
                error_code: None,
                message,
            },
            Err(f) => VerifyReport {
                outcome: f.outcome,
                error_code: Some(f.code.to_owned()),
                message: f.message,
            },
        }
    }
}

/// Runs the provider's safe verify (no side effects, no billed call, never retried).
pub async fn verify(client: &ProviderClient) -> VerifyReport {
    let result = match client.id() {
        "databento" => market_data::verify_databento(client).await,
        "polygon" => market_data::verify_polygon(client).await,
        "finnhub" => market_data::verify_finnhub(client).await,
        "alphavantage" => market_data::verify_alphavantage(client).await,
        "fmp" => market_data::verify_fmp(client).await,
        "fred" => market_data::verify_fred(client).await,
        "ironbeam" => brokers::verify_ironbeam(client).await,
        "tradovate" => brokers::verify_tradovate(client).await,
        "openai" | "groq" => llm::verify_openai_compatible(client).await,
        "anthropic" => llm::verify_anthropic(client).await,
        "google_gemini" => llm::verify_gemini(client).await,
        "xai" => llm::verify_xai(client).await,
        "openrouter" => llm::verify_openrouter(client).await,
        "unusual_whales" => market_data::verify_unusual_whales(client).await,
        "redis" => infra::verify_redis(client).await,
        "discord" => infra::verify_discord(client).await,
        other => Err(Failure::new(
            Outcome::Unverifiable,
            "NO_VERIFY",
            format!("no verify for {other}"),
        )),
    };
    VerifyReport::from_result(result)
}

/// `base` + `path`, keeping the base's own path prefix (e.g. `/v1`).
pub(crate) fn join(base: &Url, path: &str) -> Url {
    let mut url = base.clone();
    let joined = format!(
        "{}/{}",
        base.path().trim_end_matches('/'),
        path.trim_start_matches('/')
    );
    url.set_path(&joined);
    url.set_query(None);
    url
}

/// A short, redacted excerpt of a body for messages.
pub(crate) fn excerpt(client: &ProviderClient, body: &[u8]) -> String {
    client
        .http
        .redactor()
        .redact(&String::from_utf8_lossy(&body[..body.len().min(300)]))
}
