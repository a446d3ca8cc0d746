//! Round trips from fills: a trade opens when the position leaves flat and closes when it
//! returns to flat; a fill that flips the position closes one trade and opens the next, its
//! commission split pro rata between them.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;

use crate::domain::execution::SimFill;
use crate::domain::positions::Position;
use crate::domain::side::TradeSide;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SimTrade {
    pub side: TradeSide,
    /// Largest position held during the trade, contracts.
    pub qty: u32,
    pub entry_ts: DateTime<Utc>,
    /// Average entry price.
    pub entry_price: Decimal,
    pub exit_ts: DateTime<Utc>,
    /// Average exit price.
    pub exit_price: Decimal,
    /// USD, before commissions.
    pub gross_pnl: Decimal,
    /// USD, entry and exit fills.
    pub commission: Decimal,
    pub net_pnl: Decimal,
}

struct Open {
    side: TradeSide,
    qty: u32,
    entry_ts: DateTime<Utc>,
    entry_price: Decimal,
    exit_qty: u32,
    exit_value: Decimal,
    gross: Decimal,
    commission: Decimal,
}

#[derive(Default)]
pub(super) struct TradeBuilder {
    open: Option<Open>,
    done: Vec<SimTrade>,
}

fn abs_u32(q: i64) -> u32 {
    u32::try_from(q.unsigned_abs()).unwrap_or(u32::MAX)
}

impl TradeBuilder {
    /// Accounts `fill`, which took the position from `before` to `after` realizing `realized`.
    pub(super) fn apply(
        &mut self,
        fill: &SimFill,
        before: &Position,
        after: &Position,
        realized: Decimal,
    ) {
        if fill.quantity == 0 {
            return;
        }
        let (b, a) = (before.quantity, after.quantity);
        let opening = if b == 0 || b.signum() == a.signum() && a.abs() > b.abs() {
            // Opens or adds: all of the fill.
            fill.quantity
        } else if a != 0 && a.signum() != b.signum() {
            // Flips: the part beyond flat opens the next trade.
            abs_u32(a)
        } else {
            0
        };
        let closing = fill.quantity - opening;
        let qty = Decimal::from(fill.quantity);
        let close_commission = fill.commission * Decimal::from(closing) / qty;
        if closing > 0
            && let Some(mut t) = self.open.take()
        {
            t.exit_qty += closing;
            t.exit_value += fill.price * Decimal::from(closing);
            t.gross += realized;
            t.commission += close_commission;
            if a != 0 && a.signum() == b.signum() {
                self.open = Some(t);
            } else {
                let exit_price = t.exit_value / Decimal::from(t.exit_qty);
                self.done.push(SimTrade {
                    side: t.side,
                    qty: t.qty,
                    entry_ts: t.entry_ts,
                    entry_price: t.entry_price,
                    exit_ts: fill.filled_at,
                    exit_price,
                    gross_pnl: t.gross,
                    commission: t.commission,
                    net_pnl: t.gross - t.commission,
                });
            }
        }
        if opening > 0 {
            let commission = fill.commission - close_commission;
            match &mut self.open {
                Some(t) => {
                    t.qty = t.qty.max(abs_u32(a));
                    t.entry_price = after.avg_price;
                    t.commission += commission;
                }
                None => {
                    self.open = Some(Open {
                        side: TradeSide::of(a),
                        qty: abs_u32(a),
                        entry_ts: fill.filled_at,
                        entry_price: after.avg_price,
                        exit_qty: 0,
                        exit_value: Decimal::ZERO,
                        gross: Decimal::ZERO,
                        commission,
                    })
                }
            }
        }
    }

    /// The closed trades (an open one is left out).
    pub(super) fn finish(self) -> Vec<SimTrade> {
        self.done
    }
}
