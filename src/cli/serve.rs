//! `tradeplane serve` and `tradeplane migrate`.

use std::{fs::File, path::Path};

use anyhow::Context;
use nix::fcntl::{Flock, FlockArg};
use serde_json::json;

use crate::{
    api::{self, AppState},
    config::Config,
    runtime::{Runtime, RuntimeConfig, lifecycle::Lifecycle},
    store::{
        self, Database,
        system_events::{NewSystemEvent, Severity},
    },
    trace::TraceId,
};

pub async fn run(config: Config) -> anyhow::Result<()> {
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
        provider_env: crate::integrations::registry::process_env(),
        sim: config.paper.clone(),
        ..RuntimeConfig::default()
    };
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

    // Bots that were running come back only through safe start.
    let lifecycle = Lifecycle::new(
        db.pool.clone(),
        runtime.handle(),
        runtime.handle().integrations(),
        crate::clock::Clock::system(),
    );
    match lifecycle.resume_after_restart().await {
        Ok(report) => tracing::info!(
            resumed = report.resumed.len(),
            refused = report.refused.len(),
            "bots resumed"
        ),
        Err(err) => tracing::error!(error = %err, "could not resume bots"),
    }
    let housekeeping = crate::auth::spawn_housekeeping(
        state.pool.clone(),
        state.clock.clone(),
        state.config.auth.session_idle,
    );
    println!("tradeplane listening on http://{addr} (API reference: http://{addr}/api/docs/)");
    tracing::info!(%addr, "listening");
    axum::serve(
        listener,
        api::app(state.clone()).into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown({
        // Open event streams never end on their own: close them so the drain can finish.
        let bus = state.runtime.bus().clone();
        async move {
            shutdown_signal().await;
            bus.close();
        }
    })
    .await
    .context("HTTP server failed")?;

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
