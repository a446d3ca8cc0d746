//! `bots`: what each bot trades, how, at which stage, and its lifecycle status.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::{PgExecutor, PgPool, Postgres, QueryBuilder};
use utoipa::ToSchema;
use uuid::Uuid;

use super::page::{Cursor, Page, TimeRange, push_window};
use crate::domain::{bot::BotStatus, instruments::Symbol, risk::Stage, timeframe::Timeframe};

/// A bot row. `strategy` is `{kind, params}`.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, ToSchema)]
pub struct Bot {
    pub id: Uuid,
    pub name: String,
    pub symbol: Symbol,
    pub timeframe: Timeframe,
    pub stage: Stage,
    pub status: BotStatus,
    #[schema(value_type = Object)]
    pub strategy: Value,
    /// Complete limits as the API shows them (see `domain::risk::RiskLimits::from_stored`).
    #[schema(value_type = crate::domain::risk::RiskLimits)]
    pub risk_limits: Value,
    pub is_trading_enabled: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub created_by: Option<String>,
    /// Archived (hidden from the default bot list, history kept): when and by whom.
    #[sqlx(default)]
    pub archived_at: Option<DateTime<Utc>>,
    #[sqlx(default)]
    pub archived_by: Option<String>,
}

#[derive(Debug, Clone)]
pub struct NewBot {
    pub name: String,
    pub symbol: Symbol,
    pub timeframe: Timeframe,
    pub stage: Stage,
    pub strategy: Value,
    pub risk_limits: Value,
    pub created_by: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum BotWriteError {
    #[error("a bot with this name exists")]
    NameTaken,
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

fn map_unique(err: sqlx::Error) -> BotWriteError {
    match &err {
        sqlx::Error::Database(db) if db.is_unique_violation() => BotWriteError::NameTaken,
        _ => BotWriteError::Db(err),
    }
}

/// `db`: the pool, or a transaction that also writes what goes with the bot.
pub async fn insert(
    db: impl PgExecutor<'_>,
    bot: NewBot,
    now: DateTime<Utc>,
) -> Result<Bot, BotWriteError> {
    sqlx::query_as(
        "INSERT INTO bots (id, name, symbol, timeframe, stage, status, strategy, risk_limits, \
         created_at, updated_at, created_by) \
         VALUES ($1, $2, $3, $4, $5, 'STOPPED', $6, $7, $8, $8, $9) RETURNING *",
    )
    .bind(Uuid::now_v7())
    .bind(bot.name)
    .bind(bot.symbol)
    .bind(bot.timeframe)
    .bind(bot.stage)
    .bind(bot.strategy)
    .bind(bot.risk_limits)
    .bind(now)
    .bind(bot.created_by)
    .fetch_one(db)
    .await
    .map_err(map_unique)
}

/// The bot named `name` (names are unique).
pub async fn get_by_name(pool: &PgPool, name: &str) -> Result<Option<Bot>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM bots WHERE name = $1")
        .bind(name)
        .fetch_optional(pool)
        .await
}

/// The names of `ids` (ids that are no bot are left out).
pub async fn names(
    pool: &PgPool,
    ids: &[Uuid],
) -> Result<std::collections::HashMap<Uuid, String>, sqlx::Error> {
    let rows: Vec<(Uuid, String)> = sqlx::query_as("SELECT id, name FROM bots WHERE id = ANY($1)")
        .bind(ids)
        .fetch_all(pool)
        .await?;
    Ok(rows.into_iter().collect())
}

pub async fn get(pool: &PgPool, id: Uuid) -> Result<Option<Bot>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM bots WHERE id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await
}

/// The bots of `ids` that exist (one query; a takeover batch's read).
pub async fn get_many(pool: &PgPool, ids: &[Uuid]) -> Result<Vec<Bot>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM bots WHERE id = ANY($1)")
        .bind(ids)
        .fetch_all(pool)
        .await
}

/// The bot, row-locked until `db`'s transaction ends (read-modify-write of its jsonb fields).
pub async fn lock(db: impl PgExecutor<'_>, id: Uuid) -> Result<Option<Bot>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM bots WHERE id = $1 FOR UPDATE")
        .bind(id)
        .fetch_optional(db)
        .await
}

/// Which bots a list shows by their archive state (`GET /api/bots?archived=`).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub enum Archived {
    /// Not archived only (the default).
    #[default]
    Exclude,
    Include,
    Only,
}

impl Archived {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "exclude" => Some(Archived::Exclude),
            "include" => Some(Archived::Include),
            "only" => Some(Archived::Only),
            _ => None,
        }
    }
}

