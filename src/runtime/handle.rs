//! [`RuntimeHandle`]: what the API and the CLI use to command the running tree (start, stop,
//! kill, re-arm runners; call providers) and to read its snapshots without awaiting Postgres.

mod provider_calls;
mod runners;

use super::*;
use crate::bus::EventBus;
use crate::domain::breaker::BreakerState;

impl RuntimeHandle {
    /// A handle with nothing running behind it: snapshots are empty/UNKNOWN and every command
    /// answers `NotRunning`. For an `AppState` built without a runtime; `clock` is the one its
    /// API runs on.
    pub fn detached(clock: Clock) -> Self {
        let t = TelemetryHandle::detached(clock.clone());
        let config = SchedulerConfig::default();
        RuntimeHandle {
            inner: Arc::new(Inner {
                registry: Arc::new(Registry::new(
                    node_name(),
                    BreakerConfig::default(),
                    clock.clone(),
                    Arc::new(TelemetrySink::new(t.clone())),
                    t.clone(),
                )),
                scheduler: Arc::new(SchedulerShared::new(&config, clock.clone())),
                telemetry: t.clone(),
                ticks: broadcast::channel(1).0,
                bots_name: format!("tradeplane.bots.detached.{}", Uuid::now_v7()),
                runner: RunnerConfig::default(),
                max_bots: None,
                integrations: Arc::new(Integrations::from_env(
                    &EnvMap::new(),
                    Arc::new(t.clone()),
                    DEFAULT_TIMEOUT,
                    &clock,
                )),
                providers: Arc::new(ProviderSet::empty()),
                provider_call_timeout: ProvidersConfig::default().call_timeout,
                trading: None,
                tiers: Arc::default(),
                status: Arc::default(),
                alerts: Default::default(),
                jobs: Arc::default(),
                ownership: None,
                evidence: EvidenceThresholds::default(),
                lab: super::sweeps::LabConfig::default(),
                ai: Arc::new(ai::Ai::new(ai::AiConfig::default(), clock.clone())),
                news: Arc::default(),
                news_config: news::NewsConfig::default(),
                clock,
            }),
        }
    }

    fn bots(&self) -> Result<ActorRef<SupervisorMsg>, RuntimeError> {
        ractor::registry::where_is(self.inner.bots_name.clone())
            .map(Into::into)
            .ok_or(RuntimeError::NotRunning)
    }

    /// What the LAB → PAPER promotion asks of a bot's backtest.
    pub fn evidence_thresholds(&self) -> &EvidenceThresholds {
        &self.inner.evidence
    }

    /// Sweep bounds and the PAPER → SHADOW thresholds.
    pub fn lab_config(&self) -> &super::sweeps::LabConfig {
        &self.inner.lab
    }

    pub fn telemetry(&self) -> &TelemetryHandle {
        &self.inner.telemetry
    }

    /// The clock this runtime runs on (the API's too: `AppState::new` takes it from here).
    pub fn clock(&self) -> &Clock {
        &self.inner.clock
    }

    /// Live events (`GET /api/events/stream`). Detached: a working bus nothing publishes to.
    pub fn bus(&self) -> &EventBus {
        self.inner.telemetry.bus()
    }

    /// The providers this runtime was started with (configs and clients). Detached: none
    /// configured.
    pub fn integrations(&self) -> Arc<Integrations> {
        self.inner.integrations.clone()
    }

    /// The stored data the entry filters read now, as the runners see it (`None` detached).
    pub fn filter_data(&self) -> Option<Arc<crate::domain::strategy_filters::FilterData>> {
        self.inner.trading.as_ref().map(|t| t.filter_data())
    }

    /// Drill (tests, operations): the next job a worker claims crashes its worker or hangs.
    pub fn inject_job_fault(&self, fault: JobFault) {
        let mut f = match self.inner.jobs.fault.lock() {
            Ok(f) => f,
            Err(p) => p.into_inner(),
        };
        *f = Some(fault);
    }

