//! What drives the engine and what it yields: its [`Settings`], the [`Event`]s in (bars,
//! fills, order updates, the clock's [`Tick`]) and the [`Effect`]s out (decisions, no-trades,
//! fills, cancels, kills), with the [`WorkingOrder`] they carry.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use uuid::Uuid;

use crate::domain::bars::Bar;
use crate::domain::contracts::Contract;
use crate::domain::evaluation::{Decision, NoTrade, TraceBlocker};
use crate::domain::execution::{OrderStatus, SimFill, SimParams};
use crate::domain::instruments::{ContractSpec, Symbol};
use crate::domain::risk::{AutonomyTier, KillTrigger, RiskLimits, Stage};
use crate::domain::side::Side;
use crate::domain::strategy_config::StrategyConfig;
use crate::domain::strategy_filters::StrategyFilters;
use crate::domain::timeframe::Timeframe;

/// What an operator configures on a bot (re-read on reload).
#[derive(Debug, Clone)]
pub struct Settings {
    pub bot_id: Uuid,
    pub spec: ContractSpec,
    pub timeframe: Timeframe,
    pub stage: Stage,
    pub config: StrategyConfig,
    /// Entry filters stored beside the strategy (`strategy.filters`).
    pub filters: StrategyFilters,
    pub limits: RiskLimits,
    pub is_trading_enabled: bool,
    /// How a PAPER order is filled (next bar's open ± slippage, commission).
    pub sim: SimParams,
}

/// An order placed and waiting for its fill.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkingOrder {
    pub id: Uuid,
    pub side: Side,
    pub quantity: u32,
    /// `ts_open` of the bar it was decided on (`None` only for a damaged stored row).
    pub decision_bar_at: Option<DateTime<Utc>>,
    pub reference_price: Option<Decimal>,
    pub idempotency_key: String,
}

/// The bar boundary being evaluated and the conditions outside the bot at that instant.
#[derive(Debug, Clone, Copy)]
pub struct Tick {
    pub now: DateTime<Utc>,
    pub tier: AutonomyTier,
    /// The global trading switch at this instant (mirrored, never read from the database).
    pub trading_switch_on: bool,
    pub kill_switch_active: bool,
    pub breaker_open: bool,
    /// LIVE: no open reconciliation mismatch names the bot.
    pub reconciliation_clean: bool,
    /// LIVE: a logged-in broker session can take an order now.
    pub broker_ready: bool,
}

#[derive(Debug, Clone)]
pub enum OrderUpdate {
    /// The decision's order was placed; `working` when it awaits its (simulated or
    /// hypothetical) fill, `None` when nothing will fill it.
    Placed { working: Option<WorkingOrder> },
    /// An order with the decision's idempotency key already existed (a restarted runner
    /// re-derived a decision it had acted on): nothing new was placed.
    AlreadyPlaced {
        decision: Box<Decision>,
        order_id: Uuid,
        status: OrderStatus,
        working: Option<WorkingOrder>,
    },
    /// The decision's order was refused as it was written: a gate checked again there (LIVE:
    /// `account_risk` under the account's lock, another bot's order having got there first)
    /// blocked it. Nothing was placed; the evaluation ends in a `GATE_BLOCKED` no-trade.
    Refused {
        decision: Box<Decision>,
        blocked_by: Vec<TraceBlocker>,
    },
    /// The working order was cancelled from outside (kill switch, operator), or a LIVE
    /// order's broker reports it done (filled, cancelled, rejected): it no longer works.
    Cancelled { order_id: Uuid },
}

#[derive(Debug, Clone)]
pub enum Event {
    /// A completed bar of `contract` (oldest first; a bar already held is replaced). A bar of
    /// another contract than the window's starts a new window (the roll rule).
    Bar {
        bar: Bar,
        contract: Contract,
    },
    /// A fill of the working order, booked by the driver.
    Fill(SimFill),
    OrderUpdate(OrderUpdate),
    /// Evaluate the bar that closed at `tick.now`.
    Clock(Tick),
}

impl Event {
    /// `bar` of the front contract of `root` at its open (`domain::contracts`, the one roll
    /// rule): the contract a front-month series' bar came from.
    pub fn front_bar(root: Symbol, bar: Bar) -> Event {
        Event::Bar {
            contract: Contract::front_at(root, bar.ts_open),
            bar,
        }
    }
}

#[derive(Debug, Clone)]
pub enum Effect {
    /// A decision and its order intent (`decision.order`): place it (once per idempotency
    /// key) and report back with `OrderUpdate`.
    Decision(Box<Decision>),
    /// One suppressed evaluation; `folded` = identical to the previous one (same fold key and
    /// no decision since), so it may be counted into the previous trace.
    NoTrade {
        no_trade: Box<NoTrade>,
        folded: bool,
    },
    /// One suppressed evaluation as a driver that counts codes ([`TraceDetail::Codes`](crate::domain::evaluation::TraceDetail::Codes)) gets
    /// it, in place of [`Effect::NoTrade`]: its suppression type and reason code (the trace's
    /// `reason_code`), nothing built to write (no trace, no blocker list, no folding).
    NoTradeCode {
        suppression_type: Cow<'static, str>,
        reason_code: Cow<'static, str>,
    },
    /// The working order filled (simulated at the next bar's open; a PAPER or SHADOW roll
    /// exit as soon as it is placed): book it, then report back with `Event::Fill`.
    Fill { order_id: Uuid, fill: SimFill },
    /// The working order is dropped: cancel it.
    Cancel { order_id: Uuid, reason: String },
    /// Breaches the supervisor must act on with its kill procedure.
    Kill(Vec<KillTrigger>),
}
