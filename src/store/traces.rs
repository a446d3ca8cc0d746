//! `decision_traces` and `no_trade_traces` (SPEC §6): every evaluation ends in exactly one.
//! Used by the traces API and, later, by the runner.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::PgPool;
use utoipa::ToSchema;
use uuid::Uuid;

use super::bot_leases::Fence;
use super::page::{Cursor, Page, TimeRange, bot_page};
use crate::domain::evaluation::{DecisionType, TraceBlocker};
use crate::trace::TraceId;

#[derive(Debug, Clone, Serialize, sqlx::FromRow, ToSchema)]
pub struct DecisionTrace {
    pub id: Uuid,
    pub bot_id: Uuid,
    pub run_id: Option<Uuid>,
    pub trade_log_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub decision_type: DecisionType,
    pub reason_human: String,
    pub reason_code: String,
    #[schema(value_type = Object)]
    pub signals: Value,
    #[schema(value_type = Object)]
    pub variables_snapshot: Value,
    pub confidence: f64,
    pub expected_value: f64,
    #[schema(value_type = Object)]
    pub risk_snapshot: Value,
    pub trace_id: String,
    /// The node whose runner wrote it (`null`: written through the traces API, or before
    /// nodes were recorded).
    pub node_id: Option<String>,
    /// The epoch of that node's lease on the bot when it was written.
    pub lease_epoch: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct NewDecisionTrace {
    pub bot_id: Uuid,
    pub run_id: Option<Uuid>,
    pub trade_log_id: Option<Uuid>,
    pub decision_type: DecisionType,
    pub reason_human: String,
    pub reason_code: String,
    pub signals: Value,
    pub variables_snapshot: Value,
    pub confidence: f64,
    pub expected_value: f64,
    pub risk_snapshot: Value,
    pub trace_id: TraceId,
}

/// Writes a decision trace; `writer` is the fence of the runner writing it (its node and
/// epoch are recorded; the caller checked the fence in the same transaction), `None` for one
/// posted through the traces API.
pub async fn insert_decision<'e>(
    db: impl sqlx::PgExecutor<'e>,
    t: NewDecisionTrace,
    writer: Option<&Fence>,
    now: DateTime<Utc>,
) -> Result<DecisionTrace, sqlx::Error> {
    sqlx::query_as(
        "INSERT INTO decision_traces (id, bot_id, run_id, trade_log_id, created_at, decision_type, \
         reason_human, reason_code, signals, variables_snapshot, confidence, expected_value, \
         risk_snapshot, trace_id, node_id, lease_epoch) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) RETURNING *",
    )
    .bind(Uuid::now_v7())
    .bind(t.bot_id)
    .bind(t.run_id)
    .bind(t.trade_log_id)
    .bind(now)
    .bind(t.decision_type)
    .bind(t.reason_human)
    .bind(t.reason_code)
    .bind(t.signals)
    .bind(t.variables_snapshot)
    .bind(t.confidence)
    .bind(t.expected_value)
    .bind(t.risk_snapshot)
    .bind(t.trace_id.as_str())
    .bind(writer.map(|f| f.node.to_string()))
    .bind(writer.map(|f| f.epoch))
    .fetch_one(db)
    .await
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, ToSchema)]
pub struct NoTradeTrace {
    pub id: Uuid,
    pub bot_id: Uuid,
    pub run_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    /// Latest time this (folded) suppression was seen.
    pub last_seen_at: DateTime<Utc>,
    /// How many consecutive identical suppressions this row stands for.
    pub count: i32,
    pub suppression_type: String,
    pub suppression_decision: String,
    pub reason_human: String,
    pub reason_code: String,
    /// Every gate that blocked: `[{gate, code, reason_human, suggested_fix}]`.
    #[schema(value_type = Vec<TraceBlocker>)]
    pub blocked_by: Value,
    #[schema(value_type = Object)]
    pub signals: Value,
    #[schema(value_type = Object)]
    pub variables_snapshot: Value,
    pub trace_id: String,
    /// The node whose runner wrote it (and folds into it; `null`: written through the traces
    /// API, or before nodes were recorded).
    pub node_id: Option<String>,
    /// The epoch of that node's lease on the bot at the latest write (insert or fold).
    pub lease_epoch: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct NewNoTradeTrace {
    pub bot_id: Uuid,
    pub run_id: Option<Uuid>,
    pub suppression_type: String,
    pub suppression_decision: String,
    pub reason_human: String,
    pub reason_code: String,
    /// Every gate that blocked.
    pub blocked_by: Vec<TraceBlocker>,
    pub signals: Value,
    pub variables_snapshot: Value,
    pub trace_id: TraceId,
}

/// The gate codes of a stored `blocked_by`: what makes two suppressions identical (the human
/// text may differ, e.g. a data age that grows every tick).
pub fn blocked_codes(blocked_by: &Value) -> Vec<&str> {
    blocked_by
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|b| b.get("code").and_then(Value::as_str))
                .collect()
        })
        .unwrap_or_default()
}

