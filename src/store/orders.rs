//! `orders`: every order a bot decided on, keyed by an idempotency key so a restarted runner
//! never books (or sends) the same order twice.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use sqlx::postgres::PgArguments;
use sqlx::query::QueryAs;
use sqlx::{PgConnection, PgPool, Postgres};
use utoipa::ToSchema;
use uuid::Uuid;

mod broker;

pub use broker::{
    acknowledge, adopt_working, cancelled_after_crossed_fill, cancelled_live_since,
    claimed_broker_ids, close_at_broker, live_working, live_working_at, mark_cancelled, open_live,
    reject_sending, sending, write_ahead,
};

use super::bot_leases::{Fence, Guard};

use crate::domain::{
    execution::{OrderStatus, OrderType},
    instruments::Symbol,
    risk::Stage,
    side::Side,
};

#[derive(Debug, Clone, Serialize, sqlx::FromRow, ToSchema)]
pub struct Order {
    pub id: Uuid,
    pub bot_id: Uuid,
    pub run_id: Option<Uuid>,
    pub decision_trace_id: Option<Uuid>,
    pub idempotency_key: String,
    pub symbol: Symbol,
    pub side: Side,
    pub quantity: i32,
    pub order_type: OrderType,
    #[schema(value_type = Option<String>)]
    pub limit_price: Option<Decimal>,
    #[schema(value_type = Option<String>)]
    pub stop_price: Option<Decimal>,
    pub stage: Stage,
    pub status: OrderStatus,
    pub reject_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Start of the bar the order was decided on.
    pub decision_bar_at: Option<DateTime<Utc>>,
    /// Last price when decided.
    #[schema(value_type = Option<String>)]
    pub reference_price: Option<Decimal>,
    /// LIVE: the broker (`tradovate`, `ironbeam`) and account the order was sent to.
    pub broker: Option<String>,
    pub broker_account: Option<String>,
    /// LIVE: the broker's id for the order, once acknowledged.
    pub broker_order_id: Option<String>,
    /// LIVE: when the request was written ahead to be sent.
    pub sent_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone)]
pub struct NewOrder {
    pub bot_id: Uuid,
    pub run_id: Option<Uuid>,
    pub decision_trace_id: Option<Uuid>,
    pub idempotency_key: String,
    pub symbol: Symbol,
    pub side: Side,
    pub quantity: i32,
    pub order_type: OrderType,
    pub limit_price: Option<Decimal>,
    pub stop_price: Option<Decimal>,
    pub stage: Stage,
    pub status: OrderStatus,
    pub decision_bar_at: Option<DateTime<Utc>>,
    pub reference_price: Option<Decimal>,
}

impl NewOrder {
    /// A market order of `quantity` contracts with no run, decision trace, bar or reference
    /// price: callers add theirs (`NewOrder { reference_price: …, ..NewOrder::market(…) }`).
    pub fn market(
        bot_id: Uuid,
        symbol: Symbol,
        idempotency_key: String,
        side: Side,
        quantity: u32,
        stage: Stage,
        status: OrderStatus,
    ) -> NewOrder {
        NewOrder {
            bot_id,
            run_id: None,
            decision_trace_id: None,
            idempotency_key,
            symbol,
            side,
            quantity: i32::try_from(quantity).unwrap_or(i32::MAX),
            order_type: OrderType::Market,
            limit_price: None,
            stop_price: None,
            stage,
            status,
            decision_bar_at: None,
            reference_price: None,
        }
    }
}

/// Binds a new order's columns in the order `orders` lists them, from `id` to
/// `reference_price` (`created_at` also stands for `updated_at`): sixteen parameters.
fn bind_new_order<'q>(
    query: QueryAs<'q, Postgres, Order, PgArguments>,
    o: &'q NewOrder,
    decision_trace_id: Option<Uuid>,
    status: OrderStatus,
    now: DateTime<Utc>,
) -> QueryAs<'q, Postgres, Order, PgArguments> {
    query
        .bind(Uuid::now_v7())
        .bind(o.bot_id)
        .bind(o.run_id)
        .bind(decision_trace_id)
        .bind(&o.idempotency_key)
        .bind(o.symbol)
        .bind(o.side)
        .bind(o.quantity)
        .bind(o.order_type)
        .bind(o.limit_price)
        .bind(o.stop_price)
        .bind(o.stage)
        .bind(status)
        .bind(now)
        .bind(o.decision_bar_at)
        .bind(o.reference_price)
}

