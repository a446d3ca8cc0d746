//! Ledger bookings for a bot whose runner is not booking (an operator's reconcile action, a
//! flatten, reconciliation's unattended orders): its position as its fills prove it, an
//! adjustment fill, a broker fill, a market order booked filled at once, and the stored close
//! an adjustment is priced at.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::domain::{
    contracts::Contract, execution::OrderStatus, positions::Position, risk::Stage, side::Side,
};
use crate::store::{
    bot_leases::Fence,
    bots::Bot,
    fills, market_bars,
    orders::{self, NewOrder},
};

/// An adjustment booked into the ledger.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Adjustment {
    pub order_id: Uuid,
    pub side: Side,
    pub quantity: u32,
    #[schema(value_type = String)]
    pub price: Decimal,
    /// `broker_average` | `broker_fill` | `last_bar_close`.
    pub priced_from: String,
}

/// One key per (action, bot, ledger state, quantity): a retry against the same ledger finds
/// the same order.
fn adjustment_key(prefix: &str, bot_id: Uuid, fills: usize, quantity: i64) -> String {
    let mut h = Sha256::new();
    h.update(prefix.as_bytes());
    h.update(bot_id.as_bytes());
    h.update((fills as u64).to_be_bytes());
    h.update(quantity.to_be_bytes());
    format!("{prefix}-{}", &hex::encode(h.finalize())[..32])
}

/// The bot's position as its fills prove it, how many fills that is (a retried adjustment or
/// flatten keys on it), and the contract it is on (the last fill's order's: every fill of an
/// open position is on one).
pub(crate) struct Held {
    pub position: Position,
    pub fills: usize,
    pub contract: Option<Contract>,
}

pub(crate) async fn held(pool: &PgPool, bot: &Bot) -> Result<Held, sqlx::Error> {
    let fills = fills::for_bot(pool, bot.id, bot.symbol).await?;
    let mut position = Position::flat(bot.symbol);
    for f in &fills {
        position.apply_fill(
            f.side,
            u32::try_from(f.quantity).unwrap_or(0),
            f.price,
            f.commission,
        );
    }
    Ok(Held {
        position,
        fills: fills.len(),
        contract: fills
            .last()
            .map(|f| Contract::front_at(bot.symbol, f.decided_at)),
    })
}

/// Books one broker fill of `order` for a bot without a runner here, its position before
/// read from its fills (the vendor's commission, else `per_contract`); a fill booked before is
/// left as it is (one row per broker fill id).
pub(crate) async fn book_broker_fill_of(
    pool: &PgPool,
    fence: &Fence,
    bot: &Bot,
    order: &orders::Order,
    f: &crate::integrations::brokers::BrokerFill,
    per_contract: Decimal,
) -> Result<fills::BrokerBooked, sqlx::Error> {
    let commission = f
        .commission
        .unwrap_or(per_contract * Decimal::from(f.quantity));
    let before = held(pool, bot).await?.position;
    let mut after = before.clone();
    let realized = after.apply_fill(order.side, f.quantity, f.price, commission);
    fills::book_broker_fill(
        pool,
        fills::BrokerFillBooking {
            fence,
            order,
            broker_fill_id: &f.fill_id,
            quantity: f.quantity,
            price: f.price,
            commission,
            filled_at: f.filled_at,
            before: &before,
            after: &after,
            realized,
        },
    )
    .await
}

/// Books `delta` contracts (signed) to the bot at `price` as one adjustment fill (no
/// commission: nothing was traded by us).
pub(crate) async fn book_adjustment(
    pool: &PgPool,
    fence: &Fence,
    bot: &Bot,
    delta: i64,
    (price, priced_from): (Decimal, &str),
    prefix: &str,
    now: DateTime<Utc>,
) -> Result<Option<Adjustment>, sqlx::Error> {
    if delta == 0 {
        return Ok(None);
    }
    let Held {
        position: before,
        fills: n,
        ..
    } = held(pool, bot).await?;
    let side = if delta > 0 { Side::Buy } else { Side::Sell };
    let quantity = u32::try_from(delta.unsigned_abs()).unwrap_or(u32::MAX);
    let key = adjustment_key(prefix, bot.id, n, delta);
    let new = NewOrder {
        reference_price: Some(price),
        ..NewOrder::market(
            bot.id,
            bot.symbol,
            key,
            side,
            quantity,
            Stage::Live,
            OrderStatus::Working,
        )
    };
    let (order, _) = book_filled(
        pool,
        fence,
        new,
        &before,
        (price, Decimal::ZERO),
        false,
        now,
    )
    .await?;
    Ok(Some(Adjustment {
        order_id: order.id,
        side,
        quantity,
        price,
        priced_from: priced_from.to_owned(),
    }))
}

/// A market order of the fenced bot booked as filled at once, at `price` with `commission`
/// (a flatten without a runner, simulated; a reconciliation adjustment): the order once per
/// idempotency key, then its one fill onto `before`. `None` for the booking when a retry
/// finds the order filled already; otherwise what `fills::book` did and the position after.
pub(crate) async fn book_filled(
    pool: &PgPool,
    fence: &Fence,
    order: NewOrder,
    before: &Position,
    (price, commission): (Decimal, Decimal),
    simulated: bool,
    now: DateTime<Utc>,
) -> Result<(orders::Order, Option<(fills::Booked, Position)>), sqlx::Error> {
    let (order, _) = orders::insert_fenced(pool, fence, order, now).await?;
    if order.status == OrderStatus::Filled {
        return Ok((order, None));
    }
    let quantity = u32::try_from(order.quantity).unwrap_or(0);
    let mut after = before.clone();
    let realized = after.apply_fill(order.side, quantity, price, commission);
    let booked = fills::book(
        pool,
        fills::FillBooking {
            fence,
            order: &order,
            side: order.side,
            quantity,
            price,
            commission,
            filled_at: now,
            simulated,
            before,
            after: &after,
            realized,
        },
    )
    .await?;
    Ok((order, Some((booked, after))))
}

/// The newest stored close of `contract` at the bot's timeframe (the price of an adjustment
/// the broker gives no average price for).
pub(crate) async fn last_close(
    pool: &PgPool,
    bot: &Bot,
    contract: Contract,
    now: DateTime<Utc>,
) -> Result<Option<(Decimal, &'static str)>, sqlx::Error> {
    Ok(market_bars::latest_at(pool, contract, bot.timeframe, now)
        .await?
        .map(|b| (b.bar.close, "last_bar_close")))
}
