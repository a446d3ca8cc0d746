//! Integrations: the provider registry, the one call path to vendors, verify and data clients.
//! Code outside this module reaches a vendor only through `Integrations`.

pub mod http;
pub mod outcome;
pub mod providers;
pub mod registry;
pub mod usage;

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use providers::ProviderClient;
use registry::{EnvMap, PROVIDERS, ProviderConfig};
use usage::UsageSink;

/// Every provider's configuration, and a client for each configured one.
pub struct Integrations {
    configs: Vec<ProviderConfig>,
    clients: BTreeMap<&'static str, Arc<ProviderClient>>,
}

impl Integrations {
    /// Builds from an explicit environment map (the process env via `registry::process_env`).
    pub fn from_env(env: &EnvMap, sink: Arc<dyn UsageSink>, timeout: Duration) -> Self {
        let mut configs = Vec::new();
        let mut clients = BTreeMap::new();
        for spec in PROVIDERS {
            let config = ProviderConfig::from_env(spec, env);
            match ProviderClient::new(config.clone(), sink.clone(), timeout) {
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

    /// The client of a configured provider.
    pub fn client(&self, id: &str) -> Option<Arc<ProviderClient>> {
        self.clients.get(id).cloned()
    }
}