/// Books an order once: a second call with the same idempotency key returns the first row
/// and `false` (nothing new was booked).
pub async fn insert_once(
    conn: &mut PgConnection,
    o: NewOrder,
    now: DateTime<Utc>,
) -> Result<(Order, bool), sqlx::Error> {
    let inserted: Option<Order> = bind_new_order(
        sqlx::query_as(
            "INSERT INTO orders (id, bot_id, run_id, decision_trace_id, idempotency_key, symbol, \
             side, quantity, order_type, limit_price, stop_price, stage, status, created_at, \
             updated_at, decision_bar_at, reference_price) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14, $15, $16) \
             ON CONFLICT (idempotency_key) DO NOTHING RETURNING *",
        ),
        &o,
        o.decision_trace_id,
        o.status,
        now,
    )
    .fetch_optional(&mut *conn)
    .await?;
    match inserted {
        Some(order) => Ok((order, true)),
        None => Ok((by_key(conn, &o.idempotency_key).await?, false)),
    }
}

/// The order booked under `key` (the one a repeated booking finds).
async fn by_key(conn: &mut PgConnection, key: &str) -> Result<Order, sqlx::Error> {
    sqlx::query_as("SELECT * FROM orders WHERE idempotency_key = $1")
        .bind(key)
        .fetch_one(conn)
        .await
}

/// [`insert_once`] in a transaction fenced by the node's lease on the order's bot.
pub async fn insert_fenced(
    pool: &PgPool,
    fence: &Fence,
    o: NewOrder,
    now: DateTime<Utc>,
) -> Result<(Order, bool), sqlx::Error> {
    let mut tx = pool.begin().await?;
    super::bot_leases::check(&mut tx, o.bot_id, fence).await?;
    let done = insert_once(&mut tx, o, now).await?;
    tx.commit().await?;
    Ok(done)
}

/// An order [`cancel_working_of`] cancelled.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, ToSchema)]
pub struct CancelledOrder {
    pub id: Uuid,
    pub stage: Stage,
    pub side: Side,
    pub quantity: i32,
    pub idempotency_key: String,
}

/// Cancels the guarded bot's working orders (every stage, or LIVE only; `keep`: orders left
/// open) in one transaction that checks the guard first (a stale fence, or a node owning the
/// bot, is refused: `STALE_LEASE`). Returns what it cancelled, oldest first.
pub async fn cancel_working_of(
    pool: &PgPool,
    guard: Guard<'_>,
    live_only: bool,
    keep: &[Uuid],
    reason: &str,
    now: DateTime<Utc>,
) -> Result<Vec<CancelledOrder>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    super::bot_leases::check_guard(&mut tx, guard).await?;
    let mut done: Vec<CancelledOrder> = sqlx::query_as(
        "UPDATE orders SET status = 'CANCELLED', reject_reason = $2, updated_at = $3 \
         WHERE bot_id = $1 AND status IN ('NEW', 'WORKING', 'PARTIALLY_FILLED') \
           AND (NOT $4 OR stage = 'LIVE') AND NOT (id = ANY($5)) \
         RETURNING id, stage, side, quantity, idempotency_key",
    )
    .bind(guard.bot_id())
    .bind(reason)
    .bind(now)
    .bind(live_only)
    .bind(keep)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    done.sort_by_key(|o| o.id);
    Ok(done)
}

/// Bots holding an open order (every stage, or LIVE only): what a sweep must reach. A LIVE
/// order written ahead (`SENDING`) counts: it may be at its broker already.
pub async fn bots_with_working(pool: &PgPool, live_only: bool) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT DISTINCT bot_id FROM orders \
         WHERE status IN ('SENDING', 'NEW', 'WORKING', 'PARTIALLY_FILLED') \
         AND (NOT $1 OR stage = 'LIVE') ORDER BY bot_id",
    )
    .bind(live_only)
    .fetch_all(pool)
    .await
}

