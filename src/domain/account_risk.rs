//! Account risk (issue 17 part 6): limits across every bot routed to one broker account,
//! checked at every LIVE evaluation together with the bot's own limits (`risk::evaluate_gates`
//! runs [`check`] as the `account_risk` gate). Pure: the runtime reads the account's figures
//! ([`AccountReading`]) and its stored latch, passes them in, and stores back a new latch
//! ([`breach`]).
//!
//! - Position limits, per contract ([`contract_key`]: `ESZ26`, not the root `ES`: in a roll week
//!   a bot still holding the expiring month and one entering the next hold different contracts;
//!   a position counts under the contract its newest order was for, a working order under its
//!   own): `max_gross_contracts` bounds the sum of the bots' absolute positions plus the
//!   working quantities that would add exposure; `max_net_contracts` bounds the absolute sum of
//!   the signed positions and working quantities. An order that does not raise its bot's
//!   exposure (an exit or a reduction) is never blocked by them; a raise that moves the account
//!   net toward zero (a hedge) is held only by the gross limit.
//! - Daily loss: the account's PnL since the 17:00 CT trade-date start, marked to market
//!   ([`day_pnl`]): a position carried into the day counts from the last close before the day
//!   began (not from its entry), a round trip opened before the day counts only its move since
//!   then, and today's commissions are paid today. A held position needs a current mark (its
//!   newest bar, not older than that bar's length + [`MARK_GRACE_SECONDS`] while the session
//!   is open): without one the figure is unknown, never a stale number. At or beyond `-daily_loss_limit` the account latches; the latch is stored and outlives the
//!   day roll: only a human re-arm clears it. While latched, orders that raise exposure are
//!   blocked on every bot of the account (exits pass).
//! - Order rate: orders sent to the account in the trailing 60 s; at the limit every order of
//!   the account waits (like the bot's own `max_orders_per_minute`).
//! - A reading that could not be taken blocks raises (fail closed): exits still pass.

use super::contracts::Contract;
use super::instruments::Symbol;
use super::risk::{Blocker, Gate, ProposedOrder};
use crate::error_code::ErrorCode;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use uuid::Uuid;

/// The limits of one broker account. Money in USD; sizes in contracts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountRiskLimits {
    /// Per contract: sum over the account's bots of |position| (+ exposure-adding working
    /// quantity).
    pub max_gross_contracts: u32,
    /// Per contract: |sum over the account's bots of the signed position| (+ working).
    pub max_net_contracts: u32,
    /// Account loss for the trade date (realized + unrealized) at which it latches, USD.
    #[schema(value_type = String, example = "2000")]
    pub daily_loss_limit: Decimal,
    /// Orders sent to the account in the trailing 60 seconds.
    pub max_orders_per_minute: u32,
}

/// A field of a limits request that is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldProblem {
    pub field: &'static str,
    pub problem: String,
}

impl AccountRiskLimits {
    /// Every problem, by field (empty = valid). Zero position limits are allowed (the account
    /// may only reduce); a zero order rate would trap positions, so it is refused.
    pub fn validate(&self) -> Vec<FieldProblem> {
        let mut out = Vec::new();
        if self.max_net_contracts > self.max_gross_contracts {
            out.push(FieldProblem {
                field: "max_net_contracts",
                problem: format!(
                    "must not exceed max_gross_contracts ({}): the net can never be larger than the gross",
                    self.max_gross_contracts
                ),
            });
        }
        if self.daily_loss_limit <= Decimal::ZERO {
            out.push(FieldProblem {
                field: "daily_loss_limit",
                problem: "must be a positive USD amount".into(),
            });
        }
        if self.max_orders_per_minute == 0 {
            out.push(FieldProblem {
                field: "max_orders_per_minute",
                problem: "must be at least 1 (0 would stop exits too)".into(),
            });
        }
        for (field, v) in [
            ("max_gross_contracts", self.max_gross_contracts),
            ("max_net_contracts", self.max_net_contracts),
            ("max_orders_per_minute", self.max_orders_per_minute),
        ] {
            if v > 10_000 {
                out.push(FieldProblem {
                    field,
                    problem: "must be at most 10000".into(),
                });
            }
        }
        out
    }
}

