//! The backtester core: drives the same `domain::engine` as the live runner over a slice of
//! bars, with the bar boundary as its clock and a simulated PAPER venue as its execution
//! adapter (fill at the next bar's open ± slippage ticks, commission per contract). Traces are
//! summarised (no-trade counts by reason code), never serialised. Deterministic: the same
//! spec and bars give the same run, bit for bit.
//!
//! The bars are a front-month series (`domain::contracts::front_segments`: unadjusted, each
//! bar of the contract that was the front one when it opened). At a roll the run follows the
//! engine's one roll rule: the new contract's bars start a new indicator window, warmed up on
//! that contract's own bars from before the roll ([`BacktestSpec::roll_warmups`], fed, never
//! evaluated), so no indicator joins two contracts' prices. A position held at the roll is
//! closed by the engine's roll exit (`domain::roll_exit`, the same step as the live runners'):
//! the first evaluation on the new contract is an EXIT filled at the old contract's last close
//! (the fill model's slippage and commission); the strategy re-enters on the new contract when
//! its own rule says so. An order still working at the roll is cancelled by the engine.

pub mod evidence;
pub mod request;
pub mod sweep;
#[cfg(test)]
mod tests;
mod trades;
pub mod walk_forward;

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::ops::ControlFlow;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use uuid::Uuid;

pub use trades::SimTrade;
use trades::TradeBuilder;

use super::bars::Bar;
use super::calendar::HolidayCalendar;
use super::contracts::Contract;
use super::engine::{
    Effect, Engine, Event, OrderUpdate, Settings, Tick, TraceDetail, WorkingOrder,
};
use super::execution::{SimFill, SimParams};
use super::instants;
use super::instruments::ContractSpec;
use super::news::NewsSnapshot;
use super::risk::{AutonomyTier, RiskLimits, Stage};
use super::side::Side;
use super::strategy_config::StrategyConfig;
use super::strategy_filters::{FilterData, StrategyFilters};
use super::timeframe::Timeframe;

/// How simulated orders fill: at the next bar's open moved `slippage_ticks` against the
/// order, paying `commission_per_contract` per contract per fill.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct FillModel {
    pub slippage_ticks: u32,
    pub commission_per_contract: Decimal,
}

impl From<&FillModel> for SimParams {
    fn from(f: &FillModel) -> Self {
        SimParams {
            slippage_ticks: f.slippage_ticks,
            commission_per_contract: f.commission_per_contract,
        }
    }
}

#[derive(Debug, Clone)]
pub struct BacktestSpec {
    /// The bot the run stands for (idempotency keys are derived from it); any id for a
    /// strategy tried without a bot.
    pub bot_id: Uuid,
    pub strategy: StrategyConfig,
    /// Entry filters (`strategy.filters`) and the stored data they replay against.
    pub filters: StrategyFilters,
    pub filter_data: Arc<FilterData>,
    /// The news gate's replayed headlines (`strategy.filters.news_gate`): every classified
    /// risk-off headline of the range. Each bar's evaluation sees only those published at or
    /// before its boundary (the gate skips later ones), so no headline comes from the future.
    pub news: Arc<NewsSnapshot>,
    pub instrument: ContractSpec,
    pub timeframe: Timeframe,
    pub limits: RiskLimits,
    pub fill: FillModel,
    pub starting_capital: Decimal,
    /// The session calendar the gates and the venue use (the live runner's own).
    pub calendar: Arc<HolidayCalendar>,
    /// The autonomy tier to size and gate as (LIMITED_AUTONOMY trades half size).
    pub tier: AutonomyTier,
    /// Boundaries before this only warm the strategy up: their bars are fed, not evaluated
    /// (the history a live runner reads on its first tick). `None`: evaluate every bar.
    pub evaluate_from: Option<DateTime<Utc>>,
    /// Per contract the run rolls into, its own bars from before it became the front one
    /// (oldest first): fed at the roll to warm the new window up, never evaluated. A contract
    /// without them warms up on its first bars after the roll (no-trade evaluations).
    pub roll_warmups: Arc<HashMap<Contract, Vec<Bar>>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EquityPoint {
    pub ts: DateTime<Utc>,
    /// Starting capital + net realized + open PnL at the bar's close, USD.
    pub equity: Decimal,
}

/// An order the run placed: decided at the close of `decision_bar_at`'s bar.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SimOrder {
    pub side: Side,
    pub quantity: u32,
    pub decision_bar_at: DateTime<Utc>,
    pub reference_price: Decimal,
    pub idempotency_key: String,
    /// Its fill, or `None` (cancelled: the next bar opened outside the session, or the data
    /// ended first).
    pub fill: Option<SimFill>,
}