/// Records a suppression. If the bot's latest no-trade row has the same `reason_code` and
/// `blocked_by` codes, and no decision trace came after it, that row's `count` and
/// `last_seen_at` are bumped instead (returns `(row, folded)`). Serialized per bot by a row
/// lock on the bot.
pub async fn record_no_trade(
    pool: &PgPool,
    t: NewNoTradeTrace,
    now: DateTime<Utc>,
) -> Result<(NoTradeTrace, bool), sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT 1 FROM bots WHERE id = $1 FOR UPDATE")
        .bind(t.bot_id)
        .execute(&mut *tx)
        .await?;
    let blocked_by = serde_json::to_value(&t.blocked_by).unwrap_or_default();
    let latest: Option<NoTradeTrace> = sqlx::query_as(
        "SELECT * FROM no_trade_traces WHERE bot_id = $1 ORDER BY created_at DESC, id DESC LIMIT 1",
    )
    .bind(t.bot_id)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(latest) = latest
        && latest.reason_code == t.reason_code
        && blocked_codes(&latest.blocked_by) == blocked_codes(&blocked_by)
    {
        let decided_since: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM decision_traces WHERE bot_id = $1 AND created_at >= $2)",
        )
        .bind(t.bot_id)
        .bind(latest.last_seen_at)
        .fetch_one(&mut *tx)
        .await?;
        if !decided_since {
            let row: NoTradeTrace = sqlx::query_as(
                "UPDATE no_trade_traces SET count = count + 1, last_seen_at = GREATEST(last_seen_at, $2) \
                 WHERE id = $1 RETURNING *",
            )
            .bind(latest.id)
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
            tx.commit().await?;
            return Ok((row, true));
        }
    }
    let row: NoTradeTrace = sqlx::query_as(
        "INSERT INTO no_trade_traces (id, bot_id, run_id, created_at, last_seen_at, count, \
         suppression_type, suppression_decision, reason_human, reason_code, blocked_by, signals, \
         variables_snapshot, trace_id) \
         VALUES ($1, $2, $3, $4, $4, 1, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING *",
    )
    .bind(Uuid::now_v7())
    .bind(t.bot_id)
    .bind(t.run_id)
    .bind(now)
    .bind(t.suppression_type)
    .bind(t.suppression_decision)
    .bind(t.reason_human)
    .bind(t.reason_code)
    .bind(blocked_by)
    .bind(t.signals)
    .bind(t.variables_snapshot)
    .bind(t.trace_id.as_str())
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok((row, false))
}

/// A fold into a row the runner wrote before: how many more evaluations it stands for and
/// when the latest was, under the runner's `fence`.
#[derive(Debug, Clone)]
pub struct Fold {
    pub id: Uuid,
    pub fence: Fence,
    pub count: i32,
    pub at: DateTime<Utc>,
}

