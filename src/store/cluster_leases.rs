//! `cluster_leases`: named leases for work that runs once per cluster (see the migration).
//! Times are the caller's clock, as for `bot_leases`.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;

/// The lease of the cluster's singletons (alerts, job timeout sweep, autonomy scoring).
pub const LEADER: &str = "leader";

/// Takes or renews lease `name` for `node` until `expires_at`, unless another node holds it
/// unexpired. Answers the epoch held (unchanged on a renewal, bumped on a change of holder);
/// `None`: held elsewhere.
pub async fn hold(
    db: impl PgExecutor<'_>,
    name: &str,
    node: &str,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO cluster_leases (name, node, epoch, acquired_at, expires_at) \
         VALUES ($1, $2, 1, $3, $4) \
         ON CONFLICT (name) DO UPDATE SET \
           epoch = CASE WHEN cluster_leases.node IS NOT DISTINCT FROM EXCLUDED.node \
                        THEN cluster_leases.epoch ELSE cluster_leases.epoch + 1 END, \
           acquired_at = CASE WHEN cluster_leases.node IS NOT DISTINCT FROM EXCLUDED.node \
                        THEN cluster_leases.acquired_at ELSE EXCLUDED.acquired_at END, \
           node = EXCLUDED.node, \
           expires_at = GREATEST(cluster_leases.expires_at, EXCLUDED.expires_at) \
         WHERE cluster_leases.node IS NULL OR cluster_leases.node = EXCLUDED.node \
            OR cluster_leases.expires_at < EXCLUDED.acquired_at \
         RETURNING epoch",
    )
    .bind(name)
    .bind(node)
    .bind(now)
    .bind(expires_at)
    .fetch_optional(db)
    .await
}

/// Lets lease `name` go if `node` holds it (a clean shutdown: another node takes it at once).
pub async fn release(db: impl PgExecutor<'_>, name: &str, node: &str) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("UPDATE cluster_leases SET node = NULL WHERE name = $1 AND node = $2")
        .bind(name)
        .bind(node)
        .execute(db)
        .await?;
    Ok(done.rows_affected() == 1)
}