#[derive(Debug, Default, Clone)]
pub struct BotFilter {
    pub archived: Archived,
    pub stage: Option<Stage>,
    pub status: Option<BotStatus>,
    pub symbol: Option<Symbol>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

pub async fn list(
    pool: &PgPool,
    filter: &BotFilter,
    after: Option<Cursor>,
    limit: i64,
) -> Result<Page<Bot>, sqlx::Error> {
    let mut q: QueryBuilder<Postgres> = QueryBuilder::new("SELECT * FROM bots WHERE true");
    match filter.archived {
        Archived::Exclude => {
            q.push(" AND archived_at IS NULL");
        }
        Archived::Include => {}
        Archived::Only => {
            q.push(" AND archived_at IS NOT NULL");
        }
    }
    if let Some(stage) = filter.stage {
        q.push(" AND stage = ").push_bind(stage);
    }
    if let Some(status) = filter.status {
        q.push(" AND status = ").push_bind(status);
    }
    if let Some(symbol) = filter.symbol {
        q.push(" AND symbol = ").push_bind(symbol);
    }
    push_window(
        &mut q,
        TimeRange {
            from: filter.from,
            to: filter.to,
        },
        after,
        limit,
    );
    let rows: Vec<Bot> = q.build_query_as().fetch_all(pool).await?;
    Ok(Page::from_rows(rows, limit, |b| Cursor {
        created_at: b.created_at,
        id: b.id,
    }))
}

/// Fields a PATCH may change (None: unchanged).
#[derive(Debug, Default, Clone)]
pub struct BotPatch {
    pub name: Option<String>,
    pub strategy: Option<Value>,
    pub risk_limits: Option<Value>,
    pub is_trading_enabled: Option<bool>,
}

pub async fn update(
    db: impl PgExecutor<'_>,
    id: Uuid,
    patch: BotPatch,
    now: DateTime<Utc>,
) -> Result<Option<Bot>, BotWriteError> {
    sqlx::query_as(
        "UPDATE bots SET name = COALESCE($2, name), strategy = COALESCE($3, strategy), \
         risk_limits = COALESCE($4, risk_limits), \
         is_trading_enabled = COALESCE($5, is_trading_enabled), updated_at = $6 \
         WHERE id = $1 RETURNING *",
    )
    .bind(id)
    .bind(patch.name)
    .bind(patch.strategy)
    .bind(patch.risk_limits)
    .bind(patch.is_trading_enabled)
    .bind(now)
    .fetch_optional(db)
    .await
    .map_err(map_unique)
}

pub async fn set_status(
    pool: &PgPool,
    id: Uuid,
    status: BotStatus,
    now: DateTime<Utc>,
) -> Result<Option<Bot>, sqlx::Error> {
    sqlx::query_as("UPDATE bots SET status = $2, updated_at = $3 WHERE id = $1 RETURNING *")
        .bind(id)
        .bind(status)
        .bind(now)
        .fetch_optional(pool)
        .await
}

/// [`set_status`] under a bot lease: in one transaction, refused (SQLSTATE TPL01,
/// `bot_leases::is_stale`) unless `fence` is the bot's current lease, so a node that lost the
/// bot (paused or cut off past its lease while another node took it) cannot change its status.
pub async fn set_status_fenced(
    pool: &PgPool,
    fence: &crate::store::bot_leases::Fence,
    status: BotStatus,
    now: DateTime<Utc>,
) -> Result<Option<Bot>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    crate::store::bot_leases::check(&mut tx, fence.bot_id, fence).await?;
    let bot =
        sqlx::query_as("UPDATE bots SET status = $2, updated_at = $3 WHERE id = $1 RETURNING *")
            .bind(fence.bot_id)
            .bind(status)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?;
    tx.commit().await?;
    Ok(bot)
}

/// [`set_status_fenced`] for many bots in one statement: each bot's row is written only while
/// `node` holds its lease at the epoch given for it (the lease rows share-locked until the
/// statement ends, as `tp_fence` does), so a bot another node took meanwhile is left alone.
/// Answers the bots written.
pub async fn set_status_fenced_many(
    pool: &PgPool,
    node: &str,
    fences: &[(Uuid, i64)],
    status: BotStatus,
    now: DateTime<Utc>,
) -> Result<Vec<Uuid>, sqlx::Error> {
    if fences.is_empty() {
        return Ok(Vec::new());
    }
    let (ids, epochs): (Vec<Uuid>, Vec<i64>) = fences.iter().copied().unzip();
    sqlx::query_scalar(
        "WITH held AS ( \
           SELECT l.bot_id FROM bot_leases l \
           JOIN UNNEST($1::uuid[], $2::bigint[]) AS f(bot_id, epoch) \
             ON f.bot_id = l.bot_id AND l.epoch = f.epoch \
           WHERE l.node = $3 ORDER BY l.bot_id FOR SHARE OF l) \
         UPDATE bots b SET status = $4, updated_at = $5 FROM held WHERE b.id = held.bot_id \
         RETURNING b.id",
    )
    .bind(ids)
    .bind(epochs)
    .bind(node)
    .bind(status)
    .bind(now)
    .fetch_all(pool)
    .await
}

