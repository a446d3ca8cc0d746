//! [`RuntimeConfig`]: everything the tree is started with, and its defaults.

use std::time::Duration;

use tradeplane_actors::BreakerConfig;

use super::{
    EvidenceThresholds, JobsConfig, ProvidersConfig, RunnerConfig, SchedulerConfig, ScorerConfig,
    TelemetryConfig, broker_sessions, feed, live_stream, macro_data, news, ownership,
    reconciliation, sweeps, usage_retention,
};
use crate::clock::Clock;
use crate::domain::execution::SimParams;
use crate::integrations::registry::EnvMap;

#[derive(Clone)]
pub struct RuntimeConfig {
    /// This process's node name in `bot_instances`.
    pub node: String,
    pub telemetry: TelemetryConfig,
    pub scheduler: SchedulerConfig,
    pub runner: RunnerConfig,
    /// Each runner's breaker (default: 3 failures in 30 min, 60 s cool-down).
    pub breaker: BreakerConfig,
    /// Bots supervisor: more than `intensity` restarts within `period` is a meltdown.
    pub bots_intensity: u32,
    pub bots_period: Duration,
    /// Most runners at once (`None`: no limit).
    pub max_bots: Option<usize>,
    /// How often the Bots supervisor checks heartbeats.
    pub heartbeat_check: Duration,
    /// The process's one clock: bar boundaries, breakers, stamps of events, traces and
    /// usage, the scorer's windows (system in production; manual or shifted in tests).
    pub clock: Clock,
    /// Where providers are configured from (`serve`: the process env; tests: a map, so they
    /// never read the process env). One ProviderActor per configured provider.
    pub provider_env: EnvMap,
    pub providers: ProvidersConfig,
    /// PAPER fills: slippage in ticks against the order, commission per contract.
    pub sim: SimParams,
    pub autonomy: ScorerConfig,
    /// The job worker pool.
    pub jobs: JobsConfig,
    /// Lease TTL and capacity of this node (`node` is its name).
    pub ownership: ownership::OwnershipConfig,
    /// What the LAB → PAPER promotion asks of a bot's backtest.
    pub evidence: EvidenceThresholds,
    /// Sweep bounds and what PAPER → SHADOW asks of a bot's paper results.
    pub lab: sweeps::LabConfig,
    /// While Postgres is unreachable, how often the one readiness probe asks it (`db_ready`).
    pub db_probe_every: Duration,
    /// The bar feed's failover (hysteresis before returning to the primary).
    pub feed: feed::FeedConfig,
    /// Turning trading off (globally or a LIVE bot's own switch) also cancels the working
    /// LIVE orders it stops (`safety::trading_off`; `TRADEPLANE_TRADING_OFF_CANCELS`).
    pub trading_off_cancels: bool,
    /// How often each broker session's actor turns (renewal when due; logins while down).
    pub broker_every: Duration,
    /// Broker heartbeats and cancel-on-disconnect.
    pub broker_sessions: broker_sessions::SessionConfig,
    /// Broker reconciliation: the leader's period and the position re-read delay.
    pub reconcile: reconciliation::ReconcileConfig,
    /// The macro-data refresh (economic calendar, FRED) and the filter-data reload.
    pub macro_data: macro_data::MacroConfig,
    /// The news gate's poll and cache (`TRADEPLANE_NEWS_POLL_SECS` in `provider_env` overrides).
    pub news: news::NewsConfig,
    /// Databento's live stream (used when `DATABENTO_LIVE_ADDR` is configured).
    pub live_stream: live_stream::LiveStreamConfig,
    /// How many days of usage events the leader keeps.
    pub usage_retention: usage_retention::UsageRetention,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            node: node_name(),
            telemetry: TelemetryConfig::default(),
            scheduler: SchedulerConfig::default(),
            runner: RunnerConfig::default(),
            breaker: BreakerConfig::default(),
            bots_intensity: 100,
            bots_period: Duration::from_secs(60),
            max_bots: None,
            heartbeat_check: Duration::from_millis(500),
            clock: Clock::system(),
            provider_env: EnvMap::new(),
            providers: ProvidersConfig::default(),
            sim: SimParams::default(),
            autonomy: ScorerConfig::default(),
            jobs: JobsConfig::default(),
            ownership: ownership::OwnershipConfig::default(),
            evidence: EvidenceThresholds::default(),
            lab: sweeps::LabConfig::default(),
            db_probe_every: Duration::from_secs(1),
            broker_every: Duration::from_secs(5),
            broker_sessions: broker_sessions::SessionConfig::default(),
            reconcile: reconciliation::ReconcileConfig::default(),
            macro_data: macro_data::MacroConfig::default(),
            feed: feed::FeedConfig::default(),
            trading_off_cancels: true,
            news: news::NewsConfig::default(),
            live_stream: live_stream::LiveStreamConfig::default(),
            usage_retention: usage_retention::UsageRetention::default(),
        }
    }
}

pub(super) fn node_name() -> String {
    ownership::host_name()
}