/// A kill trigger fired (the live runner would stop the bot): the run stops there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Killed {
    pub at: DateTime<Utc>,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BacktestRun {
    /// Closed round trips, oldest first (a position still open at the end is in `equity`,
    /// not here).
    pub trades: Vec<SimTrade>,
    /// One point per bar evaluated.
    pub equity: Vec<EquityPoint>,
    /// Suppressed evaluations by the no-trade trace's reason code.
    pub no_trades_by_code: BTreeMap<String, u64>,
    /// Bars fed to the engine (warm-up included).
    pub bars_processed: usize,
    pub decisions: u64,
    pub orders: u64,
    pub fills: u64,
    /// Every order with its fill, in order.
    pub order_log: Vec<SimOrder>,
    /// Net realized PnL (after commissions) plus open PnL at the last close, USD.
    pub net_pnl: Decimal,
    pub killed: Option<Killed>,
}

/// The bars a run of the window `[from, to)` reads from a longer history `bars` (oldest first,
/// one timeframe `tf`): `bars[start..end]`, where `bars[start..lo]` are the up to
/// `strategy`'s warm-up bars just BEFORE the window (fed, never evaluated: put `evaluate_from`
/// in the run's [`BacktestSpec`]) and `bars[lo..end]` the window's own bars, each evaluated as
/// a run of the window alone would. So an out-of-sample window's first evaluations see a full
/// history taken from before it, not the first bars of the window itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowRun {
    pub start: usize,
    pub lo: usize,
    pub end: usize,
    /// `None` when no bar precedes the window (the window warms up on its own first bars).
    pub evaluate_from: Option<DateTime<Utc>>,
}

pub fn window_run(
    bars: &[Bar],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    tf: Timeframe,
    strategy: &StrategyConfig,
) -> WindowRun {
    let lo = bars.partition_point(|b| b.ts_open < from);
    let end = bars.partition_point(|b| b.ts_open < to).max(lo);
    // The engine's window: the warm-up plus the bar decided on and the one before.
    let warmup = strategy.warmup_bars() as usize + 2;
    let start = lo.saturating_sub(warmup);
    // The first window bar's boundary is its close: boundaries before it are warm-up only.
    let evaluate_from = (start < lo && lo < end).then(|| bars[lo].ts_open + tf.duration());
    WindowRun {
        start,
        lo,
        end,
        evaluate_from,
    }
}

/// Runs `spec` over `bars` (oldest first, one timeframe, no duplicates): each bar is fed to the
/// engine, then its close is evaluated. `progress` is called with the bars processed so far
/// (about every 1 % and at the end).
pub fn run(spec: &BacktestSpec, bars: &[Bar], progress: &mut dyn FnMut(usize)) -> BacktestRun {
    drive(spec, bars, &mut |done| {
        progress(done);
        ControlFlow::Continue(())
    })
    .0
}

/// [`run`] that its caller can stop: `progress` (called about every 1 % of the bars and at
/// the end) answers `Break` to abandon the run, which then returns `None` — a stopped run has
/// no partial result. A worker stops within one percent of the bars of a cancel.
pub fn run_until(
    spec: &BacktestSpec,
    bars: &[Bar],
    progress: &mut dyn FnMut(usize) -> ControlFlow<()>,
) -> Option<BacktestRun> {
    let (run, completed) = drive(spec, bars, progress);
    completed.then_some(run)
}

