//! What every handler can reach.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use metrics_exporter_prometheus::PrometheusHandle;
use sqlx::PgPool;

use crate::{clock::Clock, config::Config};

#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub config: Arc<Config>,
    pub metrics: PrometheusHandle,
    pub started_at: DateTime<Utc>,
    /// The time source for expiry, throttling and TOTP steps (manual in tests).
    pub clock: Clock,
}

impl AppState {
    pub fn new(pool: PgPool, config: Config) -> Self {
        AppState {
            pool,
            config: Arc::new(config),
            metrics: super::metrics::handle(),
            started_at: Utc::now(),
            clock: Clock::system(),
        }
    }
}
