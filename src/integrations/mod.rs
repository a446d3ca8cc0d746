//! Integrations: the provider registry, the one call path to vendors, verify and data clients.
//! Code outside this module reaches a vendor only through `Integrations`.

pub mod bars;
pub mod brokers;
pub mod http;
pub mod otlp;
pub mod outcome;
pub mod providers;
pub mod registry;
pub mod usage;

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use crate::domain::provider::Outcome;
use providers::ProviderClient;
use registry::{EnvMap, PROVIDERS, ProviderConfig};
use usage::UsageSink;

use crate::clock::Clock;

/// Every provider's configuration, and a client for each configured one.
pub struct Integrations {
    configs: Vec<ProviderConfig>,
    clients: BTreeMap<&'static str, Arc<ProviderClient>>,
}

impl Integrations {
    /// Builds from an explicit environment map (the process env via `registry::process_env`);
    /// the clients stamp their usage events with `clock`.
    pub fn from_env(
        env: &EnvMap,
        sink: Arc<dyn UsageSink>,
        timeout: Duration,
        clock: &Clock,
    ) -> Self {
        let mut configs = Vec::new();
        let mut clients = BTreeMap::new();
        for spec in PROVIDERS {
            let config = ProviderConfig::from_env(spec, env);
            match ProviderClient::new(config.clone(), sink.clone(), timeout, clock.clone()) {
                Some(Ok(client)) => {
                    clients.insert(spec.id, Arc::new(client));
                }
                Some(Err(err)) => {
                    tracing::error!(provider_id = spec.id, error = %err.without_url(), "provider client could not be built");
                }
                None => {}
            }
            configs.push(config);
        }
        Integrations { configs, clients }
    }

    /// In registry order.
    pub fn configs(&self) -> &[ProviderConfig] {
        &self.configs
    }

    pub fn config(&self, id: &str) -> Option<&ProviderConfig> {
        self.configs.iter().find(|c| c.spec.id == id)
    }

    /// Redacts every secret value any provider is configured with (a prompt, a message).
    pub fn redactor(&self) -> http::Redactor {
        http::Redactor::new(
            self.configs
                .iter()
                .flat_map(|c| c.secret_values())
                .collect(),
        )
    }

    /// The client of a configured provider.
    pub fn client(&self, id: &str) -> Option<Arc<ProviderClient>> {
        self.clients.get(id).cloned()
    }
}

/// Connected = configured, and the latest verify against the current endpoint was `ok`.
/// Never verified counts as not connected.
pub fn is_connected(
    config: &ProviderConfig,
    v: Option<&crate::store::integrations::Verification>,
) -> bool {
    config.configured()
        && v.is_some_and(|v| v.endpoint == endpoint_of(config) && v.outcome == Outcome::Ok)
}

/// The endpoint a verify result applies to: origin only (no path, no credentials).
pub fn endpoint_of(config: &ProviderConfig) -> String {
    config
        .base_url
        .as_ref()
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_default()
}

impl Integrations {
    /// Persists a verify's outcome (so `connected` survives restarts) and writes a system
    /// event (also published on `bus`). None when the provider is not configured. The
    /// runtime's ProviderActor runs the verify; the API records it here.
    pub async fn record_verification(
        &self,
        pool: &sqlx::PgPool,
        bus: &crate::bus::EventBus,
        id: &str,
        report: &providers::VerifyReport,
        latency: Duration,
    ) -> Option<Result<crate::store::integrations::Verification, sqlx::Error>> {
        use crate::store::{
            integrations::{Verification, upsert_verification},
            system_events::{self, NewSystemEvent, Severity},
        };
        let client = self.client(id)?;
        let verification = Verification {
            provider_id: id.to_owned(),
            outcome: report.outcome,
            error_code: report.error_code.clone(),
            message: report.message.clone(),
            endpoint: endpoint_of(&client.config),
            sandbox: client.config.sandbox,
            latency_ms: i32::try_from(latency.as_millis()).unwrap_or(i32::MAX),
            verified_at: bus.clock().now(),
            trace_id: crate::trace::TraceId::current().to_string(),
        };
        let stored = async {
            upsert_verification(pool, &verification).await?;
            let (severity, code) = match report.outcome {
                Outcome::Ok => (Severity::Info, "INTEGRATION_VERIFIED"),
                Outcome::Unverifiable => (Severity::Info, "INTEGRATION_UNVERIFIABLE"),
                _ => (Severity::Sev3, "INTEGRATION_VERIFY_FAILED"),
            };
            let event = NewSystemEvent::new(
                severity,
                code,
                format!(
                    "{id} verify: {} ({})",
                    report.outcome.as_str(),
                    report.message
                ),
            )
            .provider(id)
            .metadata(serde_json::json!({
                "outcome": report.outcome.as_str(),
                "error_code": report.error_code,
                "sandbox": client.config.sandbox,
                "endpoint": verification.endpoint,
            }));
            let row = system_events::insert(pool, event, verification.verified_at).await?;
            bus.publish_system_event(&row);
            Ok(verification)
        }
        .await;
        Some(stored)
    }
}
