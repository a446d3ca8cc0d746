//! `bot_leases`: which node owns which bot, with a fencing epoch (see the migration). Times
//! are the caller's clock; every acquisition bumps the epoch, so a write carrying an older one
//! is refused by [`check`] in the writer's own transaction.

use std::{collections::HashMap, sync::Arc};

use chrono::{DateTime, Utc};
use std::time::Duration;

use sqlx::{PgConnection, PgExecutor, PgPool, Postgres, Transaction};
use uuid::Uuid;

use crate::domain::bot::BotStatus;

/// The SQLSTATE `tp_fence` raises for a stale (node, epoch).
pub const STALE_LEASE_SQLSTATE: &str = "TPL01";

/// What a write that acts on a bot carries: the node that holds the bot and the epoch it got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    pub bot_id: Uuid,
    pub node: Arc<str>,
    pub epoch: i64,
}

/// How long a lease statement may wait for a row lock another transaction holds (a paused
/// node's fenced write, a kill's epoch bump) and how long it may run at all (`SET LOCAL
/// lock_timeout`, `statement_timeout` in its own transaction, [`bounded`]): a node's renewal
/// round, a claim or a start never stalls behind a node that is stopped or cut off; the
/// statement fails ([`is_timeout`]), is counted, and the next round tries again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    pub lock: Duration,
    pub statement: Duration,
}

impl Bounds {
    /// A tenth of the lease TTL for a lock wait (at least 50 ms) and half of it for the
    /// statement (at least 200 ms; a renewal that took longer would be worth little, but a
    /// busy machine's slow statement is not a stalled one).
    pub fn for_ttl(ttl: Duration) -> Self {
        Bounds {
            lock: (ttl / 10).max(Duration::from_millis(50)),
            statement: (ttl / 2).max(Duration::from_millis(200)),
        }
    }
}

/// A transaction whose statements are bounded by `bounds` (see [`Bounds`]).
pub async fn bounded(
    pool: &PgPool,
    bounds: Bounds,
) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query(
        "SELECT set_config('lock_timeout', $1, true), set_config('statement_timeout', $2, true)",
    )
    .bind(format!("{}ms", bounds.lock.as_millis()))
    .bind(format!("{}ms", bounds.statement.as_millis()))
    .execute(&mut *tx)
    .await?;
    Ok(tx)
}

/// Whether `err` is a bounded statement giving up: a lock wait past `lock_timeout` (SQLSTATE
/// 55P03) or a statement past `statement_timeout` (57014).
pub fn is_timeout(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(e) if matches!(e.code().as_deref(), Some("55P03" | "57014")))
}

/// How long a fenced write's transaction may sit idle (its client not sending the next
/// statement) before the server ends the session (`idle_in_transaction_session_timeout`,
/// set by [`check`]): the share lock a node paused mid-write (SIGSTOP, a cut connection) holds
/// on the lease row goes with it, so other nodes can claim the bot when the lease expires
/// instead of skipping the locked row (`SKIP LOCKED`) until the node wakes. A healthy write
/// never waits between its statements.
pub const FENCED_IDLE_LIMIT: Duration = Duration::from_secs(1);

/// The fence check as one statement, its parameters `$1..$4` those of [`fence_params`] in
/// order (a statement that embeds it numbers its own parameters from `$5`).
pub const FENCE_SQL: &str =
    "SELECT set_config('idle_in_transaction_session_timeout', $4, true), tp_fence($1, $2, $3)";

/// [`FENCE_SQL`]'s parameters for a write of `bot_id` under `fence`: the bot is the written
/// row's, so a fence of another bot never passes.
pub fn fence_params(bot_id: Uuid, fence: &Fence) -> (Uuid, &str, i64, String) {
    let bot = if fence.bot_id == bot_id {
        bot_id
    } else {
        Uuid::nil()
    };
    let idle = format!("{}ms", FENCED_IDLE_LIMIT.as_millis());
    (bot, &fence.node, fence.epoch, idle)
}

