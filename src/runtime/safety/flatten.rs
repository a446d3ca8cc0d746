//! Flatten without a runner: the market order is filled with the PAPER fill model against the
//! newest stored bar of the contract the position is on (its last fill's order's; after a roll
//! not the front one) at the bot's timeframe (`market_bars`, bar start at or before
//! now): the bar's CLOSE (the best proxy for the next open the runner would have filled at)
//! moved `slippage_ticks` against the order, commission per contract, filled at the runtime
//! clock's now. It is booked through the ledger (order, fill, trade, position) under one
//! idempotency key derived from the bot and the fills it closes, so a retried kill never
//! doubles it. No stored bar → not flattened (`NOT_DONE`), never a made-up price. A LIVE
//! position is never simulated: it is closed at the broker (`live_flatten`: the account's
//! contract, every bot holding it; the API demands a 2FA step-up), `BROKER_PENDING` when no
//! broker session is logged in for the bot's account (nothing sent).

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use uuid::Uuid;

use super::Flatten;
use crate::domain::{
    contracts::Contract,
    execution::{OrderStatus, paper_fill_price},
    risk::Stage,
    side::Side,
};
use crate::runtime::RuntimeHandle;
use crate::runtime::ledger_booking::{Held, book_filled, held};
use crate::runtime::live_flatten::{self, FlattenError};
use crate::store::{bot_leases::Fence, bots::Bot, fills, market_bars, orders::NewOrder};

/// One key per (bot, ledger state): a retry against the same fills finds the same order.
pub fn flatten_key(bot_id: Uuid, fills: usize, quantity: i64) -> String {
    let mut h = Sha256::new();
    h.update(b"flatten");
    h.update(bot_id.as_bytes());
    h.update((fills as u64).to_be_bytes());
    h.update(quantity.to_be_bytes());
    format!("tpflat-{}", &hex::encode(h.finalize())[..32])
}

pub(super) async fn flatten(
    rt: &RuntimeHandle,
    pool: &PgPool,
    bot: &Bot,
    fence: &Fence,
    ledger: &Held,
    now: DateTime<Utc>,
) -> Result<(Flatten, i64), sqlx::Error> {
    let before = &ledger.position;
    if before.quantity == 0 {
        return Ok((Flatten::Flat, 0));
    }
    let side = if before.quantity > 0 {
        Side::Sell
    } else {
        Side::Buy
    };
    let quantity = u32::try_from(before.quantity.unsigned_abs()).unwrap_or(u32::MAX);
    if bot.stage == Stage::Live {
        return live(rt, pool, bot, fence, (side, quantity), now).await;
    }
    // Priced on the contract held (after a roll the front one trades elsewhere).
    let contract = ledger
        .contract
        .unwrap_or_else(|| Contract::front_at(bot.symbol, now));
    let latest = market_bars::latest_at(pool, contract, bot.timeframe, now).await?;
    let Some(latest) = latest else {
        let message = format!(
            "no stored {} {} bar at or before {now} to price the closing order",
            contract.code(),
            bot.timeframe.as_str()
        );
        return Ok((Flatten::NotDone { message }, before.quantity));
    };
    let sim = rt.sim_params();
    let spec = bot.symbol.spec();
    let price = paper_fill_price(side, latest.bar.close, &spec, &sim);
    let commission = sim.commission_per_contract * Decimal::from(quantity);
    let key = flatten_key(bot.id, ledger.fills, before.quantity);
    let order = NewOrder {
        decision_bar_at: Some(latest.bar.ts_open),
        reference_price: Some(latest.bar.close),
        ..NewOrder::market(
            bot.id,
            bot.symbol,
            key,
            side,
            quantity,
            bot.stage,
            OrderStatus::Working,
        )
    };
    let (order, booked) =
        book_filled(pool, fence, order, before, (price, commission), true, now).await?;
    let filled = |fill_id| Flatten::Filled {
        order_id: order.id,
        fill_id,
        side,
        quantity,
        price,
        bar_at: latest.bar.ts_open,
        bar_close: latest.bar.close,
        provider_id: latest.provider_id.clone(),
    };
    Ok(match booked {
        // Filled by an earlier try of this close: the bot is flat.
        None => (filled(None), 0),
        Some((fills::Booked::Filled { fill_id, .. }, after)) => {
            (filled(Some(fill_id)), after.quantity)
        }
        // Cancelled meanwhile (another removal): nothing booked, the position stands.
        Some((fills::Booked::NotWorking, _)) => {
            (filled(None), held(pool, bot).await?.position.quantity)
        }
    })
}

/// A LIVE flatten: closed at the broker (`live_flatten`), or `BROKER_PENDING` without a
/// logged-in session for the bot's account (nothing sent).
async fn live(
    rt: &RuntimeHandle,
    pool: &PgPool,
    bot: &Bot,
    fence: &Fence,
    (side, quantity): (Side, u32),
    now: DateTime<Utc>,
) -> Result<(Flatten, i64), sqlx::Error> {
    let Some(route) = live_flatten::route_of(rt, pool, bot, now).await? else {
        let left = held(pool, bot).await?.position.quantity;
        return Ok((Flatten::BrokerPending { side, quantity }, left));
    };
    let done = live_flatten::flatten(rt, pool, bot, fence, &route).await;
    let left = held(pool, bot).await?.position.quantity;
    match done {
        Ok(done) => Ok((Flatten::ClosedAtBroker(Box::new(done)), left)),
        Err(FlattenError::Db(e)) => Err(e),
        Err(e) => Ok((
            Flatten::NotDone {
                message: e.to_string(),
            },
            left,
        )),
    }
}
