//! What every handler can reach.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use metrics_exporter_prometheus::PrometheusHandle;
use sqlx::PgPool;

use crate::config::Config;
use crate::integrations::{
    self, Integrations,
    registry::{EnvMap, process_env},
    usage::DirectPgUsageSink,
};

#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub config: Arc<Config>,
    pub metrics: PrometheusHandle,
    pub started_at: DateTime<Utc>,
    /// Provider registry, configs and clients (built from the environment).
    pub integrations: Arc<Integrations>,
}

impl AppState {
    pub fn new(pool: PgPool, config: Config) -> Self {
        Self::with_env(pool, config, &process_env())
    }

    /// With integrations read from an explicit environment map (tests never read the process env).
    pub fn with_env(pool: PgPool, config: Config, env: &EnvMap) -> Self {
        // TEMPORARY sink: the runtime's TelemetryWriter replaces it at merge.
        let sink = Arc::new(DirectPgUsageSink::new(pool.clone()));
        let integrations = Integrations::from_env(env, sink, integrations::http::DEFAULT_TIMEOUT);
        AppState {
            pool,
            config: Arc::new(config),
            metrics: super::metrics::handle(),
            started_at: Utc::now(),
            integrations: Arc::new(integrations),
        }
    }
}