/// Refuses the transaction's write for `bot_id` unless `fence` is that bot's current lease
/// (SQLSTATE TPL01, [`is_stale`]); share-locks the lease row until the transaction ends, so a
/// takeover cannot commit between this check and the write.
pub async fn check(
    conn: &mut PgConnection,
    bot_id: Uuid,
    fence: &Fence,
) -> Result<(), sqlx::Error> {
    let (bot, node, epoch, idle) = fence_params(bot_id, fence);
    sqlx::query(FENCE_SQL)
        .bind(bot)
        .bind(node)
        .bind(epoch)
        .bind(idle)
        .execute(conn)
        .await?;
    Ok(())
}

/// The leases of a batch's bots as they are while its transaction runs ([`lock_current`]).
#[derive(Debug, Default)]
pub struct Current(std::collections::HashMap<Uuid, (String, i64)>);

impl Current {
    /// Whether `node` holds `bot` at `epoch` (a write carrying them may act on the bot).
    pub fn holds(&self, bot: Uuid, node: Option<&str>, epoch: Option<i64>) -> bool {
        self.0
            .get(&bot)
            .is_some_and(|(n, e)| Some(n.as_str()) == node && Some(*e) == epoch)
    }

    /// Whether `fence` is its bot's lease.
    pub fn holds_fence(&self, fence: &Fence) -> bool {
        self.holds(fence.bot_id, Some(&fence.node), Some(fence.epoch))
    }
}

/// A batch's fence, row by row: the held leases of `bots`, share-locked in bot order (as
/// renewals lock them) until the caller's transaction ends, so a takeover either waits for the
/// batch or the batch sees the new epoch. The caller writes only the rows whose fence
/// [`Current::holds`] and answers the others as refused, where [`check`] would abort the whole
/// transaction. Like [`check`], it bounds the transaction's idle time by
/// [`FENCED_IDLE_LIMIT`]: a node paused mid-batch loses its session and the locks of every
/// lease in the batch with it.
pub async fn lock_current(
    conn: &mut PgConnection,
    bots: impl IntoIterator<Item = Uuid>,
) -> Result<Current, sqlx::Error> {
    let mut bots: Vec<Uuid> = bots.into_iter().collect();
    bots.sort_unstable();
    bots.dedup();
    let leases: Vec<(Uuid, String, i64)> = sqlx::query_as(
        "SELECT l.bot_id, l.node, l.epoch FROM \
         (SELECT set_config('idle_in_transaction_session_timeout', $2, true)) s, bot_leases l \
         WHERE l.bot_id = ANY($1) AND l.node IS NOT NULL ORDER BY l.bot_id FOR SHARE OF l",
    )
    .bind(&bots)
    .bind(format!("{}ms", FENCED_IDLE_LIMIT.as_millis()))
    .fetch_all(conn)
    .await?;
    Ok(Current(
        leases.into_iter().map(|(b, n, e)| (b, (n, e))).collect(),
    ))
}

/// What allows a write that acts on a bot: this node's lease on it, or, for a process that
/// runs no runtime (so holds no lease), the fact that no node holds an unexpired lease on it.
#[derive(Debug, Clone, Copy)]
pub enum Guard<'a> {
    Lease(&'a Fence),
    /// No node owns the bot at `now`: share-locks its lease row (a takeover waits for the
    /// write) and refuses with SQLSTATE TPL01 while a node holds an unexpired lease.
    Unowned {
        bot_id: Uuid,
        now: DateTime<Utc>,
    },
}

impl Guard<'_> {
    pub fn bot_id(&self) -> Uuid {
        match self {
            Guard::Lease(f) => f.bot_id,
            Guard::Unowned { bot_id, .. } => *bot_id,
        }
    }
}

/// [`check`] for a [`Guard`].
pub async fn check_guard(conn: &mut PgConnection, guard: Guard<'_>) -> Result<(), sqlx::Error> {
    match guard {
        Guard::Lease(fence) => check(conn, fence.bot_id, fence).await,
        Guard::Unowned { bot_id, now } => {
            let held: Option<(Option<String>, DateTime<Utc>)> = sqlx::query_as(
                "SELECT node, expires_at FROM bot_leases WHERE bot_id = $1 FOR SHARE",
            )
            .bind(bot_id)
            .fetch_optional(&mut *conn)
            .await?;
            if let Some((Some(node), expires_at)) = held
                && expires_at > now
            {
                // The same refusal `tp_fence` raises, so callers handle one error.
                sqlx::query("SELECT tp_fence($1, $2, 0)")
                    .bind(bot_id)
                    .bind(format!("(unowned check; held by {node})"))
                    .execute(conn)
                    .await?;
            }
            Ok(())
        }
    }
}