    /// Jobs this node's workers claimed since start.
    pub fn jobs_claimed(&self) -> u64 {
        self.inner
            .jobs
            .claimed
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Fault injection (tests, drills): kills the breaker actor of `scope` (`provider:<id>` or
    /// `bot:<uuid>`); its supervisor restarts it from the last published reading. False when
    /// none runs.
    pub fn kill_breaker(&self, scope: &str) -> bool {
        let breaker = match events::bot_of(scope) {
            Some(bot) => self.inner.registry.breaker(bot),
            None => events::provider_of(scope)
                .and_then(|id| self.inner.providers.get(id))
                .map(|p| p.breaker.clone()),
        };
        breaker.and_then(|b| b.actor()).map(|a| a.kill()).is_some()
    }

    /// Mirrors the global kill switch for the gates, as `settings` holds it (the switch's own
    /// write calls this, and every ownership round with what it read, so a switch flipped
    /// through another node gates this node's runners within a round). A read older than the
    /// value mirrored (by `changed_at`) is ignored.
    pub fn apply_kill_switch(&self, k: &crate::store::settings::KillSwitch) {
        if let Some(t) = &self.inner.trading {
            mirror(&t.kill_switch_at, &t.kill_switch, k.changed_at, k.active);
        }
    }

    /// Mirrors the global trading switch for the gates, as `settings` holds it (the switch's
    /// own write calls this, and every ownership round with what it read): every evaluation
    /// reads the mirror without a database round trip. A read older than the value mirrored
    /// (by `updated_at`) is ignored, so a round that raced a flip never undoes it. Answers
    /// whether this turned the mirror from on to off (a round seeing a switch turned off
    /// through another node: see `ownership::renewal`).
    pub fn apply_trading_switch(&self, s: &crate::store::settings::Settings) -> bool {
        let Some(t) = &self.inner.trading else {
            return false;
        };
        let was = mirror(
            &t.trading_switch_at,
            &t.trading_switch,
            Some(s.updated_at),
            s.trading_enabled,
        );
        was == Some(true) && !s.trading_enabled
    }

    /// The pool the runners write with (`None` for a detached handle).
    pub(crate) fn pool(&self) -> Option<sqlx::PgPool> {
        self.inner.trading.as_ref().map(|t| t.pool.clone())
    }

    /// Whether turning trading off also cancels the working LIVE orders it stops
    /// (`TRADEPLANE_TRADING_OFF_CANCELS`; false for a detached handle, which runs nothing).
    pub fn trading_off_cancels(&self) -> bool {
        self.inner
            .trading
            .as_ref()
            .is_some_and(|t| t.trading_off_cancels)
    }

    /// The PAPER fill model (also SHADOW's hypothetical fills and a flatten without a runner).
    pub fn sim_params(&self) -> SimParams {
        self.inner
            .trading
            .as_ref()
            .map(|t| t.sim.clone())
            .unwrap_or_default()
    }

    /// The broker sessions (none on a detached handle).
    /// Broker reconciliation (`None` without trading: a detached runtime).
    pub fn reconciler(&self) -> Option<Arc<super::reconciliation::Reconciler>> {
        self.inner.trading.as_ref().map(|t| t.reconciler.clone())
    }

    pub fn brokers(&self) -> Option<Arc<super::brokers::Brokers>> {
        self.inner.trading.as_ref().map(|t| t.brokers.clone())
    }

    /// The session calendar the runners trade on.
    pub fn calendar(&self) -> Option<Arc<crate::domain::calendar::HolidayCalendar>> {
        self.inner.trading.as_ref().map(|t| t.calendar.clone())
    }

    /// Waits until the runners' no-trade traces queued so far are written (or refused).
    pub async fn flush_traces(&self) {
        if let Some(trading) = &self.inner.trading {
            trading.traces.flush().await;
        }
    }

    /// Whether a supervision tree runs behind this handle (false: detached).
    pub fn is_running(&self) -> bool {
        self.inner.trading.is_some()
    }

    /// Trading kill switch as the runners see it.
    pub fn kill_switch_active(&self) -> bool {
        self.inner
            .trading
            .as_ref()
            .is_some_and(|t| t.kill_switch.load(std::sync::atomic::Ordering::Acquire))
    }

    /// The system status: blockers with severity and fix, from live state and the database
    /// snapshot (never waits on Postgres). `trace` is the asking request's.
    pub fn system_status(&self, trace: &TraceId) -> system_status::SystemStatus {
        system_status::system_status(self, trace)
    }

    /// The database half of the system status (refreshed in the background).
    pub fn status_cache(&self) -> &status_cache::StatusCache {
        &self.inner.status
    }

    /// Every bot's autonomy tier.
    pub fn tiers(&self) -> &TierBook {
        &self.inner.tiers
    }

    /// `(ticks received, evaluations completed)` of the bot's runner in this process.
    pub fn runner_counters(&self, bot_id: Uuid) -> Option<(u64, u64)> {
        self.inner.registry.runner_counters(bot_id)
    }

    pub fn bot_breaker_failures(&self, bot_id: Uuid) -> u64 {
        self.inner.registry.breaker_failures(bot_id)
    }

    /// The system-wide FULL_AUTONOMY gates, from live state.
    pub fn autonomy_system_evidence(&self) -> autonomy::SystemEvidence {
        let health = self.providers_health();
        let healthy = |ids: &[&str]| {
            health.iter().any(|p| {
                ids.contains(&p.provider_id.as_str())
                    && p.breaker_state != BreakerState::Open
                    && p.last_ok_at.is_some()
            })
        };
        // The provider the runners read their bars from (the evaluator's choice).
        let feed = bars::feed_provider(&self.integrations());
        let feed_breaker_state = feed
            .and_then(|id| health.iter().find(|p| p.provider_id == id))
            .map_or(BreakerState::Closed, |p| p.breaker_state);
        autonomy::SystemEvidence {
            feed_breaker_state,
            supervisor_loop_ok: self.scheduler_health().loop_health == LoopHealth::Ok,
            data_feed_ok: healthy(&bars::PROVIDERS),
            broker_ok: healthy(&["ironbeam", "tradovate"]),
            heartbeat_timeout_secs: i64::try_from(self.inner.runner.heartbeat_timeout.as_secs())
                .unwrap_or(i64::MAX),
        }
    }

    pub(crate) fn bot_breaker_open(&self, bot_id: Uuid) -> bool {
        self.inner.registry.breaker_open(bot_id)
    }

    pub(crate) fn set_gated(&self, bot_id: Uuid, gated: bool) {
        self.inner.registry.set_gated(bot_id, gated);
    }

    /// Trading loop counters (zero for a detached handle).
    pub fn trading_stats(&self) -> evaluator::TradingStats {
        self.inner
            .trading
            .as_ref()
            .map(|t| t.stats())
            .unwrap_or_default()
    }

    pub fn runners(&self) -> Vec<RunnerSnapshot> {
        self.inner.registry.runners()
    }

    /// The turn to write `bots.status` after changing the runtime's view of the bot (see
    /// `Registry::status_turn`): hold it for the write only.
    pub async fn status_turn(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.inner.registry.status_turn().await
    }

    /// The runners' database-readiness signal (`None` without a runtime).
    pub fn db_readiness(&self) -> Option<super::db_ready::DbReadiness> {
        self.inner.trading.as_ref().map(|t| t.db.clone())
    }

    pub fn runner(&self, bot_id: Uuid) -> Option<RunnerSnapshot> {
        self.inner.registry.runner(bot_id)
    }

    /// Bot runner breakers, then provider breakers (`provider:<id>`).
    pub fn breakers(&self) -> Vec<BreakerView> {
        let mut v = self.inner.registry.breakers();
        v.extend(self.inner.providers.breakers());
        v
    }

    pub fn scheduler_health(&self) -> SchedulerHealth {
        self.inner.scheduler.health()
    }

    pub fn telemetry_stats(&self) -> TelemetryStats {
        self.inner.telemetry.stats()
    }

    /// Replays a bar boundary to the runners of its timeframe, as if the clock had ticked
    /// (drills and tests: drive evaluations over chosen historical bars). Returns how many
    /// runners of that timeframe it goes to (none when nothing reads the ticks).
    pub fn inject_tick(&self, tick: BarTick) -> usize {
        if self.inner.ticks.send(tick).is_err() {
            return 0;
        }
        self.inner
            .trading
            .as_ref()
            .map_or(0, |t| t.tick_fanout.runners(tick.timeframe))
    }

    /// This process as a node (`None` when detached).
    pub fn ownership(&self) -> Option<&Arc<ownership::Ownership>> {
        self.inner.ownership.as_ref()
    }

    /// Whether this process runs the cluster's singletons now.
    pub fn leadership(&self) -> ownership::Leadership {
        self.inner
            .ownership
            .as_ref()
            .map(ownership::Leadership::of)
            .unwrap_or_default()
    }

    /// The lease TTL nodes are judged by (the default when detached).
    pub fn lease_ttl(&self) -> Duration {
        self.inner.ownership.as_ref().map_or_else(
            || ownership::OwnershipConfig::default().lease_ttl,
            |o| o.config().lease_ttl,
        )
    }

    /// The other alive nodes' breakers not CLOSED at `now` (each node's breakers are its own).
    pub async fn breakers_elsewhere(
        &self,
        pool: &sqlx::PgPool,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<crate::store::circuit_breakers::ElsewhereBreaker>, sqlx::Error> {
        let here = self.ownership().map_or("", |o| o.name());
        crate::store::circuit_breakers::elsewhere(pool, here, now, self.lease_ttl()).await
    }

    /// Databento's live stream feeding the bar feed (`None`: not configured, or detached).
    pub fn live_stream(&self) -> Option<Arc<super::live_stream::LiveBars>> {
        self.inner.trading.as_ref()?.feed.live().cloned()
    }

    /// Subscribes to bar ticks (all timeframes).
    pub fn ticks(&self) -> broadcast::Receiver<BarTick> {
        self.inner.ticks.subscribe()
    }
}

/// Stores `value` read as of `read_at` into `flag`, unless the value it holds was written at a
/// later time (`seen`): a read that raced a flip never undoes it. Answers the value it
/// replaced (`None`: nothing stored).
fn mirror(
    seen: &std::sync::Mutex<Option<chrono::DateTime<chrono::Utc>>>,
    flag: &std::sync::atomic::AtomicBool,
    read_at: Option<chrono::DateTime<chrono::Utc>>,
    value: bool,
) -> Option<bool> {
    let mut at = seen
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if at.is_some_and(|seen| read_at.is_none_or(|r| r < seen)) {
        return None;
    }
    *at = read_at;
    Some(flag.swap(value, std::sync::atomic::Ordering::AcqRel))
}
