//! `reconciliation_mismatches` and `reconciliation_runs`: what each run per broker account
//! found. A run's mismatches replace the account's open set in one transaction: new ones are
//! opened, ones still there are touched (`last_seen_at`), ones gone are resolved
//! (`RECONCILED`, or the operator's `ADOPTED`/`FLATTENED` when a reconcile action preceded
//! the run).

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::domain::reconciliation::Mismatch;
use crate::trace::TraceId;

/// One mismatch as stored.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, ToSchema)]
pub struct MismatchRow {
    pub id: Uuid,
    /// `tradovate` | `ironbeam`.
    pub broker: String,
    pub account: String,
    /// `POSITION` | `ORDER_MISSING_AT_BROKER` | `ORDER_FINISHED_AT_BROKER` |
    /// `UNKNOWN_BROKER_ORDER`.
    pub kind: String,
    /// The vendor's contract spelling (`ESZ6`, `XCME:ES.Z26`).
    pub contract: String,
    /// Our order id or the broker's order id; empty for a position.
    pub subject: String,
    /// The LIVE bots it stops.
    pub bot_ids: Vec<Uuid>,
    pub order_id: Option<Uuid>,
    pub broker_order_id: Option<String>,
    /// Our side (`long 1`, `WORKING BUY 1`, `none`).
    pub ours: String,
    /// The broker's side.
    pub theirs: String,
    pub ours_net: Option<i64>,
    pub theirs_net: Option<i64>,
    pub message: String,
    pub trace_id: String,
    pub detected_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
    /// `RECONCILED` | `ADOPTED` | `FLATTENED`.
    pub resolution: Option<String>,
    pub resolved_by: Option<String>,
}

/// The last run of one broker account.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, ToSchema)]
pub struct RunRow {
    pub broker: String,
    pub account: String,
    /// `CONNECT` | `RESTART` | `PERIODIC` | `FIRST_ORDER` | `OPERATOR`.
    pub trigger: String,
    pub node: Option<String>,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    /// False when the broker could not be read (nothing was compared, nothing resolved).
    pub ok: bool,
    pub error: Option<String>,
    pub open_mismatches: i32,
}

/// What a run changed.
#[derive(Debug, Default)]
pub struct Applied {
    pub opened: Vec<MismatchRow>,
    pub resolved: Vec<MismatchRow>,
    pub open: usize,
}

/// One run's outcome for the account.
pub struct Run<'a> {
    pub broker: &'a str,
    pub account: &'a str,
    pub trigger: &'a str,
    pub node: Option<&'a str>,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub trace: &'a TraceId,
    /// The resolution to record on mismatches this run finds gone (`RECONCILED`, or the
    /// operator's action) and by whom.
    pub resolution: &'a str,
    pub resolved_by: Option<&'a str>,
}

/// Records a successful run: its mismatches become the account's open set.
pub async fn apply(
    pool: &PgPool,
    run: &Run<'_>,
    found: &[Mismatch],
) -> Result<Applied, sqlx::Error> {
    let mut tx = pool.begin().await?;
    // One run per account at a time, across nodes.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('reconcile:' || $1 || ':' || $2))")
        .bind(run.broker)
        .bind(run.account)
        .execute(&mut *tx)
        .await?;
    let open: Vec<MismatchRow> = sqlx::query_as(
        "SELECT * FROM reconciliation_mismatches WHERE broker = $1 AND account = $2 \
         AND resolved_at IS NULL FOR UPDATE",
    )
    .bind(run.broker)
    .bind(run.account)
    .fetch_all(&mut *tx)
    .await?;
    let key = |kind: &str, contract: &str, subject: &str| format!("{kind}|{contract}|{subject}");
    let found_keys: Vec<String> = found.iter().map(Mismatch::key).collect();
    let mut out = Applied {
        open: found.len(),
        ..Applied::default()
    };
    let gone: Vec<Uuid> = open
        .iter()
        .filter(|o| !found_keys.contains(&key(&o.kind, &o.contract, &o.subject)))
        .map(|o| o.id)
        .collect();
    if !gone.is_empty() {
        out.resolved = sqlx::query_as(
            "UPDATE reconciliation_mismatches SET resolved_at = $2, resolution = $3, \
             resolved_by = $4 WHERE id = ANY($1) RETURNING *",
        )
        .bind(&gone)
        .bind(run.finished_at)
        .bind(run.resolution)
        .bind(run.resolved_by)
        .fetch_all(&mut *tx)
        .await?;
    }
    for m in found {
        let existing = open
            .iter()
            .find(|o| key(&o.kind, &o.contract, &o.subject) == m.key());
        match existing {
            Some(o) => {
                sqlx::query(
                    "UPDATE reconciliation_mismatches SET last_seen_at = $2, bot_ids = $3, \
                     ours = $4, theirs = $5, ours_net = $6, theirs_net = $7, message = $8 \
                     WHERE id = $1",
                )
                .bind(o.id)
                .bind(run.finished_at)
                .bind(&m.bots)
                .bind(&m.ours)
                .bind(&m.theirs)
                .bind(m.ours_net)
                .bind(m.theirs_net)
                .bind(m.message())
                .execute(&mut *tx)
                .await?;
            }
            None => {
                let row: MismatchRow = sqlx::query_as(
                    "INSERT INTO reconciliation_mismatches (id, broker, account, kind, contract, \
                     subject, bot_ids, order_id, broker_order_id, ours, theirs, ours_net, \
                     theirs_net, message, trace_id, detected_at, last_seen_at) VALUES \
                     ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $16) \
                     RETURNING *",
                )
                .bind(Uuid::now_v7())
                .bind(run.broker)
                .bind(run.account)
                .bind(m.kind.as_str())
                .bind(&m.contract)
                .bind(&m.subject)
                .bind(&m.bots)
                .bind(m.order_id)
                .bind(&m.broker_order_id)
                .bind(&m.ours)
                .bind(&m.theirs)
                .bind(m.ours_net)
                .bind(m.theirs_net)
                .bind(m.message())
                .bind(run.trace.as_str())
                .bind(run.finished_at)
                .fetch_one(&mut *tx)
                .await?;
                out.opened.push(row);
            }
        }
    }
    upsert_run(&mut tx, run, true, None, out.open).await?;
    tx.commit().await?;
    Ok(out)
}

