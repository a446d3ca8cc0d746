//! What every handler can reach.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use metrics_exporter_prometheus::PrometheusHandle;
use sqlx::PgPool;

use crate::integrations::{
    self, Integrations,
    registry::{EnvMap, process_env},
    usage::UsageSink,
};
use crate::runtime::RuntimeHandle;
use crate::{clock::Clock, config::Config};

#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub config: Arc<Config>,
    pub metrics: PrometheusHandle,
    pub started_at: DateTime<Utc>,
    /// The supervision tree.
    pub runtime: RuntimeHandle,
    /// Provider registry, configs and clients (built from the environment).
    pub integrations: Arc<Integrations>,
    /// The time source for expiry, throttling and TOTP steps (manual in tests).
    pub clock: Clock,
}

impl AppState {
    /// The state of a serving process: the running supervision tree, and providers configured
    /// from the process environment.
    pub fn new(pool: PgPool, config: Config, runtime: RuntimeHandle) -> Self {
        Self::with_env(pool, config, runtime, &process_env())
    }

    /// With providers read from an explicit environment map (tests never read the process env).
    /// Every provider call's usage event goes through the runtime's telemetry writer.
    pub fn with_env(pool: PgPool, config: Config, runtime: RuntimeHandle, env: &EnvMap) -> Self {
        let sink: Arc<dyn UsageSink> = Arc::new(runtime.telemetry().clone());
        let integrations = Integrations::from_env(env, sink, integrations::http::DEFAULT_TIMEOUT);
        AppState {
            pool,
            config: Arc::new(config),
            metrics: super::metrics::handle(),
            started_at: Utc::now(),
            runtime,
            integrations: Arc::new(integrations),
            clock: Clock::system(),
        }
    }
}
