//! `fills`, and booking one: the order, the fill, the trade, the position and the decision
//! trace's link to its trade change together in one transaction or not at all. The order must
//! still be working when the fill lands, and `fills` accepts one fill per order, so a fill can
//! never be booked twice (a restart, a second runner, the kill switch cancelling first). A
//! broker fill of a LIVE order is booked once per broker fill id (partial fills).

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use sqlx::PgPool;
use utoipa::ToSchema;
use uuid::Uuid;

mod tail;

pub(super) use tail::Tail;

use super::{bot_leases::Fence, orders::Order};
use crate::domain::{instruments::Symbol, positions::Position, side::Side};

#[derive(Debug, Clone, Serialize, sqlx::FromRow, ToSchema)]
pub struct Fill {
    pub id: Uuid,
    pub order_id: Uuid,
    pub bot_id: Uuid,
    pub quantity: i32,
    #[schema(value_type = String)]
    pub price: Decimal,
    #[schema(value_type = String)]
    pub commission: Decimal,
    pub simulated: bool,
    pub filled_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}

/// A fill as the position replay needs it: its order's side.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SidedFill {
    pub side: Side,
    pub quantity: i32,
    pub price: Decimal,
    pub commission: Decimal,
    pub filled_at: DateTime<Utc>,
    /// Its order's decision bar, else when the order was placed (which contract it traded).
    pub decided_at: DateTime<Utc>,
}

/// Every fill of a bot on a symbol, in booking order (to rebuild its position). Planned for
/// its parameters at each call, not from a plan cached on the connection: in a 10,000-bot
/// run that traded from an empty database, the cached statement read ≈ 2,250 pages (8 ms)
/// per runner start, both tables whole, where a plan for the bot's id reads its own rows
/// (0.2 ms).
pub async fn for_bot(
    pool: &PgPool,
    bot_id: Uuid,
    symbol: Symbol,
) -> Result<Vec<SidedFill>, sqlx::Error> {
    sqlx::query_as(
        "SELECT o.side, f.quantity, f.price, f.commission, f.filled_at, \
         COALESCE(o.decision_bar_at, o.created_at) AS decided_at FROM fills f \
         JOIN orders o ON o.id = f.order_id WHERE f.bot_id = $1 AND o.symbol = $2 \
         ORDER BY f.filled_at, f.created_at, f.id",
    )
    .persistent(false)
    .bind(bot_id)
    .bind(symbol)
    .fetch_all(pool)
    .await
}

/// A fill of one of several bots ([`for_bots`]).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct BotFill {
    pub bot_id: Uuid,
    #[sqlx(flatten)]
    pub fill: SidedFill,
}

/// [`for_bot`] for many bots in one query, each on its own symbol (its row's): every fill, in
/// booking order per bot.
pub async fn for_bots(pool: &PgPool, bots: &[Uuid]) -> Result<Vec<BotFill>, sqlx::Error> {
    sqlx::query_as(
        "SELECT f.bot_id, o.side, f.quantity, f.price, f.commission, f.filled_at, \
         COALESCE(o.decision_bar_at, o.created_at) AS decided_at FROM fills f \
         JOIN orders o ON o.id = f.order_id JOIN bots b ON b.id = f.bot_id \
         WHERE f.bot_id = ANY($1) AND o.symbol = b.symbol \
         ORDER BY f.bot_id, f.filled_at, f.created_at, f.id",
    )
    .bind(bots)
    .fetch_all(pool)
    .await
}

/// One fill to book. `before`/`after` are the position around it (the caller applied it with
/// [`Position::apply_fill`], which returned `realized`).
pub struct FillBooking<'a> {
    /// The booking node's lease on the order's bot (checked in the booking's transaction).
    pub fence: &'a Fence,
    pub order: &'a Order,
    pub side: Side,
    pub quantity: u32,
    pub price: Decimal,
    pub commission: Decimal,
    pub filled_at: DateTime<Utc>,
    pub simulated: bool,
    pub before: &'a Position,
    pub after: &'a Position,
    pub realized: Decimal,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Booked {
    /// Booked; the trade the fill opened, grew or closed.
    Filled { fill_id: Uuid, trade_id: Uuid },
    /// The order was no longer working (cancelled or already filled): nothing booked.
    NotWorking,
}

/// Books a fill, its trade and the position in one transaction fenced by `b.fence`.
///
/// Two statements inside the transaction, not seven: [`CLAIM_SQL`] fences, claims the order
/// (still working), inserts the fill and locks the bot's open trade; then one statement writes
/// the trade (opened, grown, reduced or closed), the position and the decision trace's link
/// ([`Tail`]; a flip opens its new trade in a third). Each round trip on the path of a PAPER
/// fill is a wait of the bot's evaluation.
pub async fn book(pool: &PgPool, b: FillBooking<'_>) -> Result<Booked, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let fill_id = Uuid::now_v7();
    let (bot, node, epoch, idle) = super::bot_leases::fence_params(b.order.bot_id, b.fence);
    let (filled, trade_id, trade_qty, exit_price): (
        bool,
        Option<Uuid>,
        Option<i32>,
        Option<Decimal>,
    ) = sqlx::query_as(&CLAIM_SQL)
        .bind(bot)
        .bind(node)
        .bind(epoch)
        .bind(idle)
        .bind(b.order.id)
        .bind(b.filled_at)
        .bind(fill_id)
        .bind(b.order.bot_id)
        .bind(i32::try_from(b.quantity).unwrap_or(i32::MAX))
        .bind(b.price)
        .bind(b.commission)
        .bind(b.simulated)
        .bind(b.order.symbol)
        .fetch_one(&mut *tx)
        .await?;
    if !filled {
        return Ok(Booked::NotWorking);
    }
    let open = trade_id.map(|id| (id, trade_qty.unwrap_or(0), exit_price));
    let mut tail = Tail::default();
    let trade_id = tail.add(&b, open);
    tail.execute(&mut tx).await?;
    tx.commit().await?;
    Ok(Booked::Filled { fill_id, trade_id })
}