/// Whether `err` is the database refusing a stale lease.
pub fn is_stale(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(e) if e.code().as_deref() == Some(STALE_LEASE_SQLSTATE))
}

/// Takes the bot's lease for `node` unless another node holds an unexpired one: a new epoch
/// either way. `None`: held elsewhere.
pub async fn acquire(
    db: impl PgExecutor<'_>,
    bot_id: Uuid,
    node: &str,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<Option<i64>, sqlx::Error> {
    take(db, bot_id, node, now, expires_at, true).await
}

/// Takes the bot's lease for `node` only when no node holds it (released, or expired): a
/// new epoch. `None`: held (by any node, this one included). For work on a bot no runner
/// runs (a KILLED bot), released again after.
pub async fn acquire_unowned(
    db: impl PgExecutor<'_>,
    bot_id: Uuid,
    node: &str,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<Option<i64>, sqlx::Error> {
    take(db, bot_id, node, now, expires_at, false).await
}

/// A new epoch for `node` when the lease is free or expired, or (`own_counts`) already
/// `node`'s.
async fn take(
    db: impl PgExecutor<'_>,
    bot_id: Uuid,
    node: &str,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    own_counts: bool,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO bot_leases (bot_id, node, epoch, acquired_at, expires_at) \
         VALUES ($1, $2, 1, $3, $4) \
         ON CONFLICT (bot_id) DO UPDATE SET node = EXCLUDED.node, epoch = bot_leases.epoch + 1, \
         acquired_at = EXCLUDED.acquired_at, expires_at = EXCLUDED.expires_at \
         WHERE bot_leases.node IS NULL OR ($5 AND bot_leases.node = EXCLUDED.node) \
            OR bot_leases.expires_at < EXCLUDED.acquired_at \
         RETURNING epoch",
    )
    .bind(bot_id)
    .bind(node)
    .bind(now)
    .bind(expires_at)
    .bind(own_counts)
    .fetch_optional(db)
    .await
}

/// [`acquire`] for many bots in one statement (a resume): each bot's lease taken for `node`
/// unless another node holds an unexpired one, a new epoch each. Answers the bots taken with
/// their epochs. A row locked by another transaction makes the statement wait (bound it, see
/// [`bounded`]; the caller then acquires one by one).
pub async fn acquire_many(
    db: impl PgExecutor<'_>,
    bots: &[Uuid],
    node: &str,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<Vec<(Uuid, i64)>, sqlx::Error> {
    sqlx::query_as(
        "INSERT INTO bot_leases (bot_id, node, epoch, acquired_at, expires_at) \
         SELECT id, $2, 1, $3, $4 FROM UNNEST($1::uuid[]) AS b(id) ORDER BY id \
         ON CONFLICT (bot_id) DO UPDATE SET node = EXCLUDED.node, epoch = bot_leases.epoch + 1, \
         acquired_at = EXCLUDED.acquired_at, expires_at = EXCLUDED.expires_at \
         WHERE bot_leases.node IS NULL OR bot_leases.node = EXCLUDED.node \
            OR bot_leases.expires_at < EXCLUDED.acquired_at \
         RETURNING bot_id, epoch",
    )
    .bind(bots)
    .bind(node)
    .bind(now)
    .bind(expires_at)
    .fetch_all(db)
    .await
}

/// A new epoch for a lease `node` holds (so every write still carrying the old one is
/// refused): `None` when `node` does not hold it.
pub async fn bump(
    db: impl PgExecutor<'_>,
    bot_id: Uuid,
    node: &str,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "UPDATE bot_leases SET epoch = epoch + 1, acquired_at = $3, \
         expires_at = GREATEST(expires_at, $4) WHERE bot_id = $1 AND node = $2 RETURNING epoch",
    )
    .bind(bot_id)
    .bind(node)
    .bind(now)
    .bind(expires_at)
    .fetch_optional(db)
    .await
}

/// The node holding the bot's lease and until when (None: never leased, or released).
pub async fn holder(
    pool: &PgPool,
    bot_id: Uuid,
) -> Result<Option<(String, DateTime<Utc>)>, sqlx::Error> {
    sqlx::query_as("SELECT node, expires_at FROM bot_leases WHERE bot_id = $1 AND node IS NOT NULL")
        .bind(bot_id)
        .fetch_optional(pool)
        .await
}

/// A lease the node still holds after a renewal, with its bot's status.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Renewed {
    pub bot_id: Uuid,
    pub epoch: i64,
    pub status: BotStatus,
    /// A fingerprint of what a runner reads from the bot row (stage, strategy, limits, trading
    /// switch): a change made through any node shows as a new value; a status write does not.
    pub settings: i64,
}