/// Records a run that could not read the broker: the open set stands.
pub async fn failed(pool: &PgPool, run: &Run<'_>, error: &str) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    let open: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM reconciliation_mismatches WHERE broker = $1 AND account = $2 \
         AND resolved_at IS NULL",
    )
    .bind(run.broker)
    .bind(run.account)
    .fetch_one(&mut *tx)
    .await?;
    upsert_run(
        &mut tx,
        run,
        false,
        Some(error),
        usize::try_from(open).unwrap_or(0),
    )
    .await?;
    tx.commit().await
}

async fn upsert_run(
    tx: &mut sqlx::PgConnection,
    run: &Run<'_>,
    ok: bool,
    error: Option<&str>,
    open: usize,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO reconciliation_runs (broker, account, trigger, node, started_at, \
         finished_at, ok, error, open_mismatches) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
         ON CONFLICT (broker, account) DO UPDATE SET trigger = EXCLUDED.trigger, \
         node = EXCLUDED.node, started_at = EXCLUDED.started_at, \
         finished_at = EXCLUDED.finished_at, ok = EXCLUDED.ok, error = EXCLUDED.error, \
         open_mismatches = EXCLUDED.open_mismatches",
    )
    .bind(run.broker)
    .bind(run.account)
    .bind(run.trigger)
    .bind(run.node)
    .bind(run.started_at)
    .bind(run.finished_at)
    .bind(ok)
    .bind(error)
    .bind(i32::try_from(open).unwrap_or(i32::MAX))
    .execute(tx)
    .await?;
    Ok(())
}

/// Every open mismatch, oldest first.
pub async fn open(pool: &PgPool) -> Result<Vec<MismatchRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT * FROM reconciliation_mismatches WHERE resolved_at IS NULL \
         ORDER BY detected_at, id",
    )
    .fetch_all(pool)
    .await
}

/// The open mismatches naming `bot_id`.
pub async fn open_for_bot(pool: &PgPool, bot_id: Uuid) -> Result<Vec<MismatchRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT * FROM reconciliation_mismatches WHERE resolved_at IS NULL \
         AND bot_ids @> ARRAY[$1]::uuid[] ORDER BY detected_at, id",
    )
    .bind(bot_id)
    .fetch_all(pool)
    .await
}

/// Whether no open mismatch names `bot_id` (the LIVE gate's read).
pub async fn bot_clean(pool: &PgPool, bot_id: Uuid) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT NOT EXISTS (SELECT 1 FROM reconciliation_mismatches WHERE resolved_at IS NULL \
         AND bot_ids @> ARRAY[$1]::uuid[])",
    )
    .bind(bot_id)
    .fetch_one(pool)
    .await
}

/// The last run of every account.
pub async fn runs(pool: &PgPool) -> Result<Vec<RunRow>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM reconciliation_runs ORDER BY broker, account")
        .fetch_all(pool)
        .await
}

