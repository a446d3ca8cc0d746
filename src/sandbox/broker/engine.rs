//! The simulator's matching engine on the synthetic minute bars (`sandbox::ohlcv`).

use chrono::{DateTime, Duration, DurationRound, Utc};
use serde::Serialize;

use crate::domain::side::Side;
use crate::sandbox::ohlcv;

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "type", content = "price", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SimOrderKind {
    Market,
    Limit(f64),
    Stop(f64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SimStatus {
    Working,
    PartiallyFilled,
    Filled,
    Cancelled,
    Rejected,
}

impl SimStatus {
    pub fn is_working(self) -> bool {
        matches!(self, SimStatus::Working | SimStatus::PartiallyFilled)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct SimOrder {
    pub id: u64,
    pub vendor: &'static str,
    pub account: String,
    pub client_id: Option<String>,
    /// The vendor's spelling (`ESZ6`, `XCME:ES.Z26`).
    pub symbol: String,
    /// The sandbox bars' symbol for the contract (`ESZ6`).
    pub bar_symbol: String,
    pub side: Side,
    pub quantity: u32,
    pub filled: u32,
    pub avg_price: Option<f64>,
    pub kind: SimOrderKind,
    pub time_in_force: String,
    pub status: SimStatus,
    pub reject_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// A market order's rest fills at the open of this minute or the next trading one.
    pub fill_from: Option<DateTime<Utc>>,
    /// Fill half now, the rest later (the `partial` fault).
    pub partial: bool,
    /// The last modify: a limit or stop matches bars after it.
    pub modified_at: Option<DateTime<Utc>>,
}

impl SimOrder {
    pub fn rejected_placeholder() -> SimOrder {
        SimOrder {
            id: 0,
            vendor: "",
            account: String::new(),
            client_id: None,
            symbol: String::new(),
            bar_symbol: String::new(),
            side: Side::Buy,
            quantity: 0,
            filled: 0,
            avg_price: None,
            kind: SimOrderKind::Market,
            time_in_force: String::new(),
            status: SimStatus::Rejected,
            reject_reason: Some("internal".into()),
            created_at: DateTime::<Utc>::MIN_UTC,
            updated_at: DateTime::<Utc>::MIN_UTC,
            fill_from: None,
            partial: false,
            modified_at: None,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct SimFill {
    pub id: u64,
    pub vendor: &'static str,
    pub order_id: u64,
    pub account: String,
    pub symbol: String,
    pub side: Side,
    pub quantity: u32,
    pub price: f64,
    pub at: DateTime<Utc>,
}

/// Whether the exchange lists `c` at `now`: not expired, and within the equity-index cycle's
/// horizon (about two years ahead).
pub fn listed(c: &crate::domain::contracts::Contract, now: DateTime<Utc>) -> bool {
    let last = c.last_trade_date();
    let today = now.date_naive();
    last >= today && last <= today + Duration::days(2 * 366)
}

pub fn minute_of(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(Duration::minutes(1)).unwrap_or(t)
}

/// The minute bar trading at `now`, if the market is open.
pub fn bar_now(bar_symbol: &str, now: DateTime<Utc>) -> Option<ohlcv::SynthBar> {
    let m = minute_of(now);
    ohlcv::minute_bars(bar_symbol, m, m + Duration::minutes(1), 1)
        .into_iter()
        .next()
}

fn fill(
    o: &mut SimOrder,
    fills: &mut Vec<SimFill>,
    next_id: &mut u64,
    quantity: u32,
    price: f64,
    at: DateTime<Utc>,
) {
    *next_id += 1;
    let before = f64::from(o.filled) * o.avg_price.unwrap_or(0.0);
    o.filled += quantity;
    o.avg_price = Some((before + f64::from(quantity) * price) / f64::from(o.filled));
    o.status = if o.filled >= o.quantity {
        SimStatus::Filled
    } else {
        SimStatus::PartiallyFilled
    };
    o.updated_at = at;
    fills.push(SimFill {
        id: *next_id,
        vendor: o.vendor,
        order_id: o.id,
        account: o.account.clone(),
        symbol: o.symbol.clone(),
        side: o.side,
        quantity,
        price,
        at,
    });
}

/// Fills what fills by `now`: market orders (and a partial market order's rest) at the open
/// of their minute, limit and stop orders on the first complete bar after placement that
/// touches their price.
pub fn advance(
    orders: &mut [SimOrder],
    fills: &mut Vec<SimFill>,
    next_id: &mut u64,
    now: DateTime<Utc>,
) {
    for o in orders.iter_mut().filter(|o| o.status.is_working()) {
        let left = o.quantity - o.filled;
        match o.kind {
            SimOrderKind::Market => {
                let Some(from) = o.fill_from else { continue };
                if from > now {
                    continue;
                }
                let Some(bar) =
                    ohlcv::minute_bars(&o.bar_symbol, from, now + Duration::seconds(1), 1)
                        .into_iter()
                        .next()
                else {
                    continue;
                };
                let qty = if o.partial && o.filled == 0 && left >= 2 {
                    left / 2
                } else {
                    left
                };
                let at = bar.ts.max(o.created_at);
                fill(o, fills, next_id, qty, bar.open, at);
                o.fill_from = Some(minute_of(bar.ts) + Duration::minutes(1));
            }
            SimOrderKind::Limit(px) | SimOrderKind::Stop(px) => {
                let start = minute_of(o.modified_at.unwrap_or(o.created_at)) + Duration::minutes(1);
                let complete = minute_of(now);
                if start >= complete {
                    continue;
                }
                for bar in ohlcv::minute_bars(&o.bar_symbol, start, complete, 100_000) {
                    let buy = o.side == Side::Buy;
                    let price = match (o.kind, buy) {
                        (SimOrderKind::Limit(_), true) if bar.low <= px => Some(bar.open.min(px)),
                        (SimOrderKind::Limit(_), false) if bar.high >= px => Some(bar.open.max(px)),
                        (SimOrderKind::Stop(_), true) if bar.high >= px => Some(bar.open.max(px)),
                        (SimOrderKind::Stop(_), false) if bar.low <= px => Some(bar.open.min(px)),
                        _ => None,
                    };
                    if let Some(p) = price {
                        fill(o, fills, next_id, left, p, bar.ts);
                        break;
                    }
                }
            }
        }
    }
}

/// The signed position per (account, vendor symbol) from the fills.
pub fn positions(fills: &[SimFill], account: &str) -> Vec<(String, i64, f64)> {
    let mut out: Vec<(String, i64, f64)> = Vec::new();
    for f in fills.iter().filter(|f| f.account == account) {
        let signed = f.side.sign() * i64::from(f.quantity);
        match out.iter_mut().find(|(s, _, _)| *s == f.symbol) {
            Some((_, net, avg)) => {
                let new = *net + signed;
                if net.signum() == signed.signum() || *net == 0 {
                    let total = net.abs() + signed.abs();
                    *avg = (*avg * net.abs() as f64 + f.price * signed.abs() as f64) / total as f64;
                } else if new.signum() != net.signum() && new != 0 {
                    *avg = f.price;
                }
                *net = new;
            }
            None => out.push((f.symbol.clone(), signed, f.price)),
        }
    }
    out
}