/// The run, and whether it reached the end (`false`: `progress` stopped it).
fn drive(
    spec: &BacktestSpec,
    bars: &[Bar],
    progress: &mut dyn FnMut(usize) -> ControlFlow<()>,
) -> (BacktestRun, bool) {
    let settings = Settings {
        bot_id: spec.bot_id,
        spec: spec.instrument,
        timeframe: spec.timeframe,
        stage: Stage::Paper,
        config: spec.strategy.clone(),
        filters: spec.filters.clone(),
        limits: spec.limits.clone(),
        is_trading_enabled: false,
        sim: SimParams::from(&spec.fill),
    };
    let mut engine = Engine::new(settings, spec.calendar.clone());
    engine.set_filter_data(spec.filter_data.clone());
    engine.set_news(spec.news.clone());
    let tf = spec.timeframe.seconds() as i64;
    let every = (bars.len() / 100).max(1);
    let mut r = BacktestRun {
        trades: Vec::new(),
        equity: Vec::with_capacity(bars.len()),
        no_trades_by_code: BTreeMap::new(),
        bars_processed: 0,
        decisions: 0,
        orders: 0,
        fills: 0,
        order_log: Vec::new(),
        net_pnl: Decimal::ZERO,
        killed: None,
    };
    // The run keeps no trace per bar, only the no-trades counted by code.
    engine.set_trace_detail(TraceDetail::Codes);
    let mut venue = Venue::default();
    let root = spec.instrument.symbol;
    // The contract of the current piece and the instant it stops being the front one.
    let mut piece: Option<(Contract, DateTime<Utc>)> = None;
    for (i, bar) in bars.iter().enumerate() {
        let now = instants::add_seconds(bar.ts_open, tf);
        let close = bar.close;
        let contract = match piece {
            Some((c, rolls_at)) if bar.ts_open < rolls_at => c,
            _ => {
                let c = Contract::front_at(root, bar.ts_open);
                piece = Some((c, c.rolls_at()));
                c
            }
        };
        if engine.contract().is_some_and(|c| c != contract) {
            let warmup = spec.roll_warmups.get(&contract).into_iter().flatten();
            for w in warmup.filter(|w| w.ts_open < bar.ts_open) {
                let event = Event::Bar {
                    bar: w.clone(),
                    contract,
                };
                venue.perform(&mut engine, event, &mut r);
            }
        }
        let event = Event::Bar {
            bar: bar.clone(),
            contract,
        };
        venue.perform(&mut engine, event, &mut r);
        r.bars_processed = i + 1;
        if spec.evaluate_from.is_some_and(|from| now < from) {
            continue;
        }
        let tick = Tick {
            now,
            tier: spec.tier,
            trading_switch_on: true,
            kill_switch_active: false,
            breaker_open: false,
            reconciliation_clean: true,
            broker_ready: false,
        };
        let killed = venue.perform(&mut engine, Event::Clock(tick), &mut r);
        // The evaluation marked the position at this bar's close (the old contract's last one
        // while a roll exit is pending); orders placed by it fill only on the next bar, a
        // roll exit at once.
        let pnl = engine.equity();
        debug_assert_eq!(
            pnl,
            engine.position().total_pnl(engine.mark().unwrap_or(close))
        );
        r.equity.push(EquityPoint {
            ts: now,
            equity: spec.starting_capital + pnl,
        });
        r.net_pnl = pnl;
        if (i + 1) % every == 0 && progress(i + 1).is_break() {
            // A stopped run has no result: nothing to finish.
            return (r, false);
        }
        if let Some(reason) = killed {
            r.killed = Some(Killed { at: now, reason });
            break;
        }
    }
    r.no_trades_by_code = venue.no_trades_by_code();
    r.trades = venue.trades.finish();
    let completed = progress(r.bars_processed).is_continue();
    (r, completed)
}