/// A fingerprint of what a runner reads from the bot row `b` (stage, strategy, limits, trading
/// switch): [`Renewed::settings`] and [`settings_of`].
const SETTINGS_SQL: &str = "hashtextextended(concat_ws('|', b.stage, b.is_trading_enabled, \
     b.strategy::text, b.risk_limits::text), 0)";

/// The settings fingerprints of `bots` (a lease's baseline when it is taken).
pub async fn settings_of(
    db: impl PgExecutor<'_>,
    bots: &[Uuid],
) -> Result<HashMap<Uuid, i64>, sqlx::Error> {
    let rows: Vec<(Uuid, i64)> = sqlx::query_as(&format!(
        "SELECT b.id, {SETTINGS_SQL} FROM bots b WHERE b.id = ANY($1)"
    ))
    .bind(bots)
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().collect())
}

/// Extends the leases of `bots` that `node` still holds to `expires_at` (rows locked in bot
/// order, so two renewals never deadlock). A lease another node took is not in the answer.
pub async fn renew(
    db: impl PgExecutor<'_>,
    node: &str,
    bots: &[Uuid],
    expires_at: DateTime<Utc>,
) -> Result<Vec<Renewed>, sqlx::Error> {
    if bots.is_empty() {
        return Ok(Vec::new());
    }
    sqlx::query_as(&format!(
        "WITH mine AS (SELECT bot_id FROM bot_leases WHERE node = $1 AND bot_id = ANY($3) \
                       ORDER BY bot_id FOR UPDATE) \
         UPDATE bot_leases l SET expires_at = GREATEST(l.expires_at, $2) \
         FROM mine, bots b WHERE l.bot_id = mine.bot_id AND b.id = l.bot_id \
         RETURNING l.bot_id, l.epoch, b.status, {SETTINGS_SQL} AS settings"
    ))
    .bind(node)
    .bind(expires_at)
    .bind(bots)
    .fetch_all(db)
    .await
}

/// Which leases a claim takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claimable {
    /// Released (a hand-over) or expired.
    Free,
    /// Expired only: their node died, paused or lost the database (orphans to rescue).
    Expired,
}

/// Claims up to `limit` bots that should run (STARTING, RUNNING, SUSPENDED, RESTARTING) and
/// whose lease was released or has expired (only expired: [`Claimable::Expired`]; `held`, the
/// node's own, excepted):
/// `FOR UPDATE SKIP LOCKED`, so nodes claiming at once take different bots. Bots never leased
/// are not claimed here (the starting node's resume takes them). Answers each claimed bot with
/// its new epoch and the node it came from.
pub async fn claim(
    db: impl PgExecutor<'_>,
    node: &str,
    held: &[Uuid],
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    limit: i64,
    which: Claimable,
) -> Result<Vec<(Uuid, i64, Option<String>)>, sqlx::Error> {
    sqlx::query_as(
        "WITH c AS ( \
           SELECT l.bot_id, l.node AS previous FROM bot_leases l JOIN bots b ON b.id = l.bot_id \
           WHERE b.status IN ('STARTING', 'RUNNING', 'SUSPENDED', 'RESTARTING') \
             AND (CASE WHEN $6 THEN l.node IS NOT NULL AND l.expires_at < $2 \
                       ELSE l.node IS NULL OR l.expires_at < $2 END) \
             AND NOT (l.bot_id = ANY($5)) \
           ORDER BY l.expires_at, l.bot_id LIMIT $4 FOR UPDATE OF l SKIP LOCKED) \
         UPDATE bot_leases l SET node = $1, epoch = l.epoch + 1, acquired_at = $2, expires_at = $3 \
         FROM c WHERE l.bot_id = c.bot_id \
         RETURNING l.bot_id, l.epoch, c.previous",
    )
    .bind(node)
    .bind(now)
    .bind(expires_at)
    .bind(limit)
    .bind(held)
    .bind(which == Claimable::Expired)
    .fetch_all(db)
    .await
}

