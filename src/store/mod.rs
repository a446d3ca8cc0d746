//! Postgres: the pool, migrations, and one repository module per aggregate.

pub mod account_risk;
pub mod ai_interactions;
pub mod ai_usage;
pub mod attention;
pub mod audit_log;
pub mod auth_throttle;
pub mod autonomy_scores;
pub mod backtests;
pub mod bot_instances;
pub mod bot_leases;
pub mod bot_summaries;
pub mod bots;
pub mod circuit_breakers;
pub mod cluster_leases;
pub mod cme_holidays;
pub mod embedded;
pub mod feed_sources;
pub mod fills;
pub mod integrations;
pub mod jobs;
pub mod live_lane;
pub mod login_challenges;
pub mod macro_data;
pub mod market_bars;
pub mod news;
pub mod nodes;
pub mod orders;
pub mod page;
pub mod paper_batch;
pub mod positions;
pub mod profit_variables;
pub mod reconciliation;
pub mod service_tokens;
pub mod sessions;
pub mod settings;
pub mod sweeps;
pub mod system_events;
mod text_enum;
pub mod traces;
pub mod trades;
pub mod usage_events;
pub mod usage_partitions;
pub mod users;

use std::time::Duration;

use sqlx::{PgPool, migrate::Migrator, postgres::PgPoolOptions};

/// The error code a database failure answers with: the database is unreachable
/// (`DATABASE_UNAVAILABLE`), a write carried a stale bot lease (`STALE_LEASE`), or anything
/// else went wrong (`INTERNAL`).
pub fn error_code(err: &sqlx::Error) -> crate::error_code::ErrorCode {
    match err {
        sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed => {
            crate::error_code::ErrorCode::DatabaseUnavailable
        }
        e if bot_leases::is_stale(e) => crate::error_code::ErrorCode::StaleLease,
        _ => crate::error_code::ErrorCode::Internal,
    }
}

/// The schema, compiled in from `migrations/`.
pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// How long a connection sits idle in the pool before it is pinged on its way out.
pub const PING_IDLE: Duration = Duration::from_secs(1);

/// The pool's options. Waits are bounded, so an unreachable database surfaces as an error, not
/// a hang. sqlx pings every connection as it is released; its default pings it again on every
/// acquire, a round trip before each statement of the hot path. Here only a connection idle
/// for [`PING_IDLE`] or more is pinged (a failed ping closes it and the pool takes another):
/// one that died in the pool is replaced, while one back from use a moment ago, just checked
/// by its release, is handed out as it is (if the database dropped it in between, that one
/// statement fails and the connection is closed).
pub fn pool_options() -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(16)
        .acquire_timeout(Duration::from_secs(3))
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for >= PING_IDLE {
                    sqlx::Connection::ping(conn).await?;
                }
                Ok(true)
            })
        })
}

/// Connects with [`pool_options`].
pub async fn connect(url: &str) -> Result<PgPool, sqlx::Error> {
    pool_options().connect(url).await
}

pub async fn migrate(pool: &PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    MIGRATOR.run(pool).await
}

/// Whether every compiled-in migration is applied successfully with a matching checksum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MigrationState {
    Current,
    /// Versions compiled in but not (successfully) applied, or applied with another checksum.
    Pending(Vec<i64>),
}

pub async fn migration_state(pool: &PgPool) -> Result<MigrationState, sqlx::Error> {
    let applied: Vec<(i64, bool, Vec<u8>)> =
        match sqlx::query_as("SELECT version, success, checksum FROM _sqlx_migrations")
            .fetch_all(pool)
            .await
        {
            Ok(rows) => rows,
            // No bookkeeping table yet: nothing is applied.
            Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42P01") => Vec::new(),
            Err(e) => return Err(e),
        };
    let pending: Vec<i64> = MIGRATOR
        .iter()
        .filter(|m| !m.migration_type.is_down_migration())
        .filter(|m| {
            !applied.iter().any(|(version, success, checksum)| {
                *version == m.version && *success && checksum.as_slice() == &*m.checksum
            })
        })
        .map(|m| m.version)
        .collect();
    Ok(if pending.is_empty() {
        MigrationState::Current
    } else {
        MigrationState::Pending(pending)
    })
}

/// The database the process runs on: a pool, plus the embedded cluster when we started one.
pub struct Database {
    pub pool: PgPool,
    embedded: Option<embedded::EmbeddedPostgres>,
}

impl Database {
    /// Connects to `DATABASE_URL`, or starts the embedded cluster under the data dir.
    pub async fn open(config: &crate::config::Config) -> anyhow::Result<Self> {
        use anyhow::Context;
        let (url, embedded) = match &config.database_url {
            Some(url) => (url.expose().to_owned(), None),
            None => {
                let cluster = embedded::EmbeddedPostgres::start(&config.data_dir).await?;
                tracing::info!(port = cluster.port(), data_dir = %config.data_dir.display(), "embedded Postgres running");
                (cluster.url(), Some(cluster))
            }
        };
        let pool = connect(&url).await.with_context(|| {
            format!(
                "cannot connect to Postgres at {}",
                crate::config::redact_url(&url)
            )
        })?;
        Ok(Database { pool, embedded })
    }

    pub fn is_embedded(&self) -> bool {
        self.embedded.is_some()
    }

    /// Closes the pool but leaves an embedded cluster running (it belongs to a running
    /// `serve`, e.g. when `admin create` adopted it).
    pub async fn close_keep_running(self) {
        self.pool.close().await;
    }

    /// Closes the pool, then stops the embedded cluster if we run one.
    pub async fn close(self) -> Result<(), embedded::LaunchError> {
        self.pool.close().await;
        match self.embedded {
            Some(cluster) => cluster.stop(),
            None => Ok(()),
        }
    }
}
