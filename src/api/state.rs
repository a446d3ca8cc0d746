//! What every handler can reach.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use metrics_exporter_prometheus::PrometheusHandle;
use sqlx::PgPool;

use crate::integrations::{self, Integrations, registry::EnvMap, usage::UsageSink};
use crate::runtime::{RuntimeHandle, lifecycle::Lifecycle};
use crate::store::system_events::{NewSystemEvent, SystemEvent};
use crate::{clock::Clock, config::Config};

#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub config: Arc<Config>,
    pub metrics: PrometheusHandle,
    pub started_at: DateTime<Utc>,
    /// The supervision tree.
    pub runtime: RuntimeHandle,
    /// Provider registry, configs and clients: the runtime's (its ProviderActors own the same
    /// clients), or built from an env map for a detached runtime.
    pub integrations: Arc<Integrations>,
    /// The process's one clock, the runtime's (`RuntimeHandle::clock`): expiry, throttling,
    /// TOTP steps and every stamp the API writes (manual in tests: a detached runtime on it).
    pub clock: Clock,
    /// How often an idle `/api/events/stream` sends a keep-alive comment (short in tests).
    pub events_keep_alive: Duration,
    /// Open event streams per session or service token (`ConnectionLimits`).
    pub event_streams: super::stream_slots::StreamSlots,
}

impl AppState {
    /// The state of a serving process: the running supervision tree and the providers it was
    /// started with (`RuntimeConfig.provider_env`), each behind its ProviderActor.
    pub fn new(pool: PgPool, config: Config, runtime: RuntimeHandle) -> Self {
        let integrations = runtime.integrations();
        Self::with_integrations(pool, config, runtime, integrations)
    }

    /// With providers read from an explicit environment map, for a detached runtime (load
    /// examples, tests without a tree): no ProviderActor runs, so verify answers that the
    /// runtime is not running. A running tree gets its providers from `RuntimeConfig`.
    pub fn with_env(pool: PgPool, config: Config, runtime: RuntimeHandle, env: &EnvMap) -> Self {
        let sink: Arc<dyn UsageSink> = Arc::new(runtime.telemetry().clone());
        let integrations = Integrations::from_env(
            env,
            sink,
            integrations::http::DEFAULT_TIMEOUT,
            runtime.clock(),
        );
        Self::with_integrations(pool, config, runtime, Arc::new(integrations))
    }

    fn with_integrations(
        pool: PgPool,
        config: Config,
        runtime: RuntimeHandle,
        integrations: Arc<Integrations>,
    ) -> Self {
        let clock = runtime.clock().clone();
        let event_streams =
            super::stream_slots::StreamSlots::new(config.connections.max_event_streams);
        AppState {
            pool,
            config: Arc::new(config),
            metrics: super::metrics::handle(),
            started_at: clock.now(),
            runtime,
            integrations,
            clock,
            events_keep_alive: Duration::from_secs(15),
            event_streams,
        }
    }

    /// Writes a system event and publishes it on the live stream. A failed write is logged,
    /// not returned: recording an event never fails the action it describes.
    pub async fn record_event(&self, event: NewSystemEvent) -> Option<SystemEvent> {
        crate::runtime::lifecycle::record_event(
            &self.pool,
            self.runtime.bus(),
            event,
            self.clock.now(),
        )
        .await
    }

    /// The bot lifecycle over this state's database, runtime (and its clock) and providers.
    pub fn lifecycle(&self) -> Lifecycle {
        Lifecycle::new(
            self.pool.clone(),
            self.runtime.clone(),
            self.integrations.clone(),
        )
    }
}