/// What a batch wrote, and what the database refused as stale.
#[derive(Debug, Default)]
pub struct BatchWritten {
    pub inserted: usize,
    /// Evaluations folded into existing rows.
    pub folded: i64,
    /// `(bot, epoch)` of every op whose fence was not the bot's lease when the batch ran.
    pub refused: Vec<(Uuid, i64)>,
}

/// One batch from the runners' trace writer: new suppression rows (ids chosen by the runner,
/// each carrying its runner's node and epoch) and folds into rows the same node wrote before.
/// Fenced in the database like every write that acts on a bot: the leases of the batch's bots
/// are share-locked in bot order (as renewals lock them) for the transaction, and an op whose
/// (node, epoch) is not its bot's lease then is refused (answered in `refused`, never
/// written), so a takeover either waits for the batch or the batch sees the new epoch.
/// Inserts go first so a fold may target a row of the same batch.
pub async fn write_no_trade_batch(
    pool: &PgPool,
    inserts: &[NoTradeTrace],
    folds: &[Fold],
) -> Result<BatchWritten, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let current = super::bot_leases::lock_current(
        &mut tx,
        inserts
            .iter()
            .map(|t| t.bot_id)
            .chain(folds.iter().map(|f| f.fence.bot_id)),
    )
    .await?;
    let holds =
        |bot: &Uuid, node: Option<&str>, epoch: Option<i64>| current.holds(*bot, node, epoch);
    let mut out = BatchWritten::default();
    let (inserts, stale): (Vec<&NoTradeTrace>, Vec<&NoTradeTrace>) = inserts
        .iter()
        .partition(|t| holds(&t.bot_id, t.node_id.as_deref(), t.lease_epoch));
    out.refused
        .extend(stale.iter().map(|t| (t.bot_id, t.lease_epoch.unwrap_or(0))));
    let (folds, stale): (Vec<&Fold>, Vec<&Fold>) =
        folds.iter().partition(|f| current.holds_fence(&f.fence));
    out.refused
        .extend(stale.iter().map(|f| (f.fence.bot_id, f.fence.epoch)));
    if !inserts.is_empty() {
        let col = |f: fn(&NoTradeTrace) -> String| inserts.iter().map(|t| f(t)).collect::<Vec<_>>();
        let json = |f: fn(&NoTradeTrace) -> &Value| {
            inserts.iter().map(|t| f(t).clone()).collect::<Vec<_>>()
        };
        sqlx::query(
            "INSERT INTO no_trade_traces (id, bot_id, run_id, created_at, last_seen_at, count, \
             suppression_type, suppression_decision, reason_human, reason_code, blocked_by, signals, \
             variables_snapshot, trace_id, node_id, lease_epoch) \
             SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[], $4::timestamptz[], \
                 $5::timestamptz[], $6::int4[], $7::text[], $8::text[], $9::text[], $10::text[], \
                 $11::jsonb[], $12::jsonb[], $13::jsonb[], $14::text[], $15::text[], $16::int8[]) \
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(inserts.iter().map(|t| t.id).collect::<Vec<_>>())
        .bind(inserts.iter().map(|t| t.bot_id).collect::<Vec<_>>())
        .bind(inserts.iter().map(|t| t.run_id).collect::<Vec<_>>())
        .bind(inserts.iter().map(|t| t.created_at).collect::<Vec<_>>())
        .bind(inserts.iter().map(|t| t.last_seen_at).collect::<Vec<_>>())
        .bind(inserts.iter().map(|t| t.count).collect::<Vec<_>>())
        .bind(col(|t| t.suppression_type.clone()))
        .bind(col(|t| t.suppression_decision.clone()))
        .bind(col(|t| t.reason_human.clone()))
        .bind(col(|t| t.reason_code.clone()))
        .bind(json(|t| &t.blocked_by))
        .bind(json(|t| &t.signals))
        .bind(json(|t| &t.variables_snapshot))
        .bind(col(|t| t.trace_id.clone()))
        .bind(inserts.iter().map(|t| t.node_id.clone()).collect::<Vec<_>>())
        .bind(inserts.iter().map(|t| t.lease_epoch).collect::<Vec<_>>())
        .execute(&mut *tx)
        .await?;
        out.inserted = inserts.len();
    }
    if !folds.is_empty() {
        // Only into the folding node's own rows (a runner never folds into another node's).
        sqlx::query(
            "UPDATE no_trade_traces t SET count = t.count + u.n, \
             last_seen_at = GREATEST(t.last_seen_at, u.at), lease_epoch = u.epoch, \
             written_at = clock_timestamp() \
             FROM UNNEST($1::uuid[], $2::uuid[], $3::text[], $4::int8[], $5::int4[], \
                         $6::timestamptz[]) AS u(id, bot_id, node, epoch, n, at) \
             WHERE t.id = u.id AND t.bot_id = u.bot_id AND t.node_id = u.node",
        )
        .bind(folds.iter().map(|f| f.id).collect::<Vec<_>>())
        .bind(folds.iter().map(|f| f.fence.bot_id).collect::<Vec<_>>())
        .bind(
            folds
                .iter()
                .map(|f| f.fence.node.to_string())
                .collect::<Vec<_>>(),
        )
        .bind(folds.iter().map(|f| f.fence.epoch).collect::<Vec<_>>())
        .bind(folds.iter().map(|f| f.count).collect::<Vec<_>>())
        .bind(folds.iter().map(|f| f.at).collect::<Vec<_>>())
        .execute(&mut *tx)
        .await?;
        out.folded = folds.iter().map(|f| i64::from(f.count)).sum();
    }
    tx.commit().await?;
    Ok(out)
}

