//! What every handler can reach.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use metrics_exporter_prometheus::PrometheusHandle;
use sqlx::PgPool;

use crate::config::Config;
use crate::runtime::RuntimeHandle;

#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub config: Arc<Config>,
    pub metrics: PrometheusHandle,
    pub started_at: DateTime<Utc>,
    /// The supervision tree (detached until [`AppState::with_runtime`]).
    pub runtime: RuntimeHandle,
}

impl AppState {
    pub fn new(pool: PgPool, config: Config) -> Self {
        AppState {
            pool,
            config: Arc::new(config),
            metrics: super::metrics::handle(),
            started_at: Utc::now(),
            runtime: RuntimeHandle::detached(),
        }
    }

    /// The state serving a running supervision tree.
    pub fn with_runtime(mut self, runtime: RuntimeHandle) -> Self {
        self.runtime = runtime;
        self
    }
}
