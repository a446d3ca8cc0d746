//! The rows the needs-attention queue reads (`runtime::attention`): bots KILLED (with their
//! exposure), SUSPENDED (with the gates of their latest no-trade evaluation) or ERROR, names and
//! stages of given bots, and jobs that ended FAILED or TIMEOUT recently.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use crate::domain::{instruments::Symbol, risk::Stage};

/// A bot in one of the states that need a human, with what the queue says about it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AttentionBot {
    pub id: Uuid,
    pub name: String,
    /// `KILLED`, `SUSPENDED` or `ERROR`.
    pub status: String,
    pub stage: Stage,
    /// The bot's last status change.
    pub since: DateTime<Utc>,
    /// Contracts held over every symbol (absolute), KILLED bots only (else 0).
    pub contracts_held: i64,
    /// Orders that may still fill, KILLED bots only (else 0).
    pub working_orders: i64,
    pub exposure_acknowledged_by: Option<String>,
    /// Gate codes of the newest no-trade trace (SUSPENDED bots only; empty when none).
    pub blocked_codes: Vec<String>,
    /// The runner's last error (`bot_instances.last_error`).
    pub last_error: Option<String>,
}

/// Every bot KILLED, SUSPENDED or ERROR, oldest change first.
pub async fn bots(pool: &PgPool) -> Result<Vec<AttentionBot>, sqlx::Error> {
    sqlx::query_as(
        "SELECT b.id, b.name, b.status, b.stage, b.updated_at AS since, \
                CASE WHEN b.status = 'KILLED' THEN COALESCE((SELECT sum(abs(p.quantity)) \
                    FROM positions p WHERE p.bot_id = b.id), 0)::bigint ELSE 0 END AS contracts_held, \
                CASE WHEN b.status = 'KILLED' THEN (SELECT count(*) FROM orders o \
                    WHERE o.bot_id = b.id \
                    AND o.status IN ('SENDING', 'NEW', 'WORKING', 'PARTIALLY_FILLED')) \
                    ELSE 0 END AS working_orders, \
                b.exposure_acknowledged_by, \
                CASE WHEN b.status = 'SUSPENDED' THEN COALESCE((SELECT array_agg(DISTINCT x->>'code') \
                    FROM (SELECT t.blocked_by FROM no_trade_traces t WHERE t.bot_id = b.id \
                          ORDER BY t.created_at DESC, t.id DESC LIMIT 1) latest, \
                         jsonb_array_elements(latest.blocked_by) x \
                    WHERE x->>'code' IS NOT NULL), '{}') ELSE '{}' END AS blocked_codes, \
                i.last_error \
         FROM bots b LEFT JOIN bot_instances i ON i.bot_id = b.id \
         WHERE b.status IN ('KILLED', 'SUSPENDED', 'ERROR') \
         ORDER BY b.updated_at, b.id",
    )
    .fetch_all(pool)
    .await
}

/// A bot holding contracts on its symbol, with when its last fill's order was decided (that
/// names the contract it holds, as the runner's restore and the desk's close read it).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct HeldPosition {
    pub id: Uuid,
    pub name: String,
    pub stage: Stage,
    pub symbol: Symbol,
    pub quantity: i64,
    pub last_decided_at: Option<DateTime<Utc>>,
}

/// Every bot whose position on its symbol is not flat.
pub async fn held_positions(pool: &PgPool) -> Result<Vec<HeldPosition>, sqlx::Error> {
    sqlx::query_as(
        "SELECT b.id, b.name, b.stage, b.symbol, p.quantity::bigint AS quantity, \
                (SELECT COALESCE(o.decision_bar_at, o.created_at) FROM fills f \
                 JOIN orders o ON o.id = f.order_id \
                 WHERE f.bot_id = b.id AND o.symbol = b.symbol \
                 ORDER BY f.filled_at DESC, f.created_at DESC, f.id DESC LIMIT 1) AS last_decided_at \
         FROM positions p JOIN bots b ON b.id = p.bot_id AND p.symbol = b.symbol \
         WHERE p.quantity <> 0 ORDER BY b.id",
    )
    .fetch_all(pool)
    .await
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct BotName {
    pub id: Uuid,
    pub name: String,
    pub stage: Stage,
}

/// Names and stages of `ids` (those that exist).
pub async fn bot_names(pool: &PgPool, ids: &[Uuid]) -> Result<Vec<BotName>, sqlx::Error> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    sqlx::query_as("SELECT id, name, stage FROM bots WHERE id = ANY($1)")
        .bind(ids)
        .fetch_all(pool)
        .await
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct FailedJob {
    pub id: Uuid,
    pub kind: String,
    /// `FAILED` or `TIMEOUT`.
    pub status: String,
    pub finished_at: DateTime<Utc>,
    pub error_code: Option<String>,
    pub error: Option<String>,
    pub bot_id: Option<Uuid>,
    pub bot_name: Option<String>,
}

/// Top-level jobs (not a sweep's children: their parent speaks for them) that ended FAILED or
/// TIMEOUT at or after `since`, newest first, at most `limit`.
pub async fn failed_jobs(
    pool: &PgPool,
    since: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<FailedJob>, sqlx::Error> {
    sqlx::query_as(
        "SELECT j.id, j.kind, j.status, COALESCE(j.finished_at, j.created_at) AS finished_at, \
                j.error_code, j.error, j.bot_id, b.name AS bot_name \
         FROM job_runs j LEFT JOIN bots b ON b.id = j.bot_id \
         WHERE j.status IN ('FAILED', 'TIMEOUT') AND j.parent_id IS NULL \
           AND COALESCE(j.finished_at, j.created_at) >= $1 \
         ORDER BY COALESCE(j.finished_at, j.created_at) DESC, j.id DESC LIMIT $2",
    )
    .bind(since)
    .bind(limit)
    .fetch_all(pool)
    .await
}
