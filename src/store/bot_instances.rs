//! `bot_instances`: the registry mirroring live bot runners (one row per bot). Written in
//! batches by the runtime's registry writer, never on the supervision path.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::domain::bot::BotStatus;

#[derive(Debug, Clone, Serialize, sqlx::FromRow, ToSchema)]
pub struct BotInstance {
    pub bot_id: Uuid,
    pub node: String,
    pub status: BotStatus,
    pub started_at: Option<DateTime<Utc>>,
    pub last_heartbeat_at: Option<DateTime<Utc>>,
    pub restart_count: i32,
    pub last_error: Option<String>,
    pub updated_at: DateTime<Utc>,
}

/// The full state of one runner, as mirrored.
#[derive(Debug, Clone)]
pub struct InstanceUpsert {
    pub bot_id: Uuid,
    pub node: String,
    pub status: BotStatus,
    pub started_at: Option<DateTime<Utc>>,
    pub last_heartbeat_at: Option<DateTime<Utc>>,
    pub restart_count: i32,
    pub last_error: Option<String>,
}

/// Upserts many instances in one statement. A row for a bot another node holds the lease of
/// is not written (that node's runner is the bot's instance now).
pub async fn upsert_many(pool: &PgPool, rows: &[InstanceUpsert]) -> Result<u64, sqlx::Error> {
    if rows.is_empty() {
        return Ok(0);
    }
    let n = rows.len();
    let mut ids = Vec::with_capacity(n);
    let mut nodes = Vec::with_capacity(n);
    let mut statuses = Vec::with_capacity(n);
    let mut started = Vec::with_capacity(n);
    let mut beats = Vec::with_capacity(n);
    let mut restarts = Vec::with_capacity(n);
    let mut errors = Vec::with_capacity(n);
    for r in rows {
        ids.push(r.bot_id);
        nodes.push(r.node.as_str());
        statuses.push(r.status);
        started.push(r.started_at);
        beats.push(r.last_heartbeat_at);
        restarts.push(r.restart_count);
        errors.push(r.last_error.as_deref());
    }
    let done = sqlx::query(
        "INSERT INTO bot_instances \
         (bot_id, node, status, started_at, last_heartbeat_at, restart_count, last_error, updated_at) \
         SELECT b, n, s, st, hb, rc, le, now() FROM UNNEST($1::uuid[], $2::text[], $3::text[], \
             $4::timestamptz[], $5::timestamptz[], $6::int4[], $7::text[]) AS u(b, n, s, st, hb, rc, le) \
         WHERE NOT EXISTS (SELECT 1 FROM bot_leases l \
                           WHERE l.bot_id = u.b AND l.node IS NOT NULL AND l.node <> u.n) \
         ON CONFLICT (bot_id) DO UPDATE SET node = EXCLUDED.node, status = EXCLUDED.status, \
             started_at = EXCLUDED.started_at, \
             last_heartbeat_at = GREATEST(bot_instances.last_heartbeat_at, EXCLUDED.last_heartbeat_at), \
             restart_count = EXCLUDED.restart_count, last_error = EXCLUDED.last_error, \
             updated_at = EXCLUDED.updated_at",
    )
    .bind(ids)
    .bind(nodes)
    .bind(statuses)
    .bind(started)
    .bind(beats)
    .bind(restarts)
    .bind(errors)
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

/// Heartbeats only: one `UPDATE … FROM UNNEST` for every runner that beat since the last flush.
pub async fn record_heartbeats(
    pool: &PgPool,
    beats: &[(Uuid, DateTime<Utc>)],
) -> Result<u64, sqlx::Error> {
    if beats.is_empty() {
        return Ok(0);
    }
    let ids: Vec<Uuid> = beats.iter().map(|b| b.0).collect();
    let ats: Vec<DateTime<Utc>> = beats.iter().map(|b| b.1).collect();
    let done = sqlx::query(
        "UPDATE bot_instances SET last_heartbeat_at = u.at \
         FROM UNNEST($1::uuid[], $2::timestamptz[]) AS u(bot_id, at) \
         WHERE bot_instances.bot_id = u.bot_id \
           AND (bot_instances.last_heartbeat_at IS NULL OR bot_instances.last_heartbeat_at < u.at)",
    )
    .bind(ids)
    .bind(ats)
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

pub async fn get(pool: &PgPool, bot_id: Uuid) -> Result<Option<BotInstance>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM bot_instances WHERE bot_id = $1")
        .bind(bot_id)
        .fetch_optional(pool)
        .await
}

/// Bots latched KILLED (restored on start: a kill survives a restart until re-armed).
pub async fn killed(pool: &PgPool) -> Result<Vec<BotInstance>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM bot_instances WHERE status = 'KILLED'")
        .fetch_all(pool)
        .await
}
