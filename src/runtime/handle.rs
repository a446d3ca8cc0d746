//! [`RuntimeHandle`]: what the API and the CLI use to command the running tree (start, stop,
//! kill, re-arm runners; call providers) and to read its snapshots without awaiting Postgres.

use super::*;
use crate::bus::EventBus;
use crate::domain::{bot::BotStatus, breaker::BreakerState};

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

    /// A configured provider of the running tree.
    fn provider(&self, id: &str) -> Result<&Arc<providers::ProviderShared>, ProviderCallError> {
        if !self.inner.providers.running() {
            return Err(ProviderCallError::NotRunning);
        }
        self.inner.providers.get(id).ok_or_else(|| {
            if self.inner.integrations.client(id).is_some() {
                ProviderCallError::NotRunning
            } else {
                ProviderCallError::NotConfigured(id.to_owned())
            }
        })
    }

    /// The running actor of a configured provider.
    fn provider_actor(&self, id: &str) -> Result<ActorRef<ProviderMsg>, ProviderCallError> {
        let shared = self.provider(id)?;
        ractor::registry::where_is(self.inner.providers.actor_name(shared.id()))
            .map(Into::into)
            .ok_or(ProviderCallError::NotRunning)
    }

    pub(super) async fn provider_call<T: Send + 'static>(
        &self,
        id: &str,
        msg: impl FnOnce(ractor::RpcReplyPort<Result<T, ProviderCallError>>) -> ProviderMsg,
    ) -> Result<T, ProviderCallError> {
        let actor = self.provider_actor(id)?;
        // The actor's own time box ends the call first; this one only covers a lost actor.
        let limit = self.inner.provider_call_timeout + Duration::from_secs(1);
        match actor.call(msg, Some(limit)).await {
            Ok(ractor::rpc::CallResult::Success(r)) => r,
            Ok(ractor::rpc::CallResult::Timeout) => Err(ProviderCallError::Timeout(id.to_owned())),
            Ok(ractor::rpc::CallResult::SenderError) | Err(_) => {
                Err(ProviderCallError::ActorGone(id.to_owned()))
            }
        }
    }

    /// Runs `id`'s verify through its ProviderActor (its breaker applies). Returns the report
    /// and how long the verify took.
    pub async fn verify_provider(
        &self,
        id: &str,
    ) -> Result<(VerifyReport, Duration), ProviderCallError> {
        let trace = TraceId::current();
        self.provider_call(id, move |reply| ProviderMsg::Verify(trace, reply))
            .await
    }

    /// Fetches bars through `id`'s ProviderActor (its breaker applies) into `market_bars`.
    pub async fn fetch_bars(
        &self,
        id: &str,
        request: BarsRequest,
    ) -> Result<Vec<Bar>, ProviderCallError> {
        let trace = TraceId::current();
        self.provider_call(id, move |reply| {
            ProviderMsg::FetchBars(trace, Box::new(request), reply)
        })
        .await
    }

    /// The stored data the entry filters read now, as the runners see it (`None` detached).
    pub fn filter_data(&self) -> Option<Arc<crate::domain::strategy_filters::FilterData>> {
        self.inner.trading.as_ref().map(|t| t.filter_data())
    }

    /// Reads macro data through `id`'s ProviderActor (its breaker and usage events apply):
    /// `fmp` serves the economic calendar, `fred` series observations.
    pub async fn fetch_macro(
        &self,
        id: &str,
        request: super::providers::MacroRequest,
    ) -> Result<super::providers::MacroData, ProviderCallError> {
        let trace = TraceId::current();
        self.provider_call(id, move |reply| {
            ProviderMsg::FetchMacro(trace, Box::new(request), reply)
        })
        .await
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

    /// Fault injection (tests, drills): `id`'s actor fails; the Providers supervisor restarts it.
    pub fn fail_provider(&self, id: &str, reason: &str) -> Result<(), ProviderCallError> {
        self.provider_actor(id)?
            .cast(ProviderMsg::Fail(reason.to_owned()))
            .map_err(|_| ProviderCallError::ActorGone(id.to_owned()))
    }

    /// A configured provider's published breaker state (CLOSED when it has none here).
    pub fn provider_breaker_state(&self, id: &str) -> crate::domain::breaker::BreakerState {
        self.inner
            .providers
            .get(id)
            .map(|p| p.breaker.reading().state().into())
            .unwrap_or_default()
    }

    /// Every configured provider's breaker and last results, from memory.
    pub fn providers_health(&self) -> Vec<ProviderHealth> {
        self.inner.providers.health()
    }

    /// Operator reset of `id`'s breaker to CLOSED (clears its failure window), through its
    /// breaker actor; recorded as a `CIRCUIT_BREAKER_RESET` system event naming `by`. The live
    /// call window starts afresh too, so the provider's health is UNKNOWN until a call proves
    /// it again (never CONNECTED on the word of a reset). Answers the breaker's new view.
    pub async fn reset_provider_breaker(
        &self,
        id: &str,
        by: &str,
    ) -> Result<BreakerView, ProviderCallError> {
        let shared = self.provider(id)?;
        let scope = providers::provider_scope(shared.id());
        let reset = shared
            .breaker
            .reset(BREAKER_CALL_TIMEOUT)
            .await
            .map_err(|_| ProviderCallError::Timeout(id.to_owned()))?;
        shared.forget_calls();
        let from = BreakerState::from(reset.from);
        self.inner.telemetry.system_event(
            NewSystemEvent::new(
                Severity::Info,
                "CIRCUIT_BREAKER_RESET",
                format!("circuit breaker {scope} reset by {by} (was {from})"),
            )
            .provider(shared.id())
            .metadata(json!({ "by": by, "from": from })),
        );
        Ok(BreakerView::of(scope, &reset.reading))
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

    /// Starts a runner for `bot_id` under this node's lease on it. Refused when the bot is
    /// KILLED, already running, its breaker is OPEN, or another node holds its lease. The bot's breaker actor starts beside it (on the bot's first start).
    pub async fn start_runner(
        &self,
        bot_id: Uuid,
        options: RunnerOptions,
    ) -> Result<(), RuntimeError> {
        let bots = self.bots()?;
        let registry = &self.inner.registry;
        let startable = |slot: &registry::Slot| {
            if let Some(reason) = &slot.kill {
                return Err(RuntimeError::Killed(bot_id, reason.clone()));
            }
            if slot.status.is_live() {
                return Err(RuntimeError::AlreadyRunning(bot_id));
            }
            Ok(())
        };
        let (breaker, needs_permit) = registry.with_slot(bot_id, |slot| {
            startable(slot).map(|()| (slot.breaker.clone(), slot.permit.is_none()))
        })?;
        // A bot runs only on the node holding its lease (kept if this node holds it already).
        if let Some(ownership) = &self.inner.ownership {
            ownership.acquire(bot_id).await.map_err(|e| match e {
                ownership::AcquireError::HeldElsewhere {
                    bot_id,
                    node,
                    expires_at,
                } => RuntimeError::OwnedElsewhere {
                    bot_id,
                    node,
                    expires_at,
                },
                ownership::AcquireError::Db(e) => RuntimeError::Database(e),
            })?;
        }
        let breaker_child =
            BreakerActor::child_spec(events::breaker_child(&bot_scope(bot_id)), breaker.clone());
        match Supervisor::start_child(&bots, breaker_child).await {
            Ok(()) | Err(SupervisorError::AlreadyExists(_)) => {}
            Err(err) => return Err(err.into()),
        }
        let admitted = if needs_permit {
            Some(breaker.admit_in_order(BREAKER_CALL_TIMEOUT).await)
        } else {
            None
        };
        let max_bots = self.inner.max_bots;
        let shared = registry.with_slots(|slots| {
            // Counted only under a limit: a walk of every slot per start is quadratic in a fleet.
            let full = max_bots
                .filter(|&max| slots.values().filter(|s| s.status.is_live()).count() >= max);
            let slot = slots
                .get_mut(&bot_id)
                .ok_or(RuntimeError::NotFound(bot_id))?;
            // Again: a kill or another start may have come in meanwhile.
            startable(slot)?;
            if let Some(max) = full {
                let err = SupervisorError::MaxChildren(max);
                slot.status = BotStatus::Error;
                slot.permit = None;
                slot.last_error = Some(err.to_string());
                return Err(err.into());
            }
            match admitted {
                Some(Ok(p)) => {
                    slot.permit.get_or_insert(p);
                }
                Some(Err(open)) => return Err(RuntimeError::BreakerOpen(bot_id, open.retry_after)),
                None => {}
            }
            slot.refused = false;
            slot.status = BotStatus::Starting;
            slot.options = Some(options);
            slot.shared.reset_stuck();
            Ok(slot.shared.clone())
        });
        registry.mark_breaker(bot_id);
        registry.mark_bot(bot_id);
        let shared = shared?;
        let trading = self.inner.trading.clone().ok_or(RuntimeError::NotRunning)?;
        let spec = bots::runner_spec(
            bots::RunnerDeps {
                registry: registry.clone(),
                handle: self.clone(),
                trading,
            },
            bot_id,
            options.timeframe,
            shared,
            self.inner.ticks.clone(),
            &self.inner.runner,
        );
        if let Err(err) = Supervisor::start_child(&bots, spec).await {
            registry.with_slot(bot_id, |slot| {
                slot.status = BotStatus::Error;
                slot.permit = None;
                slot.last_error = Some(err.to_string());
            });
            registry.mark_bot(bot_id);
            return Err(err.into());
        }
        Ok(())
    }

    /// Reads what the runners of `bots` load at their start, for all of them at once (a
    /// resume or takeover batch, under leases this node holds), and hands it to them; undo with
    /// [`RuntimeHandle::forget_preloaded`] once they started. Without a runtime: nothing.
    pub(crate) async fn preload_runners(
        &self,
        bots: &[crate::store::bots::Bot],
    ) -> Result<(), sqlx::Error> {
        let Some(trading) = &self.inner.trading else {
            return Ok(());
        };
        let loaded = super::evaluator::Loaded::read_many(trading, bots, self.clock().now()).await?;
        trading.preload(loaded);
        Ok(())
    }

    /// Drops what [`RuntimeHandle::preload_runners`] read and no runner took.
    pub(crate) fn forget_preloaded(&self, bots: &[Uuid]) {
        if let Some(trading) = &self.inner.trading {
            trading.forget_preloaded(bots);
        }
    }

    /// Stops a runner (graceful, then killed after its shutdown timeout) and forgets it.
    pub async fn stop_runner(&self, bot_id: Uuid) -> Result<(), RuntimeError> {
        let bots = self.bots()?;
        match Supervisor::terminate_child(&bots, bot_scope(bot_id)).await {
            Ok(()) => Ok(()),
            Err(SupervisorError::NotFound(_)) => Err(RuntimeError::NotFound(bot_id)),
            Err(e) => Err(e.into()),
        }
    }

    /// Stops the bot's runner without waiting (its lease is gone or let go); the bot's status
    /// is left to its new owner.
    pub(crate) fn release_runner(&self, bot_id: Uuid) {
        bots::terminate_runner(&self.inner.bots_name, bot_id);
    }

    /// Kill trigger (risk breach, supervision): stops the runner if any and latches KILLED
    /// until [`RuntimeHandle::rearm`]; the bot's risk is then removed in the background through
    /// the one path (`safety`: working orders cancelled under a new lease epoch). Never waits.
    pub fn kill(&self, bot_id: Uuid, reason: &str) {
        let registry = &self.inner.registry;
        registry.with_slot(bot_id, |slot| registry.latch_kill(slot, reason));
        registry.mark_bot(bot_id);
        bots::terminate_runner(&self.inner.bots_name, bot_id);
    }

    /// The kill of a caller that removes the bot's risk itself, at once (an operator's kill,
    /// the kill switch: `safety::remove_risk`): latches KILLED and stops the runner. Never
    /// waits.
    pub(crate) fn latch_kill(&self, bot_id: Uuid, reason: &str) {
        let registry = &self.inner.registry;
        registry.with_slot(bot_id, |slot| registry.latch_kill_only(slot, reason));
        registry.mark_bot(bot_id);
        bots::terminate_runner(&self.inner.bots_name, bot_id);
    }

    /// Human re-arm of a KILLED bot: clears the latch, resets its breaker and faults; the bot
    /// stays STOPPED until started again.
    pub async fn rearm(&self, bot_id: Uuid, by: &str) -> Result<(), RuntimeError> {
        let registry = &self.inner.registry;
        let was = registry.with_slots(|slots| {
            let slot = slots.get_mut(&bot_id)?;
            let reason = slot.kill.take()?;
            slot.refused = false;
            slot.status = BotStatus::Stopped;
            slot.permit = None;
            slot.shared.set_muted(false);
            slot.shared.reset_stuck();
            Some((reason, slot.breaker.clone()))
        });
        let Some((reason, breaker)) = was else {
            return Err(RuntimeError::NotKilled(bot_id));
        };
        registry.mark_bot(bot_id);
        breaker.reset(BREAKER_CALL_TIMEOUT).await?;
        registry.mark_breaker(bot_id);
        registry.event(
            NewSystemEvent::new(
                Severity::Info,
                "BOT_REARMED",
                format!("bot {bot_id} re-armed by {by}"),
            )
            .bot(bot_id)
            .metadata(json!({ "by": by, "kill_reason": reason })),
        );
        Ok(())
    }

    /// Fault injection (tests, drills).
    pub async fn inject_fault(&self, bot_id: Uuid, fault: Fault) -> Result<(), RuntimeError> {
        if let Fault::Mute(muted) = fault {
            let shared = self
                .inner
                .registry
                .with_slots(|slots| slots.get(&bot_id).map(|s| s.shared.clone()))
                .ok_or(RuntimeError::NotFound(bot_id))?;
            shared.set_muted(muted);
            return Ok(());
        }
        let bots = self.bots()?;
        let child = Supervisor::child(&bots, bot_scope(bot_id), Duration::from_secs(2))
            .await?
            .and_then(|c| c.cell)
            .ok_or(RuntimeError::NotFound(bot_id))?;
        let runner: ActorRef<RunnerMsg> = child.into();
        let msg = match fault {
            Fault::Fail(reason) => RunnerMsg::Fail(reason),
            Fault::Hang(d) => RunnerMsg::Hang(d),
            Fault::Mute(_) => return Ok(()),
        };
        runner.cast(msg).map_err(|_| RuntimeError::NotFound(bot_id))
    }

    /// Mirrors the global kill switch for the gates (the API calls this when it flips).
    pub fn set_kill_switch(&self, active: bool) {
        if let Some(t) = &self.inner.trading {
            t.kill_switch
                .store(active, std::sync::atomic::Ordering::Release);
        }
    }

    /// Mirrors the global trading switch for the gates, as `settings` holds it (the switch's
    /// own write calls this, and every ownership round with what it read): every evaluation
    /// reads the mirror without a database round trip. A read older than the value mirrored
    /// (by `updated_at`) is ignored, so a round that raced a flip never undoes it.
    pub fn apply_trading_switch(&self, s: &crate::store::settings::Settings) {
        let Some(t) = &self.inner.trading else { return };
        let mut at = t
            .trading_switch_at
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if at.is_some_and(|seen| s.updated_at < seen) {
            return;
        }
        *at = Some(s.updated_at);
        t.trading_switch
            .store(s.trading_enabled, std::sync::atomic::Ordering::Release);
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

    /// Tells the bot's runner (if any) to re-read its settings: stage, limits, strategy.
    pub async fn bot_changed(&self, bot_id: Uuid) {
        let Ok(bots) = self.bots() else { return };
        if let Ok(Some(child)) =
            Supervisor::child(&bots, bot_scope(bot_id), Duration::from_secs(2)).await
            && let Some(cell) = child.cell
        {
            let runner: ActorRef<RunnerMsg> = cell.into();
            let _ = runner.cast(RunnerMsg::Reload);
        }
    }

    /// The broker sessions (none on a detached handle).
    /// Broker reconciliation (`None` without trading: a detached runtime).
    pub fn reconciler(&self) -> Option<Arc<super::reconciliation::Reconciler>> {
        self.inner.trading.as_ref().map(|t| t.reconciler.clone())
    }

    pub fn brokers(&self) -> Option<Arc<super::brokers::Brokers>> {
        self.inner.trading.as_ref().map(|t| t.brokers.clone())
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

    /// Databento's live stream feeding the bar feed (`None`: not configured, or detached).
    pub fn live_stream(&self) -> Option<Arc<super::live_stream::LiveBars>> {
        self.inner.trading.as_ref()?.feed.live().cloned()
    }

    /// Subscribes to bar ticks (all timeframes).
    pub fn ticks(&self) -> broadcast::Receiver<BarTick> {
        self.inner.ticks.subscribe()
    }
}