/// One contract's exposure over the account's bots.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ContractExposure {
    /// Sum of the signed positions.
    pub net: i64,
    /// Sum of the absolute positions.
    pub gross: u64,
    /// Signed sum of the working quantities (what is not filled yet).
    pub working_net: i64,
    /// Working quantity that would raise its bot's absolute position when filled.
    pub working_adds: u64,
}

impl ContractExposure {
    /// Adds one bot's position and working order (remaining quantity, signed).
    pub fn add_bot(&mut self, position: i64, working_signed: i64) {
        self.net += position;
        self.gross += position.unsigned_abs();
        self.working_net += working_signed;
        let after = (position + working_signed).unsigned_abs();
        self.working_adds += after.saturating_sub(position.unsigned_abs());
    }

    /// Net counting working orders as filled.
    pub fn projected_net(&self) -> i64 {
        self.net + self.working_net
    }

    /// Gross counting exposure-adding working orders as filled.
    pub fn projected_gross(&self) -> u64 {
        self.gross + self.working_adds
    }
}

/// The account's figures now, over every bot routed to it (the evaluating bot included).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct AccountReading {
    /// By contract (`ESZ26`).
    pub contracts: BTreeMap<String, ContractExposure>,
    /// PnL since the 17:00 CT trade-date start, marked to market (a position carried into the
    /// day from the last close before it), net of the day's commissions, USD.
    #[schema(value_type = String)]
    pub daily_pnl: Decimal,
    /// Orders sent to the account in the trailing 60 seconds.
    pub orders_last_minute: u32,
    /// The bots routed to the account.
    pub bots: Vec<Uuid>,
}

/// How late a mark may be past its bar's length while the session is open: the bar of a
/// timeframe arrives after it ends, and one missed bar makes the mark stale.
pub const MARK_GRACE_SECONDS: i64 = 60;

/// A bot's LIVE fills since the trade date began, summed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DayFills {
    /// Contracts bought minus contracts sold.
    pub net_quantity: i64,
    /// Sum of signed quantity × price (bought positive), in points.
    pub signed_notional: Decimal,
    /// Commissions, USD.
    pub commission: Decimal,
}

/// The newest close of a symbol, and the bar it closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mark {
    pub close: Decimal,
    /// When its bar ended (start + length).
    pub ended_at: DateTime<Utc>,
    /// Its bar's length.
    pub bar_seconds: i64,
}

impl Mark {
    /// Whether it is the close of the newest bar that should have arrived by `now`.
    pub fn is_current(&self, now: DateTime<Utc>) -> bool {
        (now - self.ended_at).num_seconds() <= self.bar_seconds + MARK_GRACE_SECONDS
    }
}

/// One bot's figures, as stored, that the account reading sums.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BotFigures {
    pub bot_id: Uuid,
    pub symbol: Symbol,
    /// Signed LIVE position.
    pub quantity: i64,
    /// Its LIVE fills since the trade date began.
    pub day: DayFills,
    /// Newest close of its symbol.
    pub mark: Option<Mark>,
    /// Last close of its symbol before the trade date began (the day's opening value of a
    /// position carried into it).
    pub day_start_close: Option<Decimal>,
    /// Signed quantity of its unfinished orders not filled yet.
    pub working_signed: i64,
    /// When the order its position was last traded by was decided (its contract).
    pub position_at: Option<DateTime<Utc>>,
    /// When its newest unfinished order was decided (that order's contract).
    pub working_at: Option<DateTime<Utc>>,
}