/// A bot whose LIVE position or orders reconciliation compares: at stage LIVE, or holding a
/// LIVE position (a bot demoted or killed with one).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LiveBot {
    pub id: Uuid,
    pub symbol: crate::domain::instruments::Symbol,
    pub timeframe: crate::domain::timeframe::Timeframe,
    /// Its ledger net when the position row is a LIVE one.
    pub quantity: Option<i32>,
    pub position_stage: Option<crate::domain::risk::Stage>,
    /// Where its newest LIVE order went (none yet: the session LIVE orders go to now).
    pub broker: Option<String>,
    pub broker_account: Option<String>,
    /// The decision bar of that order (its contract), else when it was written.
    pub last_order_at: Option<DateTime<Utc>>,
}

pub async fn live_bots(pool: &PgPool) -> Result<Vec<LiveBot>, sqlx::Error> {
    sqlx::query_as(
        "SELECT b.id, b.symbol, b.timeframe, p.quantity, p.stage AS position_stage, o.broker, \
         o.broker_account, COALESCE(o.decision_bar_at, o.created_at) AS last_order_at \
         FROM bots b \
         LEFT JOIN positions p ON p.bot_id = b.id AND p.symbol = b.symbol \
         LEFT JOIN LATERAL (SELECT broker, broker_account, decision_bar_at, created_at \
             FROM orders WHERE bot_id = b.id AND stage = 'LIVE' AND broker IS NOT NULL \
             ORDER BY created_at DESC LIMIT 1) o ON true \
         WHERE b.stage = 'LIVE' OR p.stage = 'LIVE' ORDER BY b.id",
    )
    .fetch_all(pool)
    .await
}

/// Our LIVE order not finished at `broker`/`account`, with what of it the ledger booked.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OpenLiveOrder {
    #[sqlx(flatten)]
    pub order: super::orders::Order,
    pub timeframe: crate::domain::timeframe::Timeframe,
    pub booked: i64,
}

/// Our LIVE orders at `broker`/`account` matching `filter` (on `o`, the order, and `b`, its
/// bot; binds from `$3`), oldest first, with what of each the ledger booked.
fn live_orders_where(filter: &str) -> String {
    format!(
        "SELECT o.*, b.timeframe, \
         COALESCE((SELECT sum(f.quantity) FROM fills f WHERE f.order_id = o.id), 0)::bigint \
         AS booked \
         FROM orders o JOIN bots b ON b.id = o.bot_id \
         WHERE o.stage = 'LIVE' AND o.broker = $1 AND o.broker_account = $2 AND {filter} \
         ORDER BY o.created_at, o.id"
    )
}

const OPEN: &str = "o.status IN ('SENDING', 'WORKING', 'PARTIALLY_FILLED')";

pub async fn open_live_orders(
    pool: &PgPool,
    broker: &str,
    account: &str,
) -> Result<Vec<OpenLiveOrder>, sqlx::Error> {
    sqlx::query_as(&live_orders_where(OPEN))
        .bind(broker)
        .bind(account)
        .fetch_all(pool)
        .await
}

/// [`open_live_orders`] of KILLED bots: no runner is left to resolve them
/// (`runtime::reconciliation::unattended`).
pub async fn open_live_orders_of_killed(
    pool: &PgPool,
    broker: &str,
    account: &str,
) -> Result<Vec<OpenLiveOrder>, sqlx::Error> {
    sqlx::query_as(&live_orders_where(&format!(
        "{OPEN} AND b.status = 'KILLED'"
    )))
    .bind(broker)
    .bind(account)
    .fetch_all(pool)
    .await
}

/// LIVE orders at `broker`/`account` closed `CANCELLED` since `since` whose bot has no runner
/// (its status is not live), with the quantity booked: a fill the broker made while the
/// cancel crossed it is booked by reconciliation (`runtime::reconciliation::unattended`).
pub async fn cancelled_without_runner(
    pool: &PgPool,
    broker: &str,
    account: &str,
    since: DateTime<Utc>,
) -> Result<Vec<OpenLiveOrder>, sqlx::Error> {
    let live: Vec<&str> = crate::domain::bot::BotStatus::ALL
        .iter()
        .filter(|s| s.is_live())
        .map(|s| s.as_str())
        .collect();
    let filter = "o.status = 'CANCELLED' AND o.broker_order_id IS NOT NULL \
                  AND o.updated_at >= $3 AND b.status <> ALL($4)";
    sqlx::query_as(&live_orders_where(filter))
        .bind(broker)
        .bind(account)
        .bind(since)
        .bind(&live)
        .fetch_all(pool)
        .await
}
