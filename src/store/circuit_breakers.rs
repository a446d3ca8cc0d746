//! `circuit_breakers`: the persisted state of every breaker (per bot runner, per provider), so
//! an OPEN breaker stays OPEN across a restart. One row per scope and node: a node restores and
//! writes its own, and reads the others' to show them ([`elsewhere`]).

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::PgPool;
use utoipa::ToSchema;

use crate::domain::breaker::BreakerState;

#[derive(Debug, Clone, Serialize, sqlx::FromRow, ToSchema)]
pub struct BreakerRow {
    /// `bot:<uuid>` or `provider:<id>`.
    pub scope: String,
    /// The node whose breaker it is (`''`: written before breakers were per node).
    pub node: String,
    pub state: BreakerState,
    /// The breaker's serialized snapshot (failures in window, opened_at, …).
    pub snapshot: Value,
    pub updated_at: DateTime<Utc>,
}

/// One breaker to save.
#[derive(Debug, Clone)]
pub struct BreakerSave {
    pub scope: String,
    pub state: BreakerState,
    pub snapshot: Value,
}

/// Upserts many of `node`'s breakers in one statement.
pub async fn save_many(
    pool: &PgPool,
    node: &str,
    rows: &[BreakerSave],
) -> Result<u64, sqlx::Error> {
    if rows.is_empty() {
        return Ok(0);
    }
    let scopes: Vec<&str> = rows.iter().map(|r| r.scope.as_str()).collect();
    let states: Vec<BreakerState> = rows.iter().map(|r| r.state).collect();
    let snapshots: Vec<&Value> = rows.iter().map(|r| &r.snapshot).collect();
    let done = sqlx::query(
        "INSERT INTO circuit_breakers (scope, node, state, snapshot, updated_at) \
         SELECT s, $4, st, sn, now() FROM UNNEST($1::text[], $2::text[], $3::jsonb[]) AS u(s, st, sn) \
         ON CONFLICT (scope, node) DO UPDATE SET state = EXCLUDED.state, \
         snapshot = EXCLUDED.snapshot, updated_at = EXCLUDED.updated_at",
    )
    .bind(scopes)
    .bind(states)
    .bind(snapshots)
    .bind(node)
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

/// What `node` restores on start: its own row of each scope, else the one written before
/// breakers were per node.
pub async fn of_node(pool: &PgPool, node: &str) -> Result<Vec<BreakerRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT DISTINCT ON (scope) * FROM circuit_breakers WHERE node IN ($1, '') \
         ORDER BY scope, node = $1 DESC",
    )
    .bind(node)
    .fetch_all(pool)
    .await
}

/// A breaker not CLOSED on another node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, ToSchema)]
pub struct ElsewhereBreaker {
    /// `bot:<uuid>` or `provider:<id>`.
    pub scope: String,
    pub node: String,
    pub state: BreakerState,
    /// When that node last wrote it.
    pub updated_at: DateTime<Utc>,
}

/// The breakers not CLOSED on the nodes other than `node` that are alive at `now` (a heartbeat
/// within `ttl`, not stopped, not found gone: as `GET /api/nodes` judges them): their providers' breakers, and the breakers of the bots they
/// hold a lease on (a bot moved away left its old row behind).
pub async fn elsewhere(
    pool: &PgPool,
    node: &str,
    now: DateTime<Utc>,
    ttl: std::time::Duration,
) -> Result<Vec<ElsewhereBreaker>, sqlx::Error> {
    let alive_after = chrono::TimeDelta::from_std(ttl)
        .ok()
        .and_then(|ttl| now.checked_sub_signed(ttl))
        .unwrap_or(DateTime::<Utc>::MIN_UTC);
    sqlx::query_as(
        "SELECT c.scope, c.node, c.state, c.updated_at FROM circuit_breakers c \
         JOIN nodes n ON n.name = c.node \
         WHERE c.node <> $1 AND c.state <> 'CLOSED' \
           AND n.stopped_at IS NULL AND n.gone_at IS NULL AND n.heartbeat_at > $2 \
           AND (c.scope NOT LIKE 'bot:%' OR EXISTS (SELECT 1 FROM bot_leases l \
                WHERE l.bot_id::text = substr(c.scope, 5) AND l.node = c.node \
                AND l.expires_at > $3)) \
         ORDER BY c.scope, c.node",
    )
    .bind(node)
    .bind(alive_after)
    .bind(now)
    .fetch_all(pool)
    .await
}
