//! `nodes`: one row per `tradeplane serve` process on this database (its name, incarnation,
//! host, version, capacity and heartbeat). Times come from the caller's clock.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct NodeRow {
    pub name: String,
    pub incarnation: Uuid,
    pub host: String,
    pub version: String,
    pub started_at: DateTime<Utc>,
    pub heartbeat_at: DateTime<Utc>,
    pub capacity: i32,
    pub stopped_at: Option<DateTime<Utc>>,
    /// Asked to hand its bots over (`tradeplane node drain`, `POST /api/nodes/{name}/drain`).
    pub draining_since: Option<DateTime<Utc>>,
    /// Bots whose lease this node holds unexpired (as of the read's `now`).
    pub bots: i64,
    /// The soonest expiry among those leases (null without any).
    pub next_lease_expiry: Option<DateTime<Utc>>,
    /// Holds the unexpired `leader` lease (runs the cluster's singletons).
    pub leader: bool,
}

/// What a node registers as.
#[derive(Debug, Clone)]
pub struct NodeRegistration<'a> {
    pub name: &'a str,
    pub incarnation: Uuid,
    pub host: &'a str,
    pub version: &'a str,
    pub capacity: i32,
}

/// Registers (or re-registers, after a restart) the node; its heartbeat starts at `now`.
pub async fn register(
    pool: &PgPool,
    node: &NodeRegistration<'_>,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO nodes (name, incarnation, host, version, started_at, heartbeat_at, capacity) \
         VALUES ($1, $2, $3, $4, $5, $5, $6) \
         ON CONFLICT (name) DO UPDATE SET incarnation = EXCLUDED.incarnation, host = EXCLUDED.host, \
         version = EXCLUDED.version, started_at = EXCLUDED.started_at, \
         heartbeat_at = EXCLUDED.heartbeat_at, capacity = EXCLUDED.capacity, stopped_at = NULL, \
         draining_since = NULL",
    )
    .bind(node.name)
    .bind(node.incarnation)
    .bind(node.host)
    .bind(node.version)
    .bind(now)
    .bind(node.capacity)
    .execute(pool)
    .await?;
    Ok(())
}

/// What a heartbeat found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Beat {
    Alive,
    /// Asked to hand its bots over.
    Draining,
    /// The row belongs to another incarnation (a newer process took the name: this one must
    /// stop acting).
    Superseded,
}

/// Moves the heartbeat of this incarnation.
pub async fn heartbeat(
    pool: &PgPool,
    name: &str,
    incarnation: Uuid,
    now: DateTime<Utc>,
) -> Result<Beat, sqlx::Error> {
    let draining: Option<bool> = sqlx::query_scalar(
        "UPDATE nodes SET heartbeat_at = GREATEST(heartbeat_at, $3) \
         WHERE name = $1 AND incarnation = $2 RETURNING draining_since IS NOT NULL",
    )
    .bind(name)
    .bind(incarnation)
    .bind(now)
    .fetch_optional(pool)
    .await?;
    Ok(match draining {
        None => Beat::Superseded,
        Some(true) => Beat::Draining,
        Some(false) => Beat::Alive,
    })
}

/// Asks node `name` to hand its bots over (kept until it restarts). False: no such running
/// node.
pub async fn drain(pool: &PgPool, name: &str, now: DateTime<Utc>) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE nodes SET draining_since = COALESCE(draining_since, $2) \
         WHERE name = $1 AND stopped_at IS NULL",
    )
    .bind(name)
    .bind(now)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Marks this incarnation stopped (clean shutdown).
pub async fn stopped(
    pool: &PgPool,
    name: &str,
    incarnation: Uuid,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE nodes SET stopped_at = $3 WHERE name = $1 AND incarnation = $2")
        .bind(name)
        .bind(incarnation)
        .bind(now)
        .execute(pool)
        .await?;
    Ok(())
}

/// Every node, by name, with the bots it holds unexpired leases on at `now`.
pub async fn list(pool: &PgPool, now: DateTime<Utc>) -> Result<Vec<NodeRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT n.*, COALESCE(l.bots, 0) AS bots, l.next AS next_lease_expiry, \
                EXISTS (SELECT 1 FROM cluster_leases c \
                        WHERE c.name = 'leader' AND c.node = n.name AND c.expires_at > $1) AS leader \
         FROM nodes n LEFT JOIN LATERAL ( \
           SELECT count(*) AS bots, min(expires_at) AS next FROM bot_leases \
           WHERE node = n.name AND expires_at > $1) l ON true \
         ORDER BY n.name",
    )
    .bind(now)
    .fetch_all(pool)
    .await
}