/// The bot's latest no-trade row, if `node` wrote it and no decision trace came after it (a
/// runner resumes folding into it after a restart on the same node; a bot taken over by
/// another node starts a row of its own, so every row stands for one node's evaluations).
pub async fn foldable_no_trade(
    pool: &PgPool,
    bot_id: Uuid,
    node: &str,
) -> Result<Option<NoTradeTrace>, sqlx::Error> {
    let latest: Option<NoTradeTrace> = sqlx::query_as(
        "SELECT n.* FROM no_trade_traces n WHERE n.bot_id = $1 AND NOT EXISTS ( \
             SELECT 1 FROM decision_traces d WHERE d.bot_id = n.bot_id AND d.created_at >= n.last_seen_at) \
         ORDER BY n.created_at DESC, n.id DESC LIMIT 1",
    )
    .bind(bot_id)
    .fetch_optional(pool)
    .await?;
    Ok(latest.filter(|n| n.node_id.as_deref() == Some(node)))
}

/// [`foldable_no_trade`] for many bots in one query (each bot's latest row looked up as the
/// single read does): the rows `node` may fold into, at most one per bot.
pub async fn foldable_no_trade_for_bots(
    pool: &PgPool,
    bots: &[Uuid],
    node: &str,
) -> Result<Vec<NoTradeTrace>, sqlx::Error> {
    let latest: Vec<NoTradeTrace> = sqlx::query_as(
        "SELECT x.* FROM UNNEST($1::uuid[]) AS b(id) CROSS JOIN LATERAL ( \
             SELECT n.* FROM no_trade_traces n WHERE n.bot_id = b.id AND NOT EXISTS ( \
                 SELECT 1 FROM decision_traces d \
                 WHERE d.bot_id = n.bot_id AND d.created_at >= n.last_seen_at) \
             ORDER BY n.created_at DESC, n.id DESC LIMIT 1) x",
    )
    .bind(bots)
    .fetch_all(pool)
    .await?;
    Ok(latest
        .into_iter()
        .filter(|n| n.node_id.as_deref() == Some(node))
        .collect())
}

