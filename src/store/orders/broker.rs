//! LIVE orders' broker side: written ahead as `SENDING`, acknowledged, refused, closed or
//! cancelled at their broker, adopted from it by reconciliation, and the reads a LIVE runner
//! and reconciliation resolve them with.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use super::{BrokerRoute, NewOrder, Order, finish, insert_once};
use crate::domain::execution::OrderStatus;
use crate::store::bot_leases::{self, Fence};

/// Writes a LIVE order ahead as `SENDING` to `route` (no decision trace: a safety action's
/// closing order), once per idempotency key, fenced. Returns the row and whether it is new (a
/// retry finds the first one, whatever its status: it is never sent twice).
pub async fn write_ahead(
    pool: &PgPool,
    fence: &Fence,
    mut order: NewOrder,
    route: BrokerRoute<'_>,
    now: DateTime<Utc>,
) -> Result<(Order, bool), sqlx::Error> {
    order.status = OrderStatus::Sending;
    insert_routed(pool, fence, order, route, (Some(now), None), now).await
}

/// Records a working order the broker has and we did not as the fenced bot's (a
/// reconciliation adopt): `WORKING` at `route` under the broker's id, keyed by that id so a
/// second adopt finds it. Returns the row and whether it is new.
pub async fn adopt_working(
    pool: &PgPool,
    fence: &Fence,
    mut order: NewOrder,
    route: BrokerRoute<'_>,
    broker_order_id: &str,
    now: DateTime<Utc>,
) -> Result<(Order, bool), sqlx::Error> {
    order.status = OrderStatus::Working;
    order.idempotency_key = format!(
        "tpadoptorder-{}-{}-{broker_order_id}",
        route.broker, route.account
    );
    insert_routed(
        pool,
        fence,
        order,
        route,
        (None, Some(broker_order_id)),
        now,
    )
    .await
}

/// [`write_ahead`]'s and [`adopt_working`]'s one transaction: fenced, the order once per
/// idempotency key, and a new row routed to its broker account with its send time or the
/// broker's id. An existing row is returned as it is.
async fn insert_routed(
    pool: &PgPool,
    fence: &Fence,
    order: NewOrder,
    route: BrokerRoute<'_>,
    (sent_at, broker_order_id): (Option<DateTime<Utc>>, Option<&str>),
    now: DateTime<Utc>,
) -> Result<(Order, bool), sqlx::Error> {
    let mut tx = pool.begin().await?;
    bot_leases::check(&mut tx, order.bot_id, fence).await?;
    let (row, new) = insert_once(&mut tx, order, now).await?;
    if !new {
        return Ok((row, false));
    }
    let row = sqlx::query_as(
        "UPDATE orders SET broker = $2, broker_account = $3, sent_at = $4, broker_order_id = $5 \
         WHERE id = $1 RETURNING *",
    )
    .bind(row.id)
    .bind(route.broker)
    .bind(route.account)
    .bind(sent_at)
    .bind(broker_order_id)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok((row, true))
}

/// The broker acknowledged a `SENDING` order: it is WORKING under the broker's id. None when
/// it was no longer `SENDING`.
pub async fn acknowledge(
    pool: &PgPool,
    fence: &Fence,
    id: Uuid,
    broker_order_id: &str,
    now: DateTime<Utc>,
) -> Result<Option<Order>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    bot_leases::check(&mut tx, fence.bot_id, fence).await?;
    let row = sqlx::query_as(
        "UPDATE orders SET status = 'WORKING', broker_order_id = $2, updated_at = $3 \
         WHERE id = $1 AND bot_id = $4 AND status = 'SENDING' RETURNING *",
    )
    .bind(id)
    .bind(broker_order_id)
    .bind(now)
    .bind(fence.bot_id)
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(row)
}

/// A LIVE order the broker refused, or that never reached it: REJECTED with `reason`.
pub async fn reject_sending(
    pool: &PgPool,
    fence: &Fence,
    id: Uuid,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    finish(
        pool,
        fence,
        id,
        OrderStatus::Rejected,
        reason,
        now,
        &[OrderStatus::Sending],
    )
    .await
}

/// A LIVE order its broker reports finished without (further) fills: cancelled, expired or
/// rejected there.
pub async fn close_at_broker(
    pool: &PgPool,
    fence: &Fence,
    id: Uuid,
    status: OrderStatus,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let from = [OrderStatus::Working, OrderStatus::PartiallyFilled];
    finish(pool, fence, id, status, reason, now, &from).await
}

/// The bot's LIVE orders written ahead whose broker answer was not had yet, oldest first.
pub async fn sending(pool: &PgPool, bot_id: Uuid) -> Result<Vec<Order>, sqlx::Error> {
    sqlx::query_as(
        "SELECT * FROM orders WHERE bot_id = $1 AND status = 'SENDING' ORDER BY created_at, id",
    )
    .bind(bot_id)
    .fetch_all(pool)
    .await
}

