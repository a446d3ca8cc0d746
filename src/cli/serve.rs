//! `tradeplane serve` and `tradeplane migrate`.

use std::{fs::File, path::Path};

use anyhow::Context;
use nix::fcntl::{Flock, FlockArg};
use serde_json::json;

use super::ClockArgs;
use crate::{
    api::{self, AppState},
    clock::Clock,
    config::Config,
    integrations::{
        otlp,
        registry::{EnvMap, PROVIDERS, ProviderConfig},
    },
    runtime::{Runtime, RuntimeConfig, feed::FeedConfig, ownership::OwnershipConfig},
    store::{
        self, Database,
        system_events::{NewSystemEvent, Severity},
    },
    trace::TraceId,
};

pub async fn run(config: Config, clock_args: ClockArgs) -> anyhow::Result<()> {
    let provider_env = crate::integrations::registry::process_env();
    let clock = serving_clock(clock_args, &provider_env)?;
    let otlp = otlp::ExportConfig::from_lookup(|name| std::env::var(name).ok())
        .map_err(anyhow::Error::msg)?;
    let _lock = lock_data_dir(&config)?;
    let db = Database::open(&config).await?;
    store::migrate(&db.pool)
        .await
        .context("database migrations failed")?;

    let listener = tokio::net::TcpListener::bind(config.bind)
        .await
        .with_context(|| format!("cannot listen on {}", config.bind))?;
    let addr = listener.local_addr()?;
    let runtime_config = RuntimeConfig {
        node: config.node.name.clone().unwrap_or_else(|| {
            format!("{}:{}", crate::runtime::ownership::host_name(), addr.port())
        }),
        ownership: OwnershipConfig {
            lease_ttl: config.node.lease_ttl,
            capacity: config.node.capacity,
        },
        provider_env,
        sim: config.paper.clone(),
        trading_off_cancels: config.trading_off_cancels,
        breaker: config.breaker,
        macro_data: crate::runtime::macro_data::MacroConfig {
            refresh_every: config.macro_refresh_every,
            calendar_days: config.economic_calendar_days,
            ..Default::default()
        },
        broker_sessions: crate::runtime::broker_sessions::SessionConfig {
            heartbeat_every: config.broker_heartbeat_every,
            cancel_after: config.cancel_on_disconnect_after,
            ..Default::default()
        },
        reconcile: crate::runtime::reconciliation::ReconcileConfig {
            every: config.reconcile_every,
            ..Default::default()
        },
        feed: FeedConfig {
            failback_after: config.feed_failback_after,
            primary_deadline: config.feed_primary_deadline,
        },
        usage_retention: crate::runtime::usage_retention::UsageRetention {
            keep_days: config.usage_retention_days,
            ..Default::default()
        },
        clock: clock.clone(),
        lab: crate::runtime::sweeps::LabConfig {
            max_sweep_backtests: config.sweep_max_backtests,
            paper: config.shadow_gate.clone(),
        },
        ..RuntimeConfig::default()
    };
    // The metrics recorder first: what the runtime records while it starts is kept.
    crate::api::metrics::handle();
    // Spans go out only when a collector is named (off by default).
    let exporter = otlp.map(otlp::start);
    let runtime = Runtime::start(db.pool.clone(), runtime_config)
        .await
        .context("the supervision runtime failed to start")?;
    let state = AppState::new(db.pool.clone(), config, runtime.handle());
    record(
        &state,
        NewSystemEvent::new(Severity::Info, "SYSTEM_STARTED", "tradeplane started").metadata(
            json!({ "version": env!("CARGO_PKG_VERSION"), "bind": addr.to_string(), "embedded_postgres": db.is_embedded() }),
        ),
    )
    .await;

    if let Some(how) = clock_args.shifted() {
        record(
            &state,
            NewSystemEvent::new(
                Severity::Sev2,
                "CLOCK_SHIFTED",
                format!(
                    "test stack: this server's clock is {how} and runs at wall speed, not on real time"
                ),
            )
            .metadata(json!({
                "clock_start": clock_args.clock_start,
                "clock_offset_ms": clock_args.clock_offset_ms,
            })),
        )
        .await;
    }

    // Bots that were running come back only through safe start.
    match state.lifecycle().resume_after_restart().await {
        Ok(report) => tracing::info!(
            resumed = report.resumed.len(),
            refused = report.refused.len(),
            owned_elsewhere = report.owned_elsewhere.len(),
            "bots resumed"
        ),
        Err(err) => tracing::error!(error = %err, "could not resume bots"),
    }
    // From now on this node takes over the bots of nodes that die or let them go.
    if let Some(ownership) = state.runtime.ownership() {
        ownership.start_claiming();
    }
    let housekeeping = crate::auth::spawn_housekeeping(
        state.pool.clone(),
        state.clock.clone(),
        state.config.auth.session_idle,
    );
    // One line (callers read the first line for the URL): with no user yet, the web app at
    // this URL shows the first-run screen that creates the first admin.
    let first_run = match store::users::count(&state.pool).await {
        Ok(0) => format!(
            "; no user exists yet: open http://{addr}/ to create the first admin (or run `tradeplane admin create`)"
        ),
        Ok(_) => String::new(),
        Err(err) => {
            tracing::warn!(error = %err, "could not count users");
            String::new()
        }
    };
    println!(
        "tradeplane listening on http://{addr} (API reference: http://{addr}/api/docs/){first_run}"
    );
    tracing::info!(%addr, "listening");
    let limits = state.config.connections;
    let trusted = state.config.trusted_proxies.clone();
    api::server::serve(listener, api::app(state.clone()), limits, trusted, {
        // Open event streams never end on their own: close them so the drain can finish.
        let bus = state.runtime.bus().clone();
        async move {
            shutdown_signal().await;
            bus.close();
        }
    })
    .await;

    tracing::info!("shutting down");
    housekeeping.abort();
    record(
        &state,
        NewSystemEvent::new(
            Severity::Info,
            "SYSTEM_STOPPED",
            "tradeplane stopped on signal",
        ),
    )
    .await;
    // Stop the tree (bots first), then flush telemetry, before the pool closes.
    let stats = runtime.shutdown().await;
    tracing::info!(?stats, "runtime stopped, telemetry flushed");
    if let Some(exporter) = exporter {
        // The spans still queued are posted once (bounded by the export timeout).
        otlp::stop();
        let _ = tokio::time::timeout(std::time::Duration::from_secs(12), exporter).await;
    }
    db.close().await?;
    Ok(())
}

