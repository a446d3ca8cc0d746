//! The concrete actor tree (DESIGN.md "The actor tree"), built on `tradeplane-actors`:
//!
//! ```text
//! TelemetryWriter (task, outlives the tree so the tree's last events are written)
//! Runner registry writer (task: bot_instances + circuit_breakers, batched)
//! Root (one_for_one)
//! ├── Scheduler   bar clock (1s…1d), loop health, job timeout sweep, heartbeat flush
//! ├── Providers   one_for_one with intensity limits → per configured provider: BreakerActor,
//! │               ProviderActor
//! ├── LiveStream  Databento's live session (when DATABENTO_LIVE_ADDR is set): bars into the
//! │               feed's windows, reconnect with backoff, gap fill (`live_stream`)
//! ├── Brokers     one_for_one → per configured broker account: SessionActor (login, renewal,
//! │               heartbeat into the provider's breaker, cancel-on-disconnect)
//! ├── Bots        dynamic one_for_one with intensity limits → per bot started in this
//! │               process: BreakerActor (from its first start on), BotRunner (while it runs)
//! └── Jobs        one_for_one → `JobsConfig::workers` JobWorkers (claim, run, heartbeat)
//! ```
//!
//! [`RuntimeHandle`] is what the API and the CLI use: start/stop/kill/rearm runners and read
//! snapshots without awaiting Postgres.

pub mod account_risk;
pub mod ai;
pub mod alerts;
pub mod attention;
pub mod autonomy;
pub mod backtest_review;
pub mod backtests;
pub mod bar_history;
pub mod bots;
pub mod broker_sessions;
pub mod brokers;
mod config;
pub mod db_ready;
pub mod evaluator;
pub mod events;
pub mod explain;
pub mod feed;
mod handle;
pub mod jobs;
pub mod ledger_booking;
pub mod lifecycle;
pub mod live_flatten;
pub mod live_stream;
pub mod macro_data;
pub mod market_hours;
pub mod news;
pub mod ownership;
pub mod paper_writer;
pub mod providers;
pub mod reconciliation;
pub mod reconciliation_actions;
pub mod registry;
pub mod safety;
pub mod scheduler;
pub mod starter_bots;
pub mod status_cache;
pub mod sweeps;
pub mod system_status;
pub mod telemetry;
pub mod trace_writer;
mod tree;
pub mod usage_retention;

use std::sync::Arc;
use std::time::Duration;

use ractor::ActorRef;
use tokio::sync::broadcast;
use tradeplane_actors::{BreakerConfig, BreakerUnavailable, SupervisorError, SupervisorMsg};
use uuid::Uuid;

pub use crate::domain::backtest::evidence::EvidenceThresholds;
pub use bots::{Fault, RunnerConfig, RunnerMsg};
pub use jobs::{JobFault, JobsConfig};
pub use providers::{BarsRequest, ProviderCallError, ProviderHealth, ProvidersConfig};
pub use registry::{BreakerView, RunnerOptions, RunnerSnapshot};
pub use scheduler::{BarTick, LoopHealth, SchedulerConfig, SchedulerHealth};
pub use telemetry::{TelemetryConfig, TelemetryHandle, TelemetryStats, TelemetryWriter};

use crate::clock::Clock;
use crate::domain::execution::SimParams;
use crate::integrations::{Integrations, bars, http::DEFAULT_TIMEOUT, registry::EnvMap};
use crate::trace::TraceId;
pub use autonomy::{ScorerConfig, TierBook};
pub use config::RuntimeConfig;
use config::node_name;
use evaluator::Trading;
use events::TelemetrySink;
use providers::ProviderSet;
use registry::Registry;
use scheduler::SchedulerShared;
pub use tree::Runtime;

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("the runtime is not running")]
    NotRunning,
    #[error("bot {0} is KILLED ({1}); a human re-arm is needed")]
    Killed(Uuid, String),
    #[error("bot {0} already has a runner")]
    AlreadyRunning(Uuid),
    #[error("bot {0}: circuit breaker open, retry after {1:?}")]
    BreakerOpen(Uuid, Duration),
    #[error("bot {0} has no runner")]
    NotFound(Uuid),
    #[error("bot {0} is not KILLED")]
    NotKilled(Uuid),
    /// Another node holds the bot's unexpired lease.
    #[error("bot {bot_id} is owned by node {node} until {expires_at}")]
    OwnedElsewhere {
        bot_id: Uuid,
        node: String,
        expires_at: chrono::DateTime<chrono::Utc>,
    },
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Supervisor(#[from] SupervisorError),
    #[error(transparent)]
    Breaker(#[from] BreakerUnavailable),
}

/// How long a caller waits for a breaker actor's answer (a HALF_OPEN probe, a runner's
/// admission, a reset); no answer refuses the call.
pub(crate) const BREAKER_CALL_TIMEOUT: Duration = Duration::from_secs(2);

struct Inner {
    clock: Clock,
    registry: Arc<Registry>,
    scheduler: Arc<SchedulerShared>,
    telemetry: TelemetryHandle,
    ticks: broadcast::Sender<BarTick>,
    bots_name: String,
    runner: RunnerConfig,
    max_bots: Option<usize>,
    integrations: Arc<Integrations>,
    providers: Arc<ProviderSet>,
    provider_call_timeout: Duration,
    /// What runners trade with; `None` for a detached handle.
    trading: Option<Arc<Trading>>,
    /// Every bot's autonomy tier, kept by the scorer, read by the runners.
    tiers: Arc<TierBook>,
    status: Arc<status_cache::StatusCache>,
    alerts: Arc<alerts::AlertCounters>,
    jobs: Arc<jobs::JobsShared>,
    /// This process as a node; `None` for a detached handle.
    ownership: Option<Arc<ownership::Ownership>>,
    evidence: EvidenceThresholds,
    lab: sweeps::LabConfig,
    /// AI settings and today's LLM spend.
    ai: Arc<ai::Ai>,
    /// The news gate's snapshot, read by the runners.
    news: Arc<news::NewsCache>,
    news_config: news::NewsConfig,
}

/// Cloneable access to the running tree.
#[derive(Clone)]
pub struct RuntimeHandle {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for RuntimeHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuntimeHandle")
            .field("bots", &self.inner.bots_name)
            .finish()
    }
}

/// The failure a drill injects into an actor (`Fail` messages): the supervisor restarts it as
/// it would after a real crash.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct InjectedFailure(pub(crate) String);