/// [`book`]'s first statement: the fence (the lease row share-locked until the transaction
/// ends; a stale one raises `STALE_LEASE` whatever the order's state), the order claimed while
/// still working, its one fill, and the bot's open trade on the symbol, locked (`filled`
/// false: the order was no longer working, nothing written).
static CLAIM_SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "WITH fence AS MATERIALIZED ({fence}), \
         claimed AS (UPDATE orders SET status = 'FILLED', updated_at = $6 \
             WHERE id = $5 AND status IN ('NEW', 'WORKING', 'PARTIALLY_FILLED') \
             AND EXISTS (SELECT 1 FROM fence) RETURNING id), \
         f AS (INSERT INTO fills (id, order_id, bot_id, quantity, price, commission, simulated, \
               filled_at, created_at) \
             SELECT $7, id, $8, $9, $10, $11, $12, $6, now() FROM claimed RETURNING id) \
         SELECT EXISTS (SELECT 1 FROM f) AS filled, t.id, t.quantity, t.exit_price \
         FROM fence LEFT JOIN LATERAL (SELECT id, quantity, exit_price FROM trades \
             WHERE bot_id = $8 AND symbol = $13 AND closed_at IS NULL LIMIT 1 FOR UPDATE) t ON true",
        fence = super::bot_leases::FENCE_SQL,
    )
});

/// One broker fill of a LIVE order to book (`before`/`after`/`realized` as in
/// [`FillBooking`]).
pub struct BrokerFillBooking<'a> {
    pub fence: &'a Fence,
    pub order: &'a Order,
    /// The broker's id of this execution: booked once per order.
    pub broker_fill_id: &'a str,
    pub quantity: u32,
    pub price: Decimal,
    pub commission: Decimal,
    pub filled_at: DateTime<Utc>,
    pub before: &'a Position,
    pub after: &'a Position,
    pub realized: Decimal,
}

/// What [`book_broker_fill`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BrokerBooked {
    /// Booked; the order is now `filled` of its quantity.
    Filled {
        fill_id: Uuid,
        trade_id: Uuid,
        filled: i64,
    },
    /// This broker fill was booked before: nothing written.
    AlreadyBooked,
}

/// Books a broker's fill of a LIVE order (partial fills: one row per broker fill id), its
/// trade and the position in one transaction fenced by `b.fence`. A fill is a fact at the
/// broker: it is booked whatever the order's local status (a cancel that crossed a fill), and
/// the order becomes PARTIALLY_FILLED or FILLED by the quantity booked.
pub async fn book_broker_fill(
    pool: &PgPool,
    b: BrokerFillBooking<'_>,
) -> Result<BrokerBooked, sqlx::Error> {
    let mut tx = pool.begin().await?;
    super::bot_leases::check(&mut tx, b.order.bot_id, b.fence).await?;
    // Serialises bookings of one order.
    sqlx::query("SELECT id FROM orders WHERE id = $1 FOR UPDATE")
        .bind(b.order.id)
        .execute(&mut *tx)
        .await?;
    let fill_id = Uuid::now_v7();
    let quantity = i32::try_from(b.quantity).unwrap_or(i32::MAX);
    let inserted = sqlx::query(
        "INSERT INTO fills (id, order_id, bot_id, quantity, price, commission, simulated, filled_at, \
         created_at, broker_fill_id) VALUES ($1, $2, $3, $4, $5, $6, false, $7, now(), $8) \
         ON CONFLICT (order_id, broker_fill_id) WHERE broker_fill_id IS NOT NULL DO NOTHING",
    )
    .bind(fill_id)
    .bind(b.order.id)
    .bind(b.order.bot_id)
    .bind(quantity)
    .bind(b.price)
    .bind(b.commission)
    .bind(b.filled_at)
    .bind(b.broker_fill_id)
    .execute(&mut *tx)
    .await?;
    if inserted.rows_affected() != 1 {
        return Ok(BrokerBooked::AlreadyBooked);
    }
    let filled: i64 = sqlx::query_scalar(
        "SELECT COALESCE(sum(quantity), 0)::bigint FROM fills WHERE order_id = $1",
    )
    .bind(b.order.id)
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query(
        "UPDATE orders SET status = CASE WHEN $2 >= quantity THEN 'FILLED' ELSE 'PARTIALLY_FILLED' END, \
         updated_at = $3 WHERE id = $1",
    )
    .bind(b.order.id)
    .bind(filled)
    .bind(b.filled_at)
    .execute(&mut *tx)
    .await?;
    let booking = FillBooking {
        fence: b.fence,
        order: b.order,
        side: b.order.side,
        quantity: b.quantity,
        price: b.price,
        commission: b.commission,
        filled_at: b.filled_at,
        simulated: false,
        before: b.before,
        after: b.after,
        realized: b.realized,
    };
    let open: Option<(Uuid, i32, Option<Decimal>)> = sqlx::query_as(
        "SELECT id, quantity, exit_price FROM trades \
         WHERE bot_id = $1 AND symbol = $2 AND closed_at IS NULL FOR UPDATE",
    )
    .bind(b.order.bot_id)
    .bind(b.order.symbol)
    .fetch_optional(&mut *tx)
    .await?;
    let mut tail = Tail::default();
    let trade_id = tail.add(&booking, open);
    tail.execute(&mut tx).await?;
    tx.commit().await?;
    Ok(BrokerBooked::Filled {
        fill_id,
        trade_id,
        filled,
    })
}