/// The bot's orders still waiting to fill, oldest first.
pub async fn working(pool: &PgPool, bot_id: Uuid) -> Result<Vec<Order>, sqlx::Error> {
    sqlx::query_as(
        "SELECT * FROM orders WHERE bot_id = $1 AND status IN ('NEW', 'WORKING', 'PARTIALLY_FILLED') \
         ORDER BY created_at, id",
    )
    .bind(bot_id)
    .fetch_all(pool)
    .await
}

/// What runners starting for `bots` pick up ([`sending`] and [`working`] for many bots in one
/// query): their SENDING, NEW, WORKING and PARTIALLY_FILLED orders, oldest first per bot.
pub async fn open_for_bots(pool: &PgPool, bots: &[Uuid]) -> Result<Vec<Order>, sqlx::Error> {
    sqlx::query_as(
        "SELECT * FROM orders WHERE bot_id = ANY($1) \
         AND status IN ('SENDING', 'NEW', 'WORKING', 'PARTIALLY_FILLED') \
         ORDER BY bot_id, created_at, id",
    )
    .bind(bots)
    .fetch_all(pool)
    .await
}

/// [`placed_since`] for many bots in one query: (bot, placed at), in order per bot.
pub async fn placed_since_for_bots(
    pool: &PgPool,
    bots: &[Uuid],
    since: DateTime<Utc>,
) -> Result<Vec<(Uuid, DateTime<Utc>)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT bot_id, created_at FROM orders WHERE bot_id = ANY($1) AND created_at >= $2 \
         AND status <> 'REJECTED' ORDER BY bot_id, created_at",
    )
    .bind(bots)
    .bind(since)
    .fetch_all(pool)
    .await
}

/// Orders the bot placed at or after `since` (the order-rate window after a restart).
pub async fn placed_since(
    pool: &PgPool,
    bot_id: Uuid,
    since: DateTime<Utc>,
) -> Result<Vec<DateTime<Utc>>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT created_at FROM orders WHERE bot_id = $1 AND created_at >= $2 \
         AND status <> 'REJECTED' ORDER BY created_at",
    )
    .bind(bot_id)
    .bind(since)
    .fetch_all(pool)
    .await
}

/// Cancels one working order of the fenced bot (no fill possible); false when it was no
/// longer working (or is not that bot's).
pub async fn cancel(
    pool: &PgPool,
    fence: &Fence,
    id: Uuid,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let from = [
        OrderStatus::New,
        OrderStatus::Working,
        OrderStatus::PartiallyFilled,
    ];
    finish(pool, fence, id, OrderStatus::Cancelled, reason, now, &from).await
}

/// Ends one order of the fenced bot in `to` with `reason`, if it is still in one of `from`
/// (false otherwise, or when it is not that bot's): one fenced transaction.
async fn finish(
    pool: &PgPool,
    fence: &Fence,
    id: Uuid,
    to: OrderStatus,
    reason: &str,
    now: DateTime<Utc>,
    from: &[OrderStatus],
) -> Result<bool, sqlx::Error> {
    let from: Vec<&str> = from.iter().map(|s| s.as_str()).collect();
    let mut tx = pool.begin().await?;
    super::bot_leases::check(&mut tx, fence.bot_id, fence).await?;
    let done = sqlx::query(
        "UPDATE orders SET status = $2, reject_reason = $3, updated_at = $4 \
         WHERE id = $1 AND bot_id = $5 AND status = ANY($6)",
    )
    .bind(id)
    .bind(to)
    .bind(reason)
    .bind(now)
    .bind(fence.bot_id)
    .bind(from)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(done.rows_affected() == 1)
}

/// What [`place`] did.
#[derive(Debug)]
pub enum Placed {
    /// The order and the decision trace that explains it, linked.
    New {
        order: Order,
        trace: Box<super::traces::DecisionTrace>,
    },
    /// An order with this idempotency key exists (a restarted runner re-deriving a decision it
    /// already booked): nothing was written.
    Existing(Order),
}

