//! [`Runtime`], the running tree: `start` builds it (telemetry, restored state, the supervisors in
//! their order), `shutdown` stops it in reverse and flushes what it wrote.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use ractor::{ActorRef, concurrency::JoinHandle};
use serde_json::json;
use sqlx::PgPool;
use tokio::sync::{broadcast, watch};
use tradeplane_actors::{ChildSpec, Shutdown, Strategy, Supervisor, SupervisorMsg, SupervisorSpec};
use uuid::Uuid;

use super::evaluator::Trading;
use super::events::TelemetrySink;
use super::feed::BarFeed;
use super::providers::ProviderSet;
use super::registry::Registry;
use super::scheduler::{Scheduler, SchedulerArgs, SchedulerShared};
use super::{
    Inner, RuntimeConfig, RuntimeHandle, TelemetryConfig, TelemetryStats, TelemetryWriter,
    TierBook, ai, alerts, autonomy, bots, broker_sessions, brokers, db_ready, jobs, live_stream,
    macro_data, market_hours, news, ownership, paper_writer, providers, reconciliation, safety,
    status_cache, trace_writer, usage_retention,
};
use crate::integrations::{Integrations, http::DEFAULT_TIMEOUT, usage::UsageSink};
use crate::store::{
    settings,
    system_events::{NewSystemEvent, Severity},
};

/// The running tree. Stop it with [`Runtime::shutdown`].
pub struct Runtime {
    handle: RuntimeHandle,
    root: ActorRef<SupervisorMsg>,
    root_join: JoinHandle<()>,
    telemetry: TelemetryWriter,
    writer_stop: watch::Sender<bool>,
    writer: tokio::task::JoinHandle<()>,
    providers_writer: tokio::task::JoinHandle<()>,
    trace_writer: tokio::task::JoinHandle<()>,
    trace_stop: watch::Sender<bool>,
    alerts: Option<tokio::task::JoinHandle<()>>,
    ownership_stop: watch::Sender<bool>,
    ownership_loop: tokio::task::JoinHandle<()>,
}

