//! The nodes as the Observatory and the CLI see them: state judged by the lease TTL, bots
//! held, the leader; and the drain request.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::store::nodes::{self, NodeRow};

/// A node as the Observatory shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum NodeState {
    /// Heart-beating within the lease TTL.
    Alive,
    /// No heartbeat for longer than the lease TTL (crashed, paused or cut off), or found gone
    /// by another node (its database session ended: `gone_at`).
    Dead,
    /// Alive, handing its bots to the other nodes (`tradeplane node drain`).
    Draining,
    /// Shut down cleanly.
    Stopped,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct NodeView {
    pub name: String,
    /// This run of the node (a restart under the same name is a new incarnation).
    pub incarnation: Uuid,
    pub host: String,
    pub version: String,
    pub started_at: DateTime<Utc>,
    pub heartbeat_at: DateTime<Utc>,
    /// Milliseconds since the last heartbeat, on the answering node's clock.
    pub heartbeat_age_ms: i64,
    pub capacity: i32,
    pub state: NodeState,
    pub stopped_at: Option<DateTime<Utc>>,
    pub draining_since: Option<DateTime<Utc>>,
    /// When another node found this one gone (its database session ended); its leases were
    /// expired then for the others to rescue.
    pub gone_at: Option<DateTime<Utc>>,
    /// Bots whose unexpired lease the node holds.
    pub bots: i64,
    /// The soonest expiry among those leases.
    pub next_lease_expiry: Option<DateTime<Utc>>,
    /// Runs the cluster's singletons (alert posting, job timeout sweep, scoring of unowned bots).
    pub leader: bool,
}

impl NodeView {
    fn of(row: NodeRow, now: DateTime<Utc>, ttl: Duration) -> Self {
        let age = now - row.heartbeat_at;
        let ttl = chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::MAX);
        let state = if row.stopped_at.is_some() {
            NodeState::Stopped
        } else if age > ttl || row.gone_at.is_some() {
            NodeState::Dead
        } else if row.draining_since.is_some() {
            NodeState::Draining
        } else {
            NodeState::Alive
        };
        NodeView {
            heartbeat_age_ms: age.num_milliseconds().max(0),
            state,
            name: row.name,
            incarnation: row.incarnation,
            host: row.host,
            version: row.version,
            started_at: row.started_at,
            heartbeat_at: row.heartbeat_at,
            capacity: row.capacity,
            stopped_at: row.stopped_at,
            draining_since: row.draining_since,
            gone_at: row.gone_at,
            bots: row.bots,
            next_lease_expiry: row.next_lease_expiry,
            leader: row.leader,
        }
    }
}

/// Every node on this database, judged alive or dead by `ttl` at `now`.
pub async fn list_nodes(
    pool: &PgPool,
    now: DateTime<Utc>,
    ttl: Duration,
) -> Result<Vec<NodeView>, sqlx::Error> {
    Ok(nodes::list(pool, now)
        .await?
        .into_iter()
        .map(|row| NodeView::of(row, now, ttl))
        .collect())
}

/// Asks node `name` to hand its bots to the other nodes (for a rolling upgrade): within one
/// renewal round it stops its runners, releases their leases and the leader lease, and claims
/// nothing more until it restarts. `None`: no running node has that name.
pub async fn drain_node(
    pool: &PgPool,
    name: &str,
    now: DateTime<Utc>,
    ttl: Duration,
) -> Result<Option<NodeView>, sqlx::Error> {
    if !nodes::drain(pool, name, now).await? {
        return Ok(None);
    }
    Ok(list_nodes(pool, now, ttl)
        .await?
        .into_iter()
        .find(|n| n.name == name))
}

/// The host name (`/proc/sys/kernel/hostname`), `unknown` when unreadable.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into())
}