/// The bot's LIVE orders not finished yet (SENDING, or working at their broker), oldest first:
/// what a LIVE runner resolves and polls on every evaluation.
pub async fn open_live(pool: &PgPool, bot_id: Uuid) -> Result<Vec<Order>, sqlx::Error> {
    sqlx::query_as(
        "SELECT * FROM orders WHERE bot_id = $1 AND stage = 'LIVE' \
         AND status IN ('SENDING', 'WORKING', 'PARTIALLY_FILLED') ORDER BY created_at, id",
    )
    .bind(bot_id)
    .fetch_all(pool)
    .await
}

/// The bot's LIVE orders closed `CANCELLED` since `since` that were at a broker (placed in
/// the week before: the bot's index bounds the scan), each with the quantity booked: a fill
/// that crossed the cancel may still come from the broker (`BotEvaluator::sync_live`).
pub async fn cancelled_live_since(
    pool: &PgPool,
    bot_id: Uuid,
    since: DateTime<Utc>,
) -> Result<Vec<(Order, i64)>, sqlx::Error> {
    let rows: Vec<CancelledRow> = sqlx::query_as(
        "SELECT o.*, COALESCE((SELECT sum(f.quantity) FROM fills f WHERE f.order_id = o.id), 0) \
         ::bigint AS booked FROM orders o WHERE o.bot_id = $1 AND o.stage = 'LIVE' \
         AND o.status = 'CANCELLED' AND o.broker_order_id IS NOT NULL AND o.updated_at >= $2 \
         AND o.created_at >= $2 - interval '7 days' ORDER BY o.created_at, o.id",
    )
    .bind(bot_id)
    .bind(since)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|r| (r.order, r.booked)).collect())
}

/// After a fill that crossed its cancel was booked: the order, which the booking set
/// PARTIALLY_FILLED or FILLED, is `CANCELLED` again unless `filled` (at the broker) fills it.
pub async fn cancelled_after_crossed_fill(
    pool: &PgPool,
    order: &Order,
    filled: i64,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    if filled < i64::from(order.quantity) {
        let reason = format!(
            "cancelled at the broker after {filled} of {} filled: the fill crossed the cancel",
            order.quantity
        );
        mark_cancelled(pool, &[order.id], &reason, now).await?;
    }
    Ok(())
}

#[derive(sqlx::FromRow)]
struct CancelledRow {
    #[sqlx(flatten)]
    order: Order,
    booked: i64,
}

/// The bot's LIVE orders working at their broker, oldest first.
pub async fn live_working(pool: &PgPool, bot_id: Uuid) -> Result<Vec<Order>, sqlx::Error> {
    sqlx::query_as(
        "SELECT * FROM orders WHERE bot_id = $1 AND stage = 'LIVE' AND broker_order_id IS NOT NULL \
         AND status IN ('WORKING', 'PARTIALLY_FILLED') ORDER BY created_at, id",
    )
    .bind(bot_id)
    .fetch_all(pool)
    .await
}

/// Broker order ids already claimed by our orders on `broker`/`account` (a lost answer is
/// never matched to an order another of ours already is).
pub async fn claimed_broker_ids(
    pool: &PgPool,
    broker: &str,
    account: &str,
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT broker_order_id FROM orders WHERE broker = $1 AND broker_account = $2 \
         AND broker_order_id IS NOT NULL",
    )
    .bind(broker)
    .bind(account)
    .fetch_all(pool)
    .await
}

/// Every LIVE order working at `broker`/`account`, across bots (to cancel them all).
pub async fn live_working_at(
    pool: &PgPool,
    broker: &str,
    account: &str,
) -> Result<Vec<Order>, sqlx::Error> {
    sqlx::query_as(
        "SELECT * FROM orders WHERE broker = $1 AND broker_account = $2 \
         AND broker_order_id IS NOT NULL AND status IN ('WORKING', 'PARTIALLY_FILLED') \
         ORDER BY created_at, id",
    )
    .bind(broker)
    .bind(account)
    .fetch_all(pool)
    .await
}

/// Orders cancelled at their broker: the ledger follows (a fill that crossed the cancel is
/// still booked when polled: `fills::book_broker_fill` books broker facts whatever the
/// status). Returns how many were still working.
pub async fn mark_cancelled(
    pool: &PgPool,
    ids: &[Uuid],
    reason: &str,
    now: DateTime<Utc>,
) -> Result<usize, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE orders SET status = 'CANCELLED', reject_reason = $2, updated_at = $3 \
         WHERE id = ANY($1) AND status IN ('WORKING', 'PARTIALLY_FILLED')",
    )
    .bind(ids)
    .bind(reason)
    .bind(now)
    .execute(pool)
    .await?;
    Ok(usize::try_from(done.rows_affected()).unwrap_or(usize::MAX))
}