pub async fn migrate_only(config: Config) -> anyhow::Result<()> {
    let _lock = lock_data_dir(&config)?;
    let db = Database::open(&config).await?;
    let result = store::migrate(&db.pool).await;
    let applied = store::migration_state(&db.pool).await;
    db.close().await?;
    result.context("database migrations failed")?;
    match applied? {
        store::MigrationState::Current => println!("migrations current"),
        store::MigrationState::Pending(v) => anyhow::bail!("migrations still pending: {v:?}"),
    }
    Ok(())
}

/// The clock to serve on. A shifted one (`--clock-start`, `--clock-offset-ms`) is for test
/// stacks: refused while any configured provider reaches a real vendor, since a server that can
/// trade or spend for real runs on real time; honoured loudly otherwise (a WARN here, a
/// `CLOCK_SHIFTED` event).
fn serving_clock(args: ClockArgs, env: &EnvMap) -> anyhow::Result<Clock> {
    let Some(how) = args.shifted() else {
        return Ok(Clock::system());
    };
    let real: Vec<&str> = PROVIDERS
        .iter()
        .map(|spec| ProviderConfig::from_env(spec, env))
        .filter(|c| c.configured() && !c.sandbox)
        .map(|c| c.spec.id)
        .collect();
    if !real.is_empty() {
        anyhow::bail!(
            "a shifted clock (--clock-start / TRADEPLANE_CLOCK_START, --clock-offset-ms / TRADEPLANE_CLOCK_OFFSET_MS) is for test stacks; refused while these providers reach a real vendor: {} (point every provider at `tradeplane sandbox`, or unset it)",
            real.join(", ")
        );
    }
    tracing::warn!("the clock is SHIFTED (test stack): {how}, at wall speed");
    Ok(args.clock())
}

/// Writes a lifecycle event under its own trace id; a failure is logged, never fatal.
async fn record(state: &AppState, event: NewSystemEvent) {
    let trace_id = TraceId::generate();
    let event = NewSystemEvent {
        trace_id: trace_id.clone(),
        ..event
    };
    if state.record_event(event).await.is_none() {
        tracing::warn!(%trace_id, "lifecycle event not recorded");
    }
}

/// One process per embedded cluster: a second would adopt the cluster and stop it under the
/// first one's feet on exit.
pub(super) fn lock_data_dir(config: &Config) -> anyhow::Result<Option<Flock<File>>> {
    if config.database_url.is_some() {
        return Ok(None);
    }
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("cannot create data dir {}", config.data_dir.display()))?;
    let path = config.data_dir.join("tradeplane.lock");
    let file = File::create(&path).with_context(|| format!("cannot open {}", path.display()))?;
    match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(lock) => Ok(Some(lock)),
        Err(_) => anyhow::bail!(
            "another tradeplane process is using the data dir {}; stop it or choose another TRADEPLANE_DATA_DIR",
            display(&config.data_dir)
        ),
    }
}

fn display(path: &Path) -> String {
    path.display().to_string()
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> EnvMap {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn a_shifted_clock_is_refused_while_a_real_vendor_is_configured() {
        let start = "2026-11-28T12:00:00Z".parse().unwrap();
        let shifted = ClockArgs {
            clock_start: Some(start),
            clock_offset_ms: None,
        };
        let real = env(&[("DATABENTO_API_KEY", "db-real")]);
        let err = serving_clock(shifted, &real).unwrap_err().to_string();
        assert!(err.contains("databento"), "{err}");

        let sandboxed = env(&[
            ("DATABENTO_API_KEY", "db-sandbox"),
            ("DATABENTO_BASE_URL", "http://127.0.0.1:9400"),
        ]);
        let clock = serving_clock(shifted, &sandboxed).unwrap();
        assert!(!clock.is_system());
        assert!(clock.now() - start < chrono::TimeDelta::seconds(5));
        // No provider at all cannot reach a vendor either.
        assert!(!serving_clock(shifted, &EnvMap::new()).unwrap().is_system());

        let real_time = ClockArgs {
            clock_start: None,
            clock_offset_ms: None,
        };
        assert!(serving_clock(real_time, &real).unwrap().is_system());

        // An offset is shifted just the same: refused with a real vendor, honoured otherwise.
        let offset = ClockArgs {
            clock_start: None,
            clock_offset_ms: Some(-86_400_000),
        };
        let err = serving_clock(offset, &real).unwrap_err().to_string();
        assert!(err.contains("databento"), "{err}");
        let clock = serving_clock(offset, &sandboxed).unwrap();
        let behind = Clock::system().now() - clock.now();
        assert!(
            (behind - chrono::TimeDelta::days(1)).abs() < chrono::TimeDelta::seconds(5),
            "{behind}"
        );
    }
}