/// A bot's PnL for the trade date, USD: its position's value at the mark, less the value of
/// the position it began the day with at the last close before the day, less what today's
/// fills paid, less today's commissions. `None` when a position that needs a price has none
/// (or, with `marks_current`, only a stale one).
pub fn day_pnl(b: &BotFigures, now: DateTime<Utc>, marks_current: bool) -> Option<Decimal> {
    let start_quantity = b.quantity - b.day.net_quantity;
    let value_now = match b.quantity {
        0 => Decimal::ZERO,
        q => {
            let mark = b.mark.filter(|m| !marks_current || m.is_current(now))?;
            mark.close * Decimal::from(q)
        }
    };
    let value_at_start = match start_quantity {
        0 => Decimal::ZERO,
        q => b.day_start_close? * Decimal::from(q),
    };
    Some(
        (value_now - value_at_start - b.day.signed_notional) * b.symbol.point_value()
            - b.day.commission,
    )
}

/// The contract an order of `root` decided at `at` is for (the front one then, as the
/// broker request names it): the key account exposure is summed under.
pub fn contract_key(root: Symbol, at: DateTime<Utc>) -> String {
    Contract::front_at(root, at).code()
}

/// Sums the bots' figures by contract (a time missing: the contract at `now`). `None` when a
/// bot's day PnL cannot be priced ([`day_pnl`]): never a made-up zero, so the gate closes for
/// raises. `marks_current`: the session is open, so a mark must be current.
pub fn reading(
    bots: &[BotFigures],
    orders_last_minute: u32,
    now: DateTime<Utc>,
    marks_current: bool,
) -> Option<AccountReading> {
    let mut r = AccountReading {
        orders_last_minute,
        ..AccountReading::default()
    };
    for b in bots {
        let held = contract_key(b.symbol, b.position_at.unwrap_or(now));
        let working = contract_key(b.symbol, b.working_at.unwrap_or(now));
        if held == working {
            r.contracts
                .entry(held)
                .or_default()
                .add_bot(b.quantity, b.working_signed);
        } else {
            // Its order is for another month than it holds: neither reduces the other.
            if b.quantity != 0 {
                r.contracts.entry(held).or_default().add_bot(b.quantity, 0);
            }
            r.contracts
                .entry(working)
                .or_default()
                .add_bot(0, b.working_signed);
        }
        r.daily_pnl += day_pnl(b, now, marks_current)?;
        r.bots.push(b.bot_id);
    }
    Some(r)
}

/// A stored daily-loss latch: set once breached, cleared only by a human re-arm.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AccountLatch {
    pub latched_at: DateTime<Utc>,
    pub reason: String,
    /// The account's day PnL when it latched, USD.
    #[schema(value_type = String)]
    pub daily_pnl: Decimal,
    /// The limit it breached, USD.
    #[schema(value_type = String)]
    pub daily_loss_limit: Decimal,
}

/// What the `account_risk` gate reads for one LIVE evaluation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccountRiskView {
    pub broker: String,
    pub account: String,
    /// `None`: no limits configured for the account; only a stored latch then applies.
    pub limits: Option<AccountRiskLimits>,
    /// `None`: the figures could not be read (the gate closes for raises), or were not read
    /// because no limits are configured.
    pub reading: Option<AccountReading>,
    pub latch: Option<AccountLatch>,
}

/// A new latch when the reading breaches the daily loss limit and none is stored.
pub fn breach(
    limits: &AccountRiskLimits,
    reading: &AccountReading,
    latch: Option<&AccountLatch>,
    now: DateTime<Utc>,
) -> Option<AccountLatch> {
    if latch.is_some() || reading.daily_pnl > -limits.daily_loss_limit {
        return None;
    }
    Some(AccountLatch {
        latched_at: now,
        reason: format!(
            "Account day loss {} USD reached the account daily_loss_limit {} USD.",
            -reading.daily_pnl, limits.daily_loss_limit
        ),
        daily_pnl: reading.daily_pnl,
        daily_loss_limit: limits.daily_loss_limit,
    })
}