/// The simulated PAPER venue: places orders, books fills, keeps the order log and trades.
#[derive(Default)]
struct Venue {
    /// Index in `order_log` of the working order.
    working: Option<usize>,
    trades: TradeBuilder,
    /// Effects being performed and those of the events they report back (reused per bar).
    pending: Vec<Effect>,
    next: Vec<Effect>,
    /// No-trades by reason code, in the order first seen (a handful of codes, mostly the
    /// same static one: found by its address before its text).
    no_trades: Vec<(Cow<'static, str>, u64)>,
}

impl Venue {
    fn count(&mut self, code: Cow<'static, str>) {
        let same = |c: &Cow<'static, str>| std::ptr::eq(c.as_ref(), code.as_ref()) || *c == code;
        match self.no_trades.iter_mut().find(|(c, _)| same(c)) {
            Some((_, n)) => *n += 1,
            None => self.no_trades.push((code, 1)),
        }
    }

    /// The no-trade counts as the run reports them.
    fn no_trades_by_code(&self) -> BTreeMap<String, u64> {
        let mut by_code = BTreeMap::new();
        for (code, n) in &self.no_trades {
            *by_code.entry(code.to_string()).or_default() += n;
        }
        by_code
    }

    /// Hands `event` to the engine and performs its effects (and those of the events they
    /// report back, in order); returns a kill reason.
    fn perform(
        &mut self,
        engine: &mut Engine,
        event: Event,
        r: &mut BacktestRun,
    ) -> Option<String> {
        let mut killed = None;
        let mut pending = std::mem::take(&mut self.pending);
        let mut next = std::mem::take(&mut self.next);
        engine.handle_into(event, &mut pending);
        while !pending.is_empty() {
            for effect in pending.drain(..) {
                match effect {
                    Effect::Decision(d) => {
                        r.decisions += 1;
                        r.orders += 1;
                        let index = r.order_log.len();
                        r.order_log.push(SimOrder {
                            side: d.order.side,
                            quantity: d.order.quantity,
                            decision_bar_at: d.order.bar_ts,
                            reference_price: d.order.reference_price,
                            idempotency_key: d.order.idempotency_key.clone(),
                            fill: None,
                        });
                        self.working = Some(index);
                        let working = WorkingOrder {
                            id: order_id(index),
                            side: d.order.side,
                            quantity: d.order.quantity,
                            decision_bar_at: Some(d.order.bar_ts),
                            reference_price: Some(d.order.reference_price),
                            idempotency_key: d.order.idempotency_key.clone(),
                        };
                        let update = OrderUpdate::Placed {
                            working: Some(working),
                        };
                        engine.handle_into(Event::OrderUpdate(update), &mut next);
                    }
                    Effect::NoTrade { no_trade, .. } => self.count(no_trade.reason_code),
                    Effect::NoTradeCode { reason_code, .. } => self.count(reason_code),
                    Effect::Fill { order_id: id, fill } => {
                        if let Some(index) = self.working.take()
                            && order_id(index) == id
                        {
                            let (before, after, realized) = engine.preview_fill(&fill);
                            self.trades.apply(&fill, &before, &after, realized);
                            r.fills += 1;
                            r.order_log[index].fill = Some(fill.clone());
                            engine.handle_into(Event::Fill(fill), &mut next);
                        }
                    }
                    Effect::Cancel { .. } => self.working = None,
                    Effect::Kill(k) => {
                        let reasons: Vec<&str> =
                            k.iter().map(|k| k.reason_human.as_str()).collect();
                        killed = Some(reasons.join(" "));
                    }
                }
            }
            std::mem::swap(&mut pending, &mut next);
        }
        self.pending = pending;
        self.next = next;
        killed
    }
}

/// Orders are numbered in the order the run placed them.
fn order_id(index: usize) -> Uuid {
    Uuid::from_u128(index as u128 + 1)
}