/// Where a LIVE order is sent: the broker's id and the account.
#[derive(Debug, Clone, Copy)]
pub struct BrokerRoute<'a> {
    pub broker: &'a str,
    pub account: &'a str,
}

/// Books a decision and its order together, once per idempotency key, in one transaction
/// fenced by the node's lease on the bot (a stale one is refused: `STALE_LEASE`). With a
/// `route` (LIVE) the order is written ahead as `SENDING` to that broker and account: the row
/// exists before the request leaves, so a crash between send and ack is resolved from the
/// broker's orders.
///
/// The transaction is [`PLACE_SQL`]'s own: one autocommitted statement holds the fence (the
/// lease row share-locked until it commits), the order and its trace, so a decision costs one
/// round trip, not four (no `BEGIN`, no `COMMIT`). A key that exists is read afterwards, on
/// the same connection: nothing was written then.
pub async fn place(
    pool: &PgPool,
    fence: &Fence,
    order: NewOrder,
    trace: super::traces::NewDecisionTrace,
    route: Option<BrokerRoute<'_>>,
    now: DateTime<Utc>,
) -> Result<Placed, sqlx::Error> {
    let mut conn = pool.acquire().await?;
    match write_placed(&mut conn, fence, order, trace, route, None, now).await? {
        Ok(placed) => Ok(placed),
        Err((order, _)) => Ok(Placed::Existing(
            by_key(&mut conn, &order.idempotency_key).await?,
        )),
    }
}

/// [`place`]'s one statement: the fence, the order once per idempotency key, and its trace
/// only when the order is new (the trace's insert reads the order's). The order row refers
/// to the trace inserted beside it; the reference is checked at the end of the statement.
/// With `$35`/`$36` (a broker account) it writes nothing when that account has limits or an
/// open latch: the order must then be checked under the account's lock first.
static PLACE_SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "WITH fence AS MATERIALIZED ({fence} WHERE $35::text IS NULL OR NOT {ruled}), \
         o AS (INSERT INTO orders (id, bot_id, run_id, decision_trace_id, idempotency_key, \
               symbol, side, quantity, order_type, limit_price, stop_price, stage, status, \
               created_at, updated_at, decision_bar_at, reference_price, broker, \
               broker_account, sent_at) \
             SELECT $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $18, $19, \
               $20, $21, $22, CASE WHEN $21::text IS NULL THEN NULL ELSE $18 END FROM fence \
             ON CONFLICT (idempotency_key) DO NOTHING RETURNING *), \
         t AS (INSERT INTO decision_traces (id, bot_id, run_id, trade_log_id, created_at, \
               decision_type, reason_human, reason_code, signals, variables_snapshot, \
               confidence, expected_value, risk_snapshot, trace_id, node_id, lease_epoch) \
             SELECT $8, $23, $34, $24, $18, $25, $26, $27, $28, $29, $30, $31, $32, $33, $2, $3 \
             FROM o) \
         SELECT * FROM o",
        fence = super::bot_leases::FENCE_SQL,
        ruled = super::account_risk::has_rules_sql("$35", "$36"),
    )
});

/// Runs [`PLACE_SQL`]: the order and its trace as stored, or both handed back when nothing
/// was written (the key exists, or `unless_ruled`'s account has limits or an open latch).
pub(super) async fn write_placed(
    conn: &mut PgConnection,
    fence: &Fence,
    order: NewOrder,
    t: super::traces::NewDecisionTrace,
    route: Option<BrokerRoute<'_>>,
    unless_ruled: Option<BrokerRoute<'_>>,
    now: DateTime<Utc>,
) -> Result<Result<Placed, (NewOrder, super::traces::NewDecisionTrace)>, sqlx::Error> {
    use chrono::SubsecRound;
    // As stored: Postgres keeps microseconds (sqlx truncates to them).
    let now = now.trunc_subsecs(6);
    let trace_row = Uuid::now_v7();
    let (bot, node, epoch, idle) = super::bot_leases::fence_params(order.bot_id, fence);
    let status = if route.is_some() {
        OrderStatus::Sending
    } else {
        order.status
    };
    let fenced = sqlx::query_as(&PLACE_SQL)
        .bind(bot)
        .bind(node)
        .bind(epoch)
        .bind(idle);
    let row: Option<Order> = bind_new_order(fenced, &order, Some(trace_row), status, now)
        .bind(route.map(|r| r.broker))
        .bind(route.map(|r| r.account))
        .bind(t.bot_id)
        .bind(t.trade_log_id)
        .bind(t.decision_type)
        .bind(&t.reason_human)
        .bind(&t.reason_code)
        .bind(&t.signals)
        .bind(&t.variables_snapshot)
        .bind(t.confidence)
        .bind(t.expected_value)
        .bind(&t.risk_snapshot)
        .bind(t.trace_id.as_str())
        .bind(t.run_id)
        .bind(unless_ruled.map(|r| r.broker))
        .bind(unless_ruled.map(|r| r.account))
        .fetch_optional(conn)
        .await?;
    let Some(order) = row else {
        return Ok(Err((order, t)));
    };
    let trace = stored_trace(trace_row, t, now, fence);
    Ok(Ok(Placed::New {
        order,
        trace: Box::new(trace),
    }))
}