/// Whether a bot that should run has a lease another node held and let expire by `now` (an
/// orphan to rescue): the cheap check a node makes between its rounds.
pub async fn orphaned(pool: &PgPool, now: DateTime<Utc>) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM bot_leases l JOIN bots b ON b.id = l.bot_id \
         WHERE l.node IS NOT NULL AND l.expires_at < $1 \
           AND b.status IN ('STARTING', 'RUNNING', 'SUSPENDED', 'RESTARTING'))",
    )
    .bind(now)
    .fetch_one(pool)
    .await
}

/// How many bots should run, and the capacity of the nodes counted in the share (heartbeat
/// after `counted_since`, not stopped, not draining, not found gone), for a node's fair share.
pub async fn share(pool: &PgPool, counted_since: DateTime<Utc>) -> Result<(i64, i64), sqlx::Error> {
    sqlx::query_as(
        "SELECT (SELECT count(*) FROM bots \
                 WHERE status IN ('STARTING', 'RUNNING', 'SUSPENDED', 'RESTARTING')), \
                (SELECT COALESCE(sum(capacity), 0)::bigint FROM nodes \
                 WHERE heartbeat_at > $1 AND stopped_at IS NULL AND draining_since IS NULL \
                   AND gone_at IS NULL)",
    )
    .bind(counted_since)
    .fetch_one(pool)
    .await
}

/// Lets the bot go at `now` (it stays leased to nobody until a node takes it; `expires_at`
/// becomes the release time, so "unowned since" is exact). Only the holder's epoch releases it.
pub async fn release(
    db: impl PgExecutor<'_>,
    fence: &Fence,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE bot_leases SET node = NULL, expires_at = LEAST(expires_at, $4) \
         WHERE bot_id = $1 AND node = $2 AND epoch = $3",
    )
    .bind(fence.bot_id)
    .bind(&*fence.node)
    .bind(fence.epoch)
    .bind(now)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Lets every bot of `node` go at `now` (a clean shutdown: the others take them without
/// waiting for the TTL).
pub async fn release_all(
    db: impl PgExecutor<'_>,
    node: &str,
    now: DateTime<Utc>,
) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE bot_leases SET node = NULL, expires_at = LEAST(expires_at, $2) WHERE node = $1",
    )
    .bind(node)
    .bind(now)
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}

/// A bot that should run (STARTING, RUNNING, SUSPENDED, RESTARTING) held by no node now.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UnownedBot {
    pub id: Uuid,
    pub name: String,
    pub status: BotStatus,
    /// Since when: its last lease's expiry or release, or its last status change when it was
    /// never leased.
    pub since: DateTime<Utc>,
}

/// Every bot that should run and whose lease is missing, released or expired at `now`.
pub async fn unowned(pool: &PgPool, now: DateTime<Utc>) -> Result<Vec<UnownedBot>, sqlx::Error> {
    sqlx::query_as(
        "SELECT b.id, b.name, b.status, COALESCE(l.expires_at, b.updated_at) AS since \
         FROM bots b LEFT JOIN bot_leases l ON l.bot_id = b.id \
         WHERE b.status IN ('STARTING', 'RUNNING', 'SUSPENDED', 'RESTARTING') \
           AND (l.node IS NULL OR l.expires_at < $1) ORDER BY b.id",
    )
    .bind(now)
    .fetch_all(pool)
    .await
}
