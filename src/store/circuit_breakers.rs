//! `circuit_breakers`: the persisted state of every breaker (per bot runner, per provider), so
//! an OPEN breaker stays OPEN across a restart.

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

/// Upserts many breakers in one statement.
pub async fn save_many(pool: &PgPool, rows: &[BreakerSave]) -> Result<u64, sqlx::Error> {
    if rows.is_empty() {
        return Ok(0);
    }
    let scopes: Vec<&str> = rows.iter().map(|r| r.scope.as_str()).collect();
    let states: Vec<BreakerState> = rows.iter().map(|r| r.state).collect();
    let snapshots: Vec<&Value> = rows.iter().map(|r| &r.snapshot).collect();
    let done = sqlx::query(
        "INSERT INTO circuit_breakers (scope, state, snapshot, updated_at) \
         SELECT s, st, sn, now() FROM UNNEST($1::text[], $2::text[], $3::jsonb[]) AS u(s, st, sn) \
         ON CONFLICT (scope) DO UPDATE SET state = EXCLUDED.state, snapshot = EXCLUDED.snapshot, \
         updated_at = EXCLUDED.updated_at",
    )
    .bind(scopes)
    .bind(states)
    .bind(snapshots)
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

pub async fn all(pool: &PgPool) -> Result<Vec<BreakerRow>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM circuit_breakers ORDER BY scope")
        .fetch_all(pool)
        .await
}

pub async fn get(pool: &PgPool, scope: &str) -> Result<Option<BreakerRow>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM circuit_breakers WHERE scope = $1")
        .bind(scope)
        .fetch_optional(pool)
        .await
}
