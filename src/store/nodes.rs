//! `nodes`: one row per `tradeplane serve` process on this database (its name, incarnation,
//! host, version, capacity and heartbeat). Times come from the caller's clock.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
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
    /// Found gone by another node (its presence lock was free) at.
    pub gone_at: Option<DateTime<Utc>>,
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
    /// The key of the advisory lock the node holds for its life ([`lock_presence`]).
    pub presence_key: Option<i64>,
}

/// Registers (or re-registers, after a restart) the node; its heartbeat starts at `now`.
pub async fn register(
    db: impl sqlx::PgExecutor<'_>,
    node: &NodeRegistration<'_>,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO nodes (name, incarnation, host, version, started_at, heartbeat_at, capacity, \
                            presence_key) \
         VALUES ($1, $2, $3, $4, $5, $5, $6, $7) \
         ON CONFLICT (name) DO UPDATE SET incarnation = EXCLUDED.incarnation, host = EXCLUDED.host, \
         version = EXCLUDED.version, started_at = EXCLUDED.started_at, \
         heartbeat_at = EXCLUDED.heartbeat_at, capacity = EXCLUDED.capacity, stopped_at = NULL, \
         draining_since = NULL, presence_key = EXCLUDED.presence_key, gone_at = NULL",
    )
    .bind(node.name)
    .bind(node.incarnation)
    .bind(node.host)
    .bind(node.version)
    .bind(now)
    .bind(node.capacity)
    .bind(node.presence_key)
    .execute(db)
    .await?;
    Ok(())
}

/// Takes a session-level advisory lock on a fresh random key on `db`, a connection the node
/// keeps for as long as it lives: Postgres releases the lock the moment that session ends (the
/// process died, or the connection was cut), which is how other nodes tell a node is gone
/// ([`without_presence`]) long before its leases expire.
pub async fn lock_presence(db: &mut PgConnection) -> Result<i64, sqlx::Error> {
    loop {
        let key: i64 = rand::random();
        let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(key)
            .fetch_one(&mut *db)
            .await?;
        if locked {
            return Ok(key);
        }
    }
}

/// Whether `db`'s own session holds the presence lock `key` (a lock lost with a session the
/// connection silently replaced, e.g. behind a pooler, is not held).
pub async fn holds_presence(db: &mut PgConnection, key: i64) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted \
         AND pid = pg_backend_pid() AND objsubid = 1 \
         AND ((classid::bigint << 32) | objid::bigint) = $1)",
    )
    .bind(key)
    .fetch_one(db)
    .await
}

/// Records this incarnation's new presence key (it lost its presence connection and locked a
/// new one). False: superseded (another incarnation holds the name).
pub async fn set_presence(
    pool: &PgPool,
    name: &str,
    incarnation: Uuid,
    key: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE nodes SET presence_key = $3, gone_at = NULL WHERE name = $1 AND incarnation = $2",
    )
    .bind(name)
    .bind(incarnation)
    .bind(key)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The running nodes other than `me` whose presence lock is free now (their session ended), as
/// (name, presence key). A node without a known key is never listed (its leases expire by
/// time only).
pub async fn without_presence(pool: &PgPool, me: &str) -> Result<Vec<(String, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT name, presence_key FROM nodes \
         WHERE name <> $1 AND stopped_at IS NULL AND presence_key IS NOT NULL \
           AND pg_try_advisory_xact_lock(presence_key)",
    )
    .bind(me)
    .fetch_all(pool)
    .await
}

/// In `db`'s transaction: if node `name` still has presence key `key` and that lock is still
/// free, forgets the key and expires the node's bot leases and cluster leases at `now` (the
/// survivors rescue them at once), and marks the node gone. Answers how many bot leases it expired; `None` when the node
/// came back (a new key) or the lock is held again.
pub async fn expire_gone(
    db: &mut PgConnection,
    name: &str,
    key: i64,
    now: DateTime<Utc>,
) -> Result<Option<u64>, sqlx::Error> {
    let gone: Option<bool> = sqlx::query_scalar(
        "SELECT pg_try_advisory_xact_lock(presence_key) FROM nodes \
         WHERE name = $1 AND presence_key = $2 FOR UPDATE",
    )
    .bind(name)
    .bind(key)
    .fetch_optional(&mut *db)
    .await?;
    if gone != Some(true) {
        return Ok(None);
    }
    sqlx::query("UPDATE nodes SET presence_key = NULL, gone_at = $2 WHERE name = $1")
        .bind(name)
        .bind(now)
        .execute(&mut *db)
        .await?;
    sqlx::query("UPDATE cluster_leases SET expires_at = $2 WHERE node = $1 AND expires_at > $2")
        .bind(name)
        .bind(now)
        .execute(&mut *db)
        .await?;
    let expired =
        sqlx::query("UPDATE bot_leases SET expires_at = $2 WHERE node = $1 AND expires_at > $2")
            .bind(name)
            .bind(now)
            .execute(&mut *db)
            .await?;
    Ok(Some(expired.rows_affected()))
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

/// A bot's lease given to another node than the one before (a takeover, a rescue, a drain or a
/// rebalance), from `bot_lease_epochs` (database clock).
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize, utoipa::ToSchema)]
pub struct LeaseMove {
    pub bot_id: Uuid,
    pub bot_name: String,
    /// The node that held the epoch before.
    pub from_node: String,
    pub to_node: String,
    /// When the new epoch began (the database's clock).
    pub at: DateTime<Utc>,
}

/// The newest moves, at most `limit`, among the `scanned` newest lease epochs (an epoch given
/// back to the node that held the one before is no move: a restart, a re-acquisition).
pub async fn recent_moves(
    pool: &PgPool,
    limit: i64,
    scanned: i64,
) -> Result<Vec<LeaseMove>, sqlx::Error> {
    sqlx::query_as(
        "SELECT e.bot_id, b.name AS bot_name, p.node AS from_node, e.node AS to_node, \
                e.began_at AS at \
         FROM (SELECT bot_id, epoch, node, began_at FROM bot_lease_epochs \
               ORDER BY began_at DESC LIMIT $2) e \
         JOIN LATERAL (SELECT node FROM bot_lease_epochs p \
                       WHERE p.bot_id = e.bot_id AND p.epoch < e.epoch \
                       ORDER BY p.epoch DESC LIMIT 1) p ON p.node <> e.node \
         JOIN bots b ON b.id = e.bot_id \
         ORDER BY e.began_at DESC, e.bot_id LIMIT $1",
    )
    .bind(limit)
    .bind(scanned)
    .fetch_all(pool)
    .await
}