/// A decision trace as [`place`] wrote it beside its order (not read back: its JSON is what was
/// bound), stamped `now` (truncated to microseconds) and with the writer's `fence`.
pub(super) fn stored_trace(
    id: Uuid,
    t: super::traces::NewDecisionTrace,
    now: DateTime<Utc>,
    fence: &Fence,
) -> super::traces::DecisionTrace {
    super::traces::DecisionTrace {
        id,
        bot_id: t.bot_id,
        run_id: t.run_id,
        trade_log_id: t.trade_log_id,
        created_at: now,
        decision_type: t.decision_type,
        reason_human: t.reason_human,
        reason_code: t.reason_code,
        signals: t.signals,
        variables_snapshot: t.variables_snapshot,
        confidence: t.confidence,
        expected_value: t.expected_value,
        risk_snapshot: t.risk_snapshot,
        trace_id: t.trace_id.as_str().to_owned(),
        node_id: Some(fence.node.to_string()),
        lease_epoch: Some(fence.epoch),
    }
}

/// [`place`] inside the caller's transaction (which commits it): a LIVE order's account check
/// and its write-ahead share one transaction under the account's lock
/// (`runtime::account_risk::place_live`).
pub async fn place_in(
    tx: &mut PgConnection,
    fence: &Fence,
    order: NewOrder,
    trace: super::traces::NewDecisionTrace,
    route: Option<BrokerRoute<'_>>,
    now: DateTime<Utc>,
) -> Result<Placed, sqlx::Error> {
    match write_placed(&mut *tx, fence, order, trace, route, None, now).await? {
        Ok(placed) => Ok(placed),
        Err((order, _)) => Ok(Placed::Existing(by_key(tx, &order.idempotency_key).await?)),
    }
}

/// A LIVE order written ahead in one autocommitted statement, when its account has no limits
/// and no open latch (nothing to check under the account's lock, which serialises only
/// checks): the write-ahead is on the path from a decision to its order on the wire. Gives
/// the order and trace back when nothing was written (the account has rules, or the key
/// exists): the caller takes the checked path, which tells the two apart.
pub async fn place_unruled(
    pool: &PgPool,
    fence: &Fence,
    order: NewOrder,
    trace: super::traces::NewDecisionTrace,
    route: BrokerRoute<'_>,
    now: DateTime<Utc>,
) -> Result<Result<Placed, (NewOrder, super::traces::NewDecisionTrace)>, sqlx::Error> {
    let mut conn = pool.acquire().await?;
    write_placed(
        &mut conn,
        fence,
        order,
        trace,
        Some(route),
        Some(route),
        now,
    )
    .await
}

pub async fn page(
    pool: &PgPool,
    bot_id: Uuid,
    range: super::page::TimeRange,
    after: Option<super::page::Cursor>,
    limit: i64,
) -> Result<super::page::Page<Order>, sqlx::Error> {
    super::page::bot_page(pool, "orders", bot_id, range, after, limit, |o: &Order| {
        super::page::Cursor {
            created_at: o.created_at,
            id: o.id,
        }
    })
    .await
}