impl Runtime {
    /// Starts telemetry, restores persisted breakers and kill latches, then the tree.
    pub async fn start(pool: PgPool, config: RuntimeConfig) -> anyhow::Result<Runtime> {
        let clock = config.clock.clone();
        let telemetry = TelemetryWriter::start(
            pool.clone(),
            TelemetryConfig {
                node: Some(config.node.clone()),
                ..config.telemetry.clone()
            },
            clock.clone(),
        );
        let t = telemetry.handle();
        let sink = Arc::new(TelemetrySink::new(t.clone()));
        let registry = Arc::new(Registry::new(
            config.node.clone(),
            config.breaker,
            clock.clone(),
            sink.clone(),
            t.clone(),
        ));
        let restored = registry.restore(&pool).await?;
        let node = ownership::Ownership::register(
            pool.clone(),
            clock.clone(),
            config.node.clone(),
            config.ownership.clone(),
        )
        .await?;
        let (ownership_stop, ownership_stop_rx) = watch::channel(false);
        let id = Uuid::now_v7();
        // Every provider call's usage event goes through the telemetry writer.
        let usage: Arc<dyn UsageSink> = Arc::new(t.clone());
        let integrations = Arc::new(Integrations::from_env(
            &config.provider_env,
            usage,
            DEFAULT_TIMEOUT,
            &clock,
        ));
        let provider_set = Arc::new(
            ProviderSet::restore(
                &integrations,
                &pool,
                config.breaker,
                clock.clone(),
                sink.clone(),
                format!("tradeplane.provider.{id}"),
                config.node.clone(),
            )
            .await?,
        );
        let brokers = Arc::new(brokers::Brokers::from_env(
            &config.provider_env,
            Arc::new(t.clone()),
            DEFAULT_TIMEOUT,
            &clock,
        ));
        brokers.attach_breakers(&provider_set);
        let (trace_stop, trace_stop_rx) = watch::channel(false);
        let (traces, trace_writer) = trace_writer::spawn(pool.clone(), trace_stop_rx);
        let switch = settings::get(&pool).await?;
        let reconciler = Arc::new(
            reconciliation::Reconciler::new(
                pool.clone(),
                clock.clone(),
                t.bus().clone(),
                brokers.clone(),
                Some(config.node.clone()),
                config.reconcile.clone(),
            )
            .with_commission(config.sim.commission_per_contract),
        );
        let kill = settings::kill_switch(&pool).await?;
        let trading = Arc::new(Trading {
            pool: pool.clone(),
            live_lane: crate::store::live_lane::lane(&pool, !brokers.sessions().is_empty()),
            feed: BarFeed::new(config.feed).shared(pool.clone()),
            calendar: Arc::new(crate::store::cme_holidays::load_trading_calendar(&pool).await?),
            sim: config.sim.clone(),
            traces,
            paper: paper_writer::PaperWriter::spawn(pool.clone()),
            kill_switch: AtomicBool::new(kill.active),
            kill_switch_at: std::sync::Mutex::new(kill.changed_at),
            trading_switch: AtomicBool::new(switch.trading_enabled),
            trading_switch_at: std::sync::Mutex::new(Some(switch.updated_at)),
            trading_off_cancels: config.trading_off_cancels,
            skipped_ticks: Default::default(),
            evaluations: Default::default(),
            bus: t.bus().clone(),
            clock: clock.clone(),
            ownership: node.clone(),
            db: db_ready::DbReadiness::new(config.db_probe_every),
            brokers: brokers.clone(),
            reconciler: reconciler.clone(),
            filter_data: Default::default(),
            preloaded: Default::default(),
            tick_fanout: Default::default(),
        });
        // Databento's live stream feeds the bar feed when its gateway is configured.
        let live = integrations
            .client(live_stream::PROVIDER)
            .and_then(|c| crate::integrations::providers::databento_live::live_addr(&c))
            .map(|_| Arc::new(live_stream::LiveBars::new(config.live_stream.clone())));
        if let Some(live) = &live {
            trading.feed.set_live(live.clone());
        }
        let live_trading = trading.clone();
        // Trading past the verified holiday data is never silent.
        market_hours::check_today(&pool, t.bus(), clock.now()).await?;
        let tiers = Arc::new(TierBook::default());
        for (bot, tier) in crate::store::autonomy_scores::tiers(&pool).await? {
            tiers.set(bot, tier);
        }
        let (health_tx, health_rx) = tokio::sync::mpsc::unbounded_channel();
        registry.watch_health(health_tx.clone());
        provider_set.watch_health(health_tx);
        let (writer_stop, stop_rx) = watch::channel(false);
        let writer = tokio::spawn(registry.clone().run_writer(pool.clone(), stop_rx.clone()));
        let status = Arc::new(status_cache::StatusCache::default());
        tokio::spawn(status_cache::run(
            status.clone(),
            pool.clone(),
            t.clone(),
            status_cache::ThisNode {
                name: config.node.clone(),
                lease_ttl: config.ownership.lease_ttl,
            },
            stop_rx.clone(),
        ));
        let alert_counters = Arc::new(alerts::AlertCounters::default());
        let alerts = alerts::spawn(
            pool.clone(),
            integrations.client("discord"),
            t.clone(),
            alert_counters.clone(),
            alerts::AlertsConfig::default(),
            ownership::Leadership::of(&node),
            stop_rx.clone(),
        );
        tokio::spawn(
            reconciler
                .clone()
                .run_loop(ownership::Leadership::of(&node), stop_rx.clone()),
        );
        tokio::spawn(usage_retention::run_loop(
            pool.clone(),
            clock.clone(),
            ownership::Leadership::of(&node),
            config.usage_retention.clone(),
            stop_rx.clone(),
        ));
        let macro_stop = stop_rx.clone();
        let news_stop = stop_rx.clone();
        let providers_writer = tokio::spawn(provider_set.clone().run_writer(pool.clone(), stop_rx));
        let news_config = if config
            .provider_env
            .contains_key("TRADEPLANE_NEWS_POLL_SECS")
        {
            news::NewsConfig::from_env(&config.provider_env)
        } else {
            config.news.clone()
        };
        let news_cache = Arc::new(news::NewsCache::default());
        tokio::spawn(news::run_cache(
            news_cache.clone(),
            pool.clone(),
            clock.clone(),
            news_config.clone(),
            news_stop.clone(),
        ));

        let bots_name = format!("tradeplane.bots.{id}");
        let (ticks, _) = broadcast::channel(1024);
        let shared = Arc::new(SchedulerShared::new(&config.scheduler, clock.clone()));

        // Today's LLM spend as recorded (every node's; budgets are per UTC day).
        let ai_book = Arc::new(ai::Ai::new(
            ai::AiConfig::from_env(&config.provider_env),
            clock.clone(),
        ));
        ai_book.sync(&pool).await?;
        let handle = RuntimeHandle {
            inner: Arc::new(Inner {
                clock: clock.clone(),
                registry: registry.clone(),
                scheduler: shared.clone(),
                telemetry: t.clone(),
                ticks: ticks.clone(),
                bots_name: bots_name.clone(),
                runner: config.runner.clone(),
                max_bots: config.max_bots,
                integrations,
                providers: provider_set.clone(),
                provider_call_timeout: config.providers.call_timeout,
                trading: Some(trading),
                tiers,
                status: status.clone(),
                alerts: alert_counters.clone(),
                jobs: Arc::default(),
                ownership: Some(node.clone()),
                evidence: config.evidence.clone(),
                lab: config.lab.clone(),
                ai: ai_book,
                news: news_cache.clone(),
                news_config: news_config.clone(),
            }),
        };
        tokio::spawn(news::run_poller(
            handle.clone(),
            pool.clone(),
            news_config,
            news_cache,
            news_stop,
        ));
        let ownership_loop = node.spawn(handle.clone(), ownership_stop_rx);
        // The entry filters' data: leader refresh from the vendors, every node's reload.
        tokio::spawn(macro_data::run_loop(
            handle.clone(),
            config.macro_data.clone(),
            macro_stop,
        ));
        // Kills the runtime decides on its own (risk triggers, stuck runners, a LIVE bot's
        // breaker) remove the bot's risk through the one path (`safety`).
        let (kills_tx, kills_rx) = tokio::sync::mpsc::unbounded_channel();
        registry.watch_kills(kills_tx);
        tokio::spawn(safety::run_kill_worker(handle.clone(), kills_rx));
        let scheduler_child = {
            let (config, shared, ticks, pool, registry, t, leadership) = (
                config.scheduler.clone(),
                shared.clone(),
                ticks.clone(),
                pool.clone(),
                registry.clone(),
                t.clone(),
                handle.leadership(),
            );
            ChildSpec::new("scheduler", move |sup| {
                let args = SchedulerArgs {
                    config: config.clone(),
                    shared: shared.clone(),
                    ticks: ticks.clone(),
                    pool: pool.clone(),
                    registry: registry.clone(),
                    telemetry: t.clone(),
                    leadership: leadership.clone(),
                };
                async move {
                    ractor::Actor::spawn_linked(None, Scheduler, args, sup)
                        .await
                        .map(|(r, _)| r.get_cell())
                }
            })
        };
        let bots_child = {
            // No child cap: breaker actors stay after their runners stop, so `max_bots` is
            // counted on the runners (`start_runner`).
            let spec = SupervisorSpec::dynamic(None)
                .intensity(config.bots_intensity, config.bots_period)
                .heartbeat_check(config.heartbeat_check)
                .clock(clock.clone());
            let bots_sink: tradeplane_actors::SharedSink = Arc::new(bots::BotsSink {
                telemetry: TelemetrySink::new(t.clone()),
                registry: registry.clone(),
                bots_name: bots_name.clone(),
                stuck_kill_after: config.runner.stuck_kill_after,
            });
            let name = bots_name.clone();
            ChildSpec::new("bots", move |sup| {
                bots::spawn_bots(name.clone(), spec.clone(), bots_sink.clone(), sup)
            })
            .shutdown(Shutdown::Infinity)
        };
        let providers_child = {
            let spec = providers::supervisor_spec(&provider_set, &pool, &config.providers)
                .clock(clock.clone());
            let sink: tradeplane_actors::SharedSink = sink.clone();
            let name = format!("tradeplane.providers.{id}");
            ChildSpec::new("providers", move |sup| {
                providers::spawn_providers(name.clone(), spec.clone(), sink.clone(), sup)
            })
            .shutdown(Shutdown::Infinity)
        };
        let brokers_child = {
            let ctx = broker_sessions::SessionContext {
                brokers: brokers.clone(),
                reconciler: reconciler.clone(),
                pool: pool.clone(),
                telemetry: t.clone(),
                every: config.broker_every,
                config: config.broker_sessions.clone(),
            };
            let spec = broker_sessions::supervisor_spec(&ctx, &format!("tradeplane.broker.{id}"))
                .clock(clock.clone());
            let sink: tradeplane_actors::SharedSink = sink.clone();
            let name = format!("tradeplane.brokers.{id}");
            ChildSpec::new("brokers", move |sup| {
                broker_sessions::spawn_brokers(name.clone(), spec.clone(), sink.clone(), sup)
            })
            .shutdown(Shutdown::Infinity)
        };
        let scorer_child = {
            let (pool, handle, config) = (pool.clone(), handle.clone(), config.autonomy.clone());
            let health = Arc::new(tokio::sync::Mutex::new(health_rx));
            ChildSpec::new("autonomy", move |sup| {
                let args = autonomy::ScorerArgs {
                    pool: pool.clone(),
                    handle: handle.clone(),
                    config: config.clone(),
                    health: health.clone(),
                };
                async move {
                    ractor::Actor::spawn_linked(None, autonomy::Scorer, args, sup)
                        .await
                        .map(|(r, _)| r.get_cell())
                }
            })
        };
        let jobs_child = {
            let mut spec = SupervisorSpec::new(Strategy::OneForOne)
                .intensity(20, Duration::from_secs(60))
                .clock(clock.clone());
            for n in 0..config.jobs.workers {
                let args = jobs::WorkerArgs {
                    id: format!("{}/{id}/{n}", config.node),
                    pool: pool.clone(),
                    rt: handle.clone(),
                    config: config.jobs.clone(),
                };
                spec = spec.child(
                    ChildSpec::new(format!("job-worker:{n}"), move |sup| {
                        let args = args.clone();
                        async move {
                            ractor::Actor::spawn_linked(None, jobs::JobWorker, args, sup)
                                .await
                                .map(|(r, _)| r.get_cell())
                        }
                    })
                    .backoff(tradeplane_actors::Backoff::exponential(
                        Duration::from_millis(100),
                        Duration::from_secs(10),
                    ))
                    .shutdown(Shutdown::Timeout(Duration::from_secs(2))),
                );
            }
            let sink: tradeplane_actors::SharedSink = sink.clone();
            let name = format!("tradeplane.jobs.{id}");
            ChildSpec::new("jobs", move |sup| {
                providers::spawn_providers(name.clone(), spec.clone(), sink.clone(), sup)
            })
            .shutdown(Shutdown::Infinity)
        };
        let live_child = live.map(|live| {
            let (rt, trading) = (handle.clone(), live_trading.clone());
            ChildSpec::new("live-stream", move |sup| {
                let args = live_stream::LiveStreamArgs {
                    rt: rt.clone(),
                    trading: trading.clone(),
                    live: live.clone(),
                };
                async move {
                    ractor::Actor::spawn_linked(None, live_stream::LiveStream, args, sup)
                        .await
                        .map(|(r, _)| r.get_cell())
                }
            })
        });
        // Providers start before Bots and Jobs and stop after them (reverse start order);
        // the scorer starts last and stops first. The live stream sits between the providers
        // (its gap fills) and the bots.
        let mut root_spec = SupervisorSpec::new(Strategy::OneForOne)
            .intensity(5, Duration::from_secs(60))
            .clock(clock)
            .child(scheduler_child)
            .child(providers_child)
            .child(brokers_child);
        if let Some(live_child) = live_child {
            root_spec = root_spec.child(live_child);
        }
        let root_spec = root_spec
            .child(bots_child)
            .child(jobs_child)
            .child(scorer_child);
        let (root, root_join) =
            Supervisor::spawn(Some(format!("tradeplane.root.{id}")), root_spec, sink, None).await?;
        t.system_event(
            NewSystemEvent::new(
                Severity::Info,
                "RUNTIME_STARTED",
                "supervision tree started",
            )
            .metadata(json!({
                "node": config.node,
                "restored": restored,
                "providers": provider_set.health().iter().map(|p| p.provider_id.clone()).collect::<Vec<_>>(),
            })),
        );
        Ok(Runtime {
            handle,
            root,
            root_join,
            telemetry,
            writer_stop,
            writer,
            providers_writer,
            trace_writer,
            trace_stop,
            alerts,
            ownership_stop,
            ownership_loop,
        })
    }