/// [`set_status`] for many bots in one statement (a process without ownership); answers the
/// bots written.
pub async fn set_status_many(
    pool: &PgPool,
    ids: &[Uuid],
    status: BotStatus,
    now: DateTime<Utc>,
) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "UPDATE bots SET status = $2, updated_at = $3 WHERE id = ANY($1) RETURNING id",
    )
    .bind(ids)
    .bind(status)
    .bind(now)
    .fetch_all(pool)
    .await
}

/// Changes the stage only if it is still `from` (a concurrent promotion loses) and, leaving
/// LIVE, only while no runner runs (a start that raced the demotion's check loses): `None`.
pub async fn set_stage(
    pool: &PgPool,
    id: Uuid,
    from: Stage,
    to: Stage,
    now: DateTime<Utc>,
) -> Result<Option<Bot>, sqlx::Error> {
    sqlx::query_as(
        "UPDATE bots SET stage = $3, updated_at = $4 WHERE id = $1 AND stage = $2 \
         AND NOT ($2 = 'LIVE' AND status IN ('STARTING', 'RUNNING', 'SUSPENDED', 'RESTARTING')) \
         RETURNING *",
    )
    .bind(id)
    .bind(from)
    .bind(to)
    .bind(now)
    .fetch_optional(pool)
    .await
}

/// Ids of bots whose runner exists or is about to (kill-switch sweep).
pub async fn active_ids(pool: &PgPool) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT id FROM bots WHERE status IN ('STARTING', 'RUNNING', 'SUSPENDED', 'RESTARTING')",
    )
    .fetch_all(pool)
    .await
}

/// A KILLED bot and its exposure: contracts held (all symbols, absolute) and orders that may
/// still fill (working, or a LIVE send the broker has not answered: it may be working there).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct KilledBot {
    pub id: Uuid,
    pub name: String,
    pub contracts_held: i64,
    pub working_orders: i64,
    /// An admin acknowledged the exposure (SEV-2 instead of SEV-1 while it lasts).
    pub exposure_acknowledged_at: Option<DateTime<Utc>>,
    pub exposure_acknowledged_by: Option<String>,
}

impl KilledBot {
    /// An open position or an order that may still fill.
    pub fn exposed(&self) -> bool {
        self.contracts_held != 0 || self.working_orders != 0
    }
}

/// Every KILLED bot with its exposure (the system status: SEV-1 while it holds any).
pub async fn killed_exposure(pool: &PgPool) -> Result<Vec<KilledBot>, sqlx::Error> {
    sqlx::query_as(
        "SELECT b.id, b.name, \
                COALESCE((SELECT sum(abs(p.quantity)) FROM positions p WHERE p.bot_id = b.id), 0)::bigint \
                    AS contracts_held, \
                (SELECT count(*) FROM orders o WHERE o.bot_id = b.id \
                    AND o.status IN ('SENDING', 'NEW', 'WORKING', 'PARTIALLY_FILLED')) \
                    AS working_orders, \
                b.exposure_acknowledged_at, b.exposure_acknowledged_by \
         FROM bots b WHERE b.status = 'KILLED' ORDER BY b.id",
    )
    .fetch_all(pool)
    .await
}

/// Records an admin's acknowledgement of a KILLED bot's exposure; `None` when the bot is not
/// KILLED (or does not exist).
pub async fn acknowledge_exposure(
    pool: &PgPool,
    id: Uuid,
    by: &str,
    at: DateTime<Utc>,
) -> Result<Option<Bot>, sqlx::Error> {
    sqlx::query_as(
        "UPDATE bots SET exposure_acknowledged_at = $3, exposure_acknowledged_by = $2 \
         WHERE id = $1 AND status = 'KILLED' RETURNING *",
    )
    .bind(id)
    .bind(by)
    .bind(at)
    .fetch_optional(pool)
    .await
}

/// Forgets an exposure acknowledgement (a new kill, a re-arm: the next exposure is SEV-1).
pub async fn clear_exposure_ack(pool: &PgPool, ids: &[Uuid]) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE bots SET exposure_acknowledged_at = NULL, exposure_acknowledged_by = NULL \
         WHERE id = ANY($1) AND exposure_acknowledged_at IS NOT NULL",
    )
    .bind(ids)
    .execute(pool)
    .await?;
    Ok(())
}