pub async fn decision_page(
    pool: &PgPool,
    bot_id: Uuid,
    range: TimeRange,
    after: Option<Cursor>,
    limit: i64,
) -> Result<Page<DecisionTrace>, sqlx::Error> {
    bot_page(
        pool,
        "decision_traces",
        bot_id,
        range,
        after,
        limit,
        |t: &DecisionTrace| Cursor {
            created_at: t.created_at,
            id: t.id,
        },
    )
    .await
}

pub async fn no_trade_page(
    pool: &PgPool,
    bot_id: Uuid,
    range: TimeRange,
    after: Option<Cursor>,
    limit: i64,
) -> Result<Page<NoTradeTrace>, sqlx::Error> {
    bot_page(
        pool,
        "no_trade_traces",
        bot_id,
        range,
        after,
        limit,
        |t: &NoTradeTrace| Cursor {
            created_at: t.created_at,
            id: t.id,
        },
    )
    .await
}

/// How a deep link names one trace: its row id, or the W3C trace id of the evaluation that
/// wrote it (32 lowercase hex; a 32-hex string is also tried as the simple form of a row id).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TraceRef {
    Row(Uuid),
    TraceId(String),
}

impl TraceRef {
    /// `None` for anything that is neither a hyphenated UUID nor 32 hex digits.
    pub fn parse(raw: &str) -> Option<Self> {
        if raw.len() == 32 && raw.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Some(TraceRef::TraceId(raw.to_ascii_lowercase()));
        }
        if raw.len() == 36 {
            return Uuid::try_parse(raw).ok().map(TraceRef::Row);
        }
        None
    }

    /// `(row id, trace id)` to match: a W3C trace id is also read as a simple-form row id.
    fn keys(&self) -> (Uuid, Option<&str>) {
        match self {
            TraceRef::Row(id) => (*id, None),
            TraceRef::TraceId(hex) => {
                (Uuid::try_parse(hex).unwrap_or_default(), Some(hex.as_str()))
            }
        }
    }
}

/// One trace of `bot_id` named by `r`, or `None` (also for another bot's trace). A row-id match
/// wins; several rows with one trace id (one evaluation never writes two, but a writer may reuse
/// a `traceparent`) answer the newest.
async fn find_one<T>(
    pool: &PgPool,
    table: &'static str,
    bot_id: Uuid,
    r: &TraceRef,
) -> Result<Option<T>, sqlx::Error>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> + Send + Unpin,
{
    let (row, trace_id) = r.keys();
    sqlx::query_as(&format!(
        "SELECT * FROM {table} WHERE bot_id = $1 AND (id = $2 OR trace_id = $3) \
         ORDER BY (id = $2) DESC, created_at DESC, id DESC LIMIT 1"
    ))
    .bind(bot_id)
    .bind(row)
    .bind(trace_id)
    .fetch_optional(pool)
    .await
}

pub async fn find_decision(
    pool: &PgPool,
    bot_id: Uuid,
    r: &TraceRef,
) -> Result<Option<DecisionTrace>, sqlx::Error> {
    find_one(pool, "decision_traces", bot_id, r).await
}

pub async fn find_no_trade(
    pool: &PgPool,
    bot_id: Uuid,
    r: &TraceRef,
) -> Result<Option<NoTradeTrace>, sqlx::Error> {
    find_one(pool, "no_trade_traces", bot_id, r).await
}

/// Adds what the broker answered a LIVE decision's order (`broker` key of its risk snapshot:
/// the catalog code and the vendor's reason of a refusal), so the decision's trace explains
/// why nothing is working.
pub async fn note_broker_answer(
    pool: &PgPool,
    decision_id: Uuid,
    answer: &Value,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE decision_traces SET risk_snapshot = COALESCE(risk_snapshot, '{}'::jsonb) || \
         jsonb_build_object('broker', $2::jsonb) WHERE id = $1",
    )
    .bind(decision_id)
    .bind(answer)
    .execute(pool)
    .await?;
    Ok(())
}