fn blocker(code: ErrorCode, reason: String) -> Blocker {
    Blocker {
        gate: Gate::AccountRisk,
        code,
        reason_human: reason,
        suggested_fix: code.suggested_fix().to_string(),
    }
}

/// The `account_risk` gate for one bot: `contract` is its order's ([`contract_key`]), `position` its signed
/// position counting its own working order, `order` what it proposes (`None`: nothing; only
/// a latch is then reported, so an idle bot's trace says why it cannot enter).
pub fn check(
    view: &AccountRiskView,
    contract: &str,
    position: i64,
    order: Option<&ProposedOrder>,
) -> Vec<Blocker> {
    let mut out = Vec::new();
    let acct = format!("{}/{}", view.broker, view.account);
    let delta = order.map_or(0, |o| o.side.sign() * i64::from(o.quantity));
    let raises = order.is_some() && (position + delta).abs() > position.abs();
    if let Some(latch) = &view.latch
        && (raises || order.is_none())
    {
        out.push(blocker(
            ErrorCode::AccountDailyLossLatched,
            format!(
                "Account {acct} is latched since {} (day PnL {} USD, limit {} USD): {}",
                latch.latched_at.to_rfc3339(),
                latch.daily_pnl,
                latch.daily_loss_limit,
                latch.reason
            ),
        ));
    }
    // No limits configured: only a stored latch applies (and the figures are not read).
    let (true, Some(limits)) = (order.is_some(), &view.limits) else {
        return out;
    };
    let Some(reading) = &view.reading else {
        if raises {
            out.push(blocker(
                ErrorCode::AccountRiskUnavailable,
                format!(
                    "Account {acct}: its positions, day PnL and order rate could not be read (or a held position has no current price mark), so an order raising exposure cannot be checked."
                ),
            ));
        }
        return out;
    };
    if reading.orders_last_minute >= limits.max_orders_per_minute {
        out.push(blocker(
            ErrorCode::AccountOrderRate,
            format!(
                "Account {acct}: {} orders in the last minute; the account's max_orders_per_minute is {}.",
                reading.orders_last_minute, limits.max_orders_per_minute
            ),
        ));
    }
    if !raises {
        return out;
    }
    let exposure = reading.contracts.get(contract).cloned().unwrap_or_default();
    let gross_added = (position + delta)
        .unsigned_abs()
        .saturating_sub(position.unsigned_abs());
    let gross_after = exposure.projected_gross() + gross_added;
    if gross_after > u64::from(limits.max_gross_contracts) {
        out.push(blocker(
            ErrorCode::AccountPositionLimit,
            format!(
                "Account {acct} {contract}: gross {} contracts (working included) would become {gross_after}; max_gross_contracts is {}.",
                exposure.projected_gross(),
                limits.max_gross_contracts
            ),
        ));
    }
    let net_before = exposure.projected_net();
    let net_after = net_before + delta;
    if net_after.unsigned_abs() > u64::from(limits.max_net_contracts)
        && net_after.abs() > net_before.abs()
    {
        out.push(blocker(
            ErrorCode::AccountPositionLimit,
            format!(
                "Account {acct} {contract}: net {net_before} contracts (working included) would become {net_after}; max_net_contracts is {}.",
                limits.max_net_contracts
            ),
        ));
    }
    if view.latch.is_none() && reading.daily_pnl <= -limits.daily_loss_limit {
        // Breached but not stored yet (the runtime stores the latch from its reading).
        out.push(blocker(
            ErrorCode::AccountDailyLossLatched,
            format!(
                "Account {acct}: day loss {} USD reached the account daily_loss_limit {} USD.",
                -reading.daily_pnl, limits.daily_loss_limit
            ),
        ));
    }
    out
}

#[cfg(test)]
#[path = "account_risk_tests.rs"]
mod tests;