/// Marks every given bot KILLED.
pub async fn mark_killed(
    pool: &PgPool,
    ids: &[Uuid],
    now: DateTime<Utc>,
) -> Result<u64, sqlx::Error> {
    let done = sqlx::query("UPDATE bots SET status = 'KILLED', updated_at = $2 WHERE id = ANY($1)")
        .bind(ids)
        .bind(now)
        .execute(pool)
        .await?;
    Ok(done.rows_affected())
}

/// Mirrors runner states the runtime decides on its own (a runner gated, restarting, failed
/// for good, or killed) onto `bots.status`. Never revives a bot an operator stopped: RUNNING,
/// SUSPENDED and RESTARTING only move bots that are live already. Never writes over a bot
/// another node than `node` holds the lease of.
pub async fn mirror_runtime_status(
    pool: &PgPool,
    node: &str,
    rows: &[(Uuid, BotStatus)],
) -> Result<u64, sqlx::Error> {
    let rows: Vec<&(Uuid, BotStatus)> = rows
        .iter()
        .filter(|(_, s)| {
            matches!(
                s,
                BotStatus::Running
                    | BotStatus::Suspended
                    | BotStatus::Restarting
                    | BotStatus::Error
                    | BotStatus::Killed
            )
        })
        .collect();
    if rows.is_empty() {
        return Ok(0);
    }
    let done = sqlx::query(
        "UPDATE bots b SET status = u.status, updated_at = now() \
         FROM UNNEST($1::uuid[], $2::text[]) AS u(id, status) \
         WHERE b.id = u.id AND b.status <> u.status \
           AND (u.status IN ('ERROR', 'KILLED') \
                OR b.status IN ('STARTING', 'RUNNING', 'SUSPENDED', 'RESTARTING')) \
           AND NOT EXISTS (SELECT 1 FROM bot_leases l \
                           WHERE l.bot_id = b.id AND l.node IS NOT NULL AND l.node <> $3)",
    )
    .bind(rows.iter().map(|r| r.0).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.1).collect::<Vec<_>>())
    .bind(node)
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

/// What a bot still holds: contracts (absolute, from `positions`) and open orders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Holding {
    pub contracts: i64,
    pub open_orders: i64,
    /// An admin acknowledged the (KILLED) bot's exposure.
    pub acknowledged: bool,
}

impl Holding {
    /// A position or an order that may still fill.
    pub fn exposed(&self) -> bool {
        self.contracts != 0 || self.open_orders != 0
    }
}

pub async fn holding(pool: &PgPool, id: Uuid) -> Result<Holding, sqlx::Error> {
    let (contracts, open_orders, acknowledged): (i64, i64, Option<bool>) = sqlx::query_as(
        "SELECT COALESCE((SELECT sum(abs(quantity)) FROM positions WHERE bot_id = $1), 0)::bigint, \
                (SELECT count(*) FROM orders WHERE bot_id = $1 \
                  AND status IN ('SENDING', 'NEW', 'WORKING', 'PARTIALLY_FILLED')), \
                (SELECT exposure_acknowledged_at IS NOT NULL FROM bots WHERE id = $1)",
    )
    .bind(id)
    .fetch_one(pool)
    .await?;
    Ok(Holding {
        contracts,
        open_orders,
        acknowledged: acknowledged.unwrap_or(false),
    })
}

/// Archives a STOPPED bot (`None` when it is not STOPPED any more, or gone); an archived one is
/// returned as it is.
pub async fn archive(
    pool: &PgPool,
    id: Uuid,
    by: &str,
    now: DateTime<Utc>,
) -> Result<Option<Bot>, sqlx::Error> {
    sqlx::query_as(
        "UPDATE bots SET archived_at = COALESCE(archived_at, $2), \
         archived_by = CASE WHEN archived_at IS NULL THEN $3 ELSE archived_by END, \
         updated_at = CASE WHEN archived_at IS NULL THEN $2 ELSE updated_at END \
         WHERE id = $1 AND status = 'STOPPED' RETURNING *",
    )
    .bind(id)
    .bind(now)
    .bind(by)
    .fetch_optional(pool)
    .await
}

/// Clears the archive mark (a bot not archived is returned as it is).
pub async fn unarchive(
    pool: &PgPool,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<Option<Bot>, sqlx::Error> {
    sqlx::query_as(
        "UPDATE bots SET updated_at = CASE WHEN archived_at IS NULL THEN updated_at ELSE $2 END, \
         archived_at = NULL, archived_by = NULL WHERE id = $1 RETURNING *",
    )
    .bind(id)
    .bind(now)
    .fetch_optional(pool)
    .await
}