    pub fn handle(&self) -> RuntimeHandle {
        self.handle.clone()
    }

    /// Stops the tree in order (Bots, then the Scheduler), writes the registry a last time,
    /// then flushes telemetry. Call before closing the pool.
    pub async fn shutdown(self) -> TelemetryStats {
        let _ = self
            .root
            .stop_and_wait(Some("shutdown".into()), Some(Duration::from_secs(60)))
            .await;
        let _ = self.root_join.await;
        self.handle
            .inner
            .telemetry
            .system_event(NewSystemEvent::new(
                Severity::Info,
                "RUNTIME_STOPPED",
                "supervision tree stopped",
            ));
        // Runners are gone: write their last no-trade traces.
        let _ = self.trace_stop.send(true);
        if let Err(err) = self.trace_writer.await {
            tracing::error!(error = %err, "trace writer failed");
        }
        let _ = self.writer_stop.send(true);
        if let Err(err) = self.writer.await {
            tracing::error!(error = %err, "runner registry writer failed");
        }
        if let Err(err) = self.providers_writer.await {
            tracing::error!(error = %err, "provider breaker writer failed");
        }
        if let Some(task) = self.alerts
            && let Err(err) = task.await
        {
            tracing::error!(error = %err, "alerts task failed");
        }
        let _ = self.ownership_stop.send(true);
        if let Err(err) = self.ownership_loop.await {
            tracing::error!(error = %err, "ownership loop failed");
        }
        self.telemetry.shutdown().await
    }
}
