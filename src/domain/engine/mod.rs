//! The one trading engine: a bot's bookkeeping (position, working order, day baseline and the
//! 17:00 CT roll, equity peak, order-rate window, suppression folding) driven by events in and
//! effects out. The bot runner (PAPER, SHADOW, LIVE) and the backtester drive this same type;
//! only the clock, the bar source and what they do with the effects differ.
//!
//! Protocol, per bar: feed the bars read (`Event::Bar`, each with the listed contract it came
//! from; a working order fills at the open
//! of the bar after its decision bar → `Effect::Fill`, which the driver books and reports back
//! with `Event::Fill`), then `Event::Clock` at the bar boundary: one evaluation ending in exactly
//! one `Effect::Decision` (the driver places its order and reports back with
//! `Event::OrderUpdate`) or one `Effect::NoTrade`, plus `Effect::Kill` on a breach.
//!
//! The roll rule (one for every driver): the indicator window holds one contract's bars. A bar
//! of another contract than the window's starts a new window, so an indicator never runs from
//! the old contract's prices into the new one's (no fake jump at a quarterly roll; prices stay
//! unadjusted). A driver hands the new contract's own history first (the live feed's read of
//! the new contract's window, a backtest's warm-up bars from before the roll); a PAPER or
//! SHADOW order still working on the old contract is cancelled (its fill bar would be the new
//! contract's). A position held on the old contract is closed by the roll exit
//! (`domain::roll_exit`) before the strategy trades the new one, and marked at the old
//! contract's last close until then.

mod book;
mod protocol;
#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

pub use book::LedgerFill;
use book::{Book, Folding};
pub use protocol::{Effect, Event, OrderUpdate, Settings, Tick, WorkingOrder};

use super::account_risk::AccountRiskView;
use super::bars::{Bar, decimal_f64};
use super::calendar::HolidayCalendar;
use super::contracts::Contract;
pub use super::evaluation::TraceDetail;
use super::evaluation::{
    Evaluation, EvaluationInput, NoTrade, TraceBlocker, evaluate_bar_codes, evaluate_bar_parts,
};
use super::execution::{ExecutionOutcome, OrderIntent, SimFill, execute};
use super::indicators::Series;
use super::instants;
use super::instruments::ContractSpec;
use super::news::NewsSnapshot;
use super::positions::Position;
use super::risk::{GateContext, Stage};
use super::roll_exit::{self, Roll};
use super::strategy_config::FieldError;
use super::strategy_filters::{FilterData, FilterReadings};

/// The tick the closes are summed in (0, a grid nothing is on, for a tick no float holds).
fn tick_f64(spec: &ContractSpec) -> f64 {
    decimal_f64(spec.tick_size).unwrap_or(0.0)
}

pub struct Engine {
    s: Settings,
    /// What `s.config.validate()` found, checked when the settings were set (not per bar):
    /// every evaluation of an invalid config is a `STRATEGY_ERROR` no-trade naming the field.
    config_invalid: Option<FieldError>,
    calendar: Arc<HolidayCalendar>,
    /// The stored data the entry filters read (calendar, macro series), as last handed in.
    filter_data: Arc<FilterData>,
    /// The news gate's classification snapshot, as last handed in (empty and open until
    /// then: the live runner hands in its cache per tick, a backtest the replayed headlines).
    news: Arc<NewsSnapshot>,
    /// LIVE: the bot's broker account as read for the next evaluation (`account_risk` gate).
    account_risk: Option<AccountRiskView>,
    position: Position,
    working: Option<WorkingOrder>,
    book: Book,
    folding: Folding,
    /// The boundary of the latest `Clock` (stamps the order-rate window).
    now: Option<DateTime<Utc>>,
    /// The contract the window's bars came from (`None` before the first bar).
    contract: Option<Contract>,
    /// Newest bars, oldest first, all of `contract`; the evaluation sees the last `need`.
    bars: Vec<Bar>,
    /// `bars[i].close_f64()` (NaN when out of range) with running sums, kept beside them so
    /// each close is converted and summed once, not once per window it appears in.
    closes: Series,
    need: usize,
    /// How much of each evaluation's explanation the driver wants (see [`TraceDetail`]).
    detail: TraceDetail,
    /// Net realized plus open PnL at the latest `Clock`'s mark.
    equity: Decimal,
    /// The contract an open position is on and its latest bar seen (`None` when flat).
    held: Option<Held>,
    /// A PAPER or SHADOW roll exit decided and not yet placed: it fills once placed.
    roll_fill: Option<SimFill>,
}

/// The contract a position is on, and the latest bar of it the bot saw: after a roll the
/// position is marked at that close, and the roll exit priced at it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Held {
    contract: Contract,
    last_close: Decimal,
    last_bar_at: DateTime<Utc>,
    /// `last_close` is a bar's close (not only the price of the fill a restore started from).
    priced: bool,
}

impl Engine {
    pub fn new(s: Settings, calendar: Arc<HolidayCalendar>) -> Self {
        let need = s.config.warmup_bars() as usize + 2;
        let closes = Series::with_capacity(tick_f64(&s.spec), need * 4 + 1);
        Engine {
            position: Position::flat(s.spec.symbol),
            config_invalid: s.config.validate().err(),
            s,
            calendar,
            filter_data: Arc::new(FilterData::default()),
            news: Arc::new(NewsSnapshot::default()),
            account_risk: None,
            working: None,
            book: Book::default(),
            folding: Folding::default(),
            now: None,
            contract: None,
            bars: Vec::with_capacity(need * 4 + 1),
            closes,
            need,
            detail: TraceDetail::Full,
            equity: Decimal::ZERO,
            held: None,
            roll_fill: None,
        }
    }

    /// Rebuilds the state a runner had from what the ledger proves: the position replayed
    /// from the bot's fills (equity marked at each fill gives the peak), the day baseline as of
    /// `now`, the order still working, the orders placed in the last minute and the fold key of
    /// the latest foldable no-trade trace.
    pub fn restore(
        &mut self,
        fills: impl IntoIterator<Item = LedgerFill>,
        now: DateTime<Utc>,
        working: Option<WorkingOrder>,
        orders_last_minute: impl IntoIterator<Item = DateTime<Utc>>,
        fold_key: Option<String>,
    ) {
        self.position = Position::flat(self.s.spec.symbol);
        let mut last = None;
        let fills = fills.into_iter().inspect(|f| last = Some(f.clone()));
        self.book = Book::replay(&mut self.position, fills, now);
        // Every fill of an open position is on one contract (a roll exit flattens it first):
        // the last one's. Its price marks the position until a bar of that contract arrives.
        self.held = last.filter(|_| self.position.quantity != 0).map(|f| Held {
            contract: Contract::front_at(self.s.spec.symbol, f.decided_at),
            last_close: f.price,
            last_bar_at: f.decided_at,
            priced: false,
        });
        self.book.order_times.extend(orders_last_minute);
        self.working = working;
        self.folding = Folding::new(fold_key);
    }

    /// How much of each evaluation's explanation to build: `Full` (the default) for a driver
    /// that writes traces, `Codes` for one that only counts no-trades by code. Decisions,
    /// orders, fills and codes are the same either way.
    pub fn set_trace_detail(&mut self, detail: TraceDetail) {
        self.detail = detail;
    }

    /// New operator settings (stage, limits, strategy, trading switch).
    pub fn set_settings(&mut self, s: Settings) {
        self.need = s.config.warmup_bars() as usize + 2;
        if s.spec.tick_size != self.s.spec.tick_size {
            let closes = self.closes.last(usize::MAX).values().iter().copied();
            self.closes = Series::of(tick_f64(&s.spec), closes);
        }
        self.config_invalid = s.config.validate().err();
        self.s = s;
    }

    /// The filter data the next evaluations read (the driver refreshes it off the hot path).
    pub fn set_filter_data(&mut self, data: Arc<FilterData>) {
        self.filter_data = data;
    }

    /// The news snapshot the next evaluations read (the runner's cache, per tick).
    pub fn set_news(&mut self, news: Arc<NewsSnapshot>) {
        self.news = news;
    }

    /// The broker account the next LIVE evaluation checks (`None`: none to check).
    pub fn set_account_risk(&mut self, view: Option<AccountRiskView>) {
        self.account_risk = view;
    }

    pub fn settings(&self) -> &Settings {
        &self.s
    }

    pub fn position(&self) -> &Position {
        &self.position
    }

    /// Net realized plus open PnL (USD) as the latest `Clock` marked it: at the close of the
    /// newest bar it saw (what the gates read; a driver's equity curve reads it too).
    pub fn equity(&self) -> Decimal {
        self.equity
    }

    pub fn working(&self) -> Option<&WorkingOrder> {
        self.working.as_ref()
    }

    /// Replaces the working order with the one the driver found still open (a LIVE runner
    /// that resolved its bot's orders at the broker): no effect, no order counted as placed.
    pub fn set_working(&mut self, working: Option<WorkingOrder>) {
        self.working = working;
    }

    /// The price the position is marked at: the window's newest close, or after a roll the
    /// held contract's last close until the roll exit closes it.
    pub fn mark(&self) -> Option<Decimal> {
        match self.rolled_from() {
            Some(h) => Some(h.last_close),
            None => self.bars.last().map(|b| b.close),
        }
    }

    /// The position's contract when the window has rolled away from it.
    fn rolled_from(&self) -> Option<Held> {
        let window = self.contract?;
        self.held
            .filter(|h| self.position.quantity != 0 && h.contract != window)
    }

    /// The bars the latest evaluation saw, oldest first (a driver tells where they came from).
    pub fn window(&self) -> &[Bar] {
        &self.bars[self.bars.len().saturating_sub(self.need)..]
    }

    /// The contract of the window's bars (`None` before the first bar).
    pub fn contract(&self) -> Option<Contract> {
        self.contract
    }

    /// The contract the open position is on (`None` when flat).
    pub fn position_contract(&self) -> Option<Contract> {
        self.held.map(|h| h.contract)
    }

    /// The contract of an open position no bar of which has been seen since it was restored
    /// from its fills (a driver hands one in: `Event::Bar` of that contract).
    pub fn unpriced_position_contract(&self) -> Option<Contract> {
        self.held.filter(|h| !h.priced).map(|h| h.contract)
    }

    /// Bars of history one evaluation reads (a driver fetches this many).
    pub fn bars_needed(&self) -> usize {
        self.need
    }

    /// The position before and after `fill` and the gross PnL it realizes (to book it).
    pub fn preview_fill(&self, fill: &SimFill) -> (Position, Position, Decimal) {
        let before = self.position.clone();
        let mut after = before.clone();
        let realized = after.apply_fill(fill.side, fill.quantity, fill.price, fill.commission);
        (before, after, realized)
    }

    pub fn handle(&mut self, event: Event) -> Vec<Effect> {
        let mut out = Vec::new();
        self.handle_into(event, &mut out);
        out
    }

    /// [`Engine::handle`] appending the effects to `out` (a driver reuses one buffer).
    pub fn handle_into(&mut self, event: Event, out: &mut Vec<Effect>) {
        match event {
            Event::Bar { bar, contract } => self.on_bar(bar, contract, out),
            Event::Fill(fill) => self.on_fill(&fill),
            Event::OrderUpdate(update) => self.on_order_update(update, out),
            Event::Clock(tick) => self.on_clock(tick, out),
        }
    }

    fn on_fill(&mut self, fill: &SimFill) {
        self.position
            .apply_fill(fill.side, fill.quantity, fill.price, fill.commission);
        self.book.booked(&self.position);
        if self.position.quantity == 0 {
            self.held = None;
        } else if self.held.is_none() {
            // A position opened on the window's contract, marked at its newest bar.
            self.held = self.contract.map(|contract| {
                let (last_close, last_bar_at, priced) = self
                    .bars
                    .last()
                    .map_or((fill.price, fill.filled_at, false), |b| {
                        (b.close, b.ts_open, true)
                    });
                Held {
                    contract,
                    last_close,
                    last_bar_at,
                    priced,
                }
            });
        }
        // A fill after the boundary's mark (a roll exit, a LIVE fill between bars) moves it.
        if let Some(mark) = self.mark() {
            self.equity = self.position.total_pnl(mark);
        }
    }

    fn on_bar(&mut self, bar: Bar, contract: Contract, out: &mut Vec<Effect>) {
        if self.contract != Some(contract) {
            self.roll_to(contract, out);
        }
        let ts = bar.ts_open;
        if let Some(h) = &mut self.held
            && h.contract == contract
            && ts >= h.last_bar_at
        {
            h.last_close = bar.close;
            h.last_bar_at = ts;
            h.priced = true;
        }
        let close = |bar: &Bar| bar.close_f64().unwrap_or(f64::NAN);
        match self.bars.last() {
            Some(last) if last.ts_open >= ts => {
                match self.bars.binary_search_by_key(&ts, |b| b.ts_open) {
                    // The same bar again (a live driver reads its whole window at every
                    // boundary): nothing to replace, and no running sums to redo from it.
                    Ok(i) if self.bars[i] == bar => {}
                    Ok(i) => {
                        self.closes.set(i, close(&bar));
                        self.bars[i] = bar;
                    }
                    Err(i) => {
                        self.closes.insert(i, close(&bar));
                        self.bars.insert(i, bar);
                    }
                }
            }
            _ => {
                self.closes.push(close(&bar));
                self.bars.push(bar);
            }
        }
        // Bounded memory without shifting the window on every bar.
        if self.bars.len() > self.need * 4 {
            let excess = self.bars.len() - self.need;
            self.bars.drain(..excess);
            self.closes.drain_front(excess);
        }
        // A LIVE order fills at its broker, never on our bars.
        if self.s.stage == Stage::Live {
            return;
        }
        let Some(order) = &self.working else { return };
        let Some(decided_on) = order.decision_bar_at else {
            return;
        };
        if instants::add_seconds(decided_on, self.s.timeframe.seconds() as i64) != ts {
            return;
        }
        let Ok(i) = self.bars.binary_search_by_key(&ts, |b| b.ts_open) else {
            return;
        };
        self.fill_working(i, out);
    }

    /// The roll rule: the window starts anew with `contract`'s bars. A PAPER or SHADOW order
    /// decided on the previous contract's bars is cancelled (a LIVE one is its broker's).
    fn roll_to(&mut self, contract: Contract, out: &mut Vec<Effect>) {
        let previous = self.contract.replace(contract);
        self.bars.clear();
        self.closes.clear();
        let Some(previous) = previous else { return };
        if self.s.stage == Stage::Live {
            return;
        }
        if let Some(order) = self.working.take() {
            out.push(Effect::Cancel {
                order_id: order.id,
                reason: format!(
                    "no fill: the front contract rolled from {} to {} before the order's fill bar",
                    previous.code(),
                    contract.code()
                ),
            });
        }
    }

    /// Fills the working order at the open of bar `i` (the bar after its decision bar), or
    /// cancels it when that bar opens outside the session.
    fn fill_working(&mut self, i: usize, out: &mut Vec<Effect>) {
        let Some(order) = self.working.take() else {
            return;
        };
        let next = &self.bars[i];
        let intent = OrderIntent {
            bot_id: self.s.bot_id,
            symbol: self.s.spec.symbol,
            side: order.side,
            quantity: order.quantity,
            reference_price: order.reference_price.unwrap_or(next.open),
            bar_ts: order.decision_bar_at.unwrap_or(next.ts_open),
            idempotency_key: order.idempotency_key.clone(),
        };
        // The execution adapter decides how this stage's order fills (PAPER, and SHADOW's
        // hypothetical book, at this bar's open); the engine never asks which stage it is.
        let executed = execute(
            self.s.stage,
            &intent,
            Some(next),
            &self.s.spec,
            &self.calendar,
            &self.s.sim,
            next.ts_open,
            false,
        );
        let reason = match executed {
            Ok(ExecutionOutcome::Filled(fill)) => {
                out.push(Effect::Fill {
                    order_id: order.id,
                    fill,
                });
                return;
            }
            Ok(ExecutionOutcome::NoFill { reason, .. }) => format!("no fill: {reason}"),
            Ok(other) => format!("unexpected execution outcome {other:?}"),
            Err(e) => e.to_string(),
        };
        out.push(Effect::Cancel {
            order_id: order.id,
            reason,
        });
    }

    /// Cancels the working order when its fill bar can no longer come: it has no decision
    /// bar, a newer bar arrived without it, or two bar lengths passed.
    fn expire_working(&mut self, now: DateTime<Utc>, out: &mut Vec<Effect>) {
        if self.s.stage == Stage::Live {
            return;
        }
        let Some(order) = &self.working else { return };
        let tf = self.s.timeframe.duration();
        let reason = match order.decision_bar_at {
            None => "order has no decision bar",
            Some(decided_on) => {
                let fill_bar = decided_on + tf;
                let newest = self.bars.last().map(|b| b.ts_open);
                if newest.is_some_and(|n| n > fill_bar) || now > fill_bar + tf * 2 {
                    "no fill: the bar after the decision never traded (session ended or data gap)"
                } else {
                    return;
                }
            }
        };
        let id = order.id;
        self.working = None;
        out.push(Effect::Cancel {
            order_id: id,
            reason: reason.to_string(),
        });
    }

    fn on_order_update(&mut self, update: OrderUpdate, out: &mut Vec<Effect>) {
        let roll_fill = self.roll_fill.take();
        match update {
            OrderUpdate::Placed { working } => {
                if let Some(now) = self.now {
                    self.book.order_times.push_back(now);
                }
                self.folding.key = None;
                match (working, roll_fill) {
                    (Some(w), Some(fill)) if w.idempotency_key == fill.idempotency_key => {
                        out.push(Effect::Fill {
                            order_id: w.id,
                            fill,
                        });
                    }
                    (Some(w), _) => self.working = Some(w),
                    (None, _) => {}
                }
            }
            OrderUpdate::AlreadyPlaced {
                decision,
                order_id,
                status,
                working,
            } => {
                if self.working.is_none() {
                    self.working = working;
                }
                let blocker = TraceBlocker {
                    gate: "execution".into(),
                    code: "ORDER_ALREADY_PLACED".into(),
                    reason_human: format!(
                        "This decision's order {order_id} was already placed (status {}); it is never sent or booked twice.",
                        status.as_str()
                    ),
                    suggested_fix: "None needed: the runner restarted and re-derived a decision it had already acted on.".into(),
                };
                let d = *decision;
                let n = NoTrade {
                    suppression_type: "EXECUTION_REFUSED".into(),
                    suppression_decision: d.decision_type.as_str().into(),
                    reason_human: blocker.reason_human.clone(),
                    reason_code: blocker.code.clone(),
                    blocked_by: vec![blocker],
                    signals: d.signals,
                    variables_snapshot: d.variables_snapshot,
                    gate_report: d.gate_report,
                };
                self.suppress(Box::new(n), out);
            }
            OrderUpdate::Refused {
                decision,
                blocked_by,
            } => {
                let d = *decision;
                let n = NoTrade {
                    suppression_type: "GATE_BLOCKED".into(),
                    suppression_decision: d.decision_type.as_str().into(),
                    reason_human: blocked_by
                        .iter()
                        .map(|b| b.reason_human.as_str())
                        .collect::<Vec<_>>()
                        .join(" "),
                    reason_code: blocked_by
                        .first()
                        .map_or(Cow::Borrowed(""), |b| b.code.clone()),
                    blocked_by,
                    signals: d.signals,
                    variables_snapshot: d.variables_snapshot,
                    gate_report: d.gate_report,
                };
                self.suppress(Box::new(n), out);
            }
            OrderUpdate::Cancelled { order_id } => {
                if self.working.as_ref().is_some_and(|w| w.id == order_id) {
                    self.working = None;
                }
            }
        }
    }

    fn suppress(&mut self, n: Box<NoTrade>, out: &mut Vec<Effect>) {
        if self.detail == TraceDetail::Codes {
            // A driver counting codes writes no trace to fold into.
            out.push(Effect::NoTradeCode {
                suppression_type: n.suppression_type,
                reason_code: n.reason_code,
            });
            return;
        }
        let folded = self.folding.fold(&n);
        out.push(Effect::NoTrade {
            no_trade: n,
            folded,
        });
    }

    fn on_clock(&mut self, tick: Tick, out: &mut Vec<Effect>) {
        let now = tick.now;
        self.now = Some(now);
        // Only bars that closed by `now` count (a replayed earlier tick sees its own past).
        if self.bars.last().is_some_and(|b| b.ts_open >= now) {
            let keep = self.bars.partition_point(|b| b.ts_open < now);
            self.bars.truncate(keep);
            self.closes.truncate(keep);
        }
        self.expire_working(now, out);

        let from = self.bars.len().saturating_sub(self.need);
        let bars = &self.bars[from..];
        let closes = self.closes.last(self.need);
        let rolled = self.rolled_from();
        let mark = self.mark();
        let unrealized = mark.map_or(Decimal::ZERO, |m| self.position.unrealized(m));
        let marks = self.book.mark(&self.position, unrealized, now);
        self.equity = marks.equity;
        // Risk counts the working order as if filled (it will be, at the next open).
        let mut projected = self.position.clone();
        if let Some(o) = &self.working {
            projected.quantity += o.side.sign() * i64::from(o.quantity);
        }
        let s = &self.s;
        let gates = GateContext {
            now,
            calendar: &self.calendar,
            spec: &s.spec,
            limits: &s.limits,
            stage: s.stage,
            tier: tick.tier,
            is_trading_enabled: s.is_trading_enabled,
            trading_switch_on: tick.trading_switch_on,
            kill_switch_active: tick.kill_switch_active,
            breaker_open: tick.breaker_open,
            reconciliation_clean: tick.reconciliation_clean,
            last_data_at: bars
                .last()
                .map(|b| instants::add_seconds(b.ts_open, s.timeframe.seconds() as i64)),
            last_price: mark,
            position: projected.quantity,
            order: None,
            daily_pnl: marks.daily_pnl,
            // A breach kills the bot (latched until a human re-arms), so a running bot is
            // never latched.
            daily_loss_latched: false,
            equity: marks.equity,
            peak_equity: marks.peak_equity,
            orders_last_minute: marks.orders_last_minute,
            filters: FilterReadings {
                filters: &s.filters,
                data: &self.filter_data,
                news: &self.news,
            },
            account_risk: self.account_risk.as_ref(),
        };
        let scaled = s.limits.scaled_for(tick.tier);
        let order_quantity = scaled.max_order_size.min(scaled.max_position).max(1);
        let input = EvaluationInput {
            bot_id: s.bot_id,
            config: &s.config,
            config_invalid: self.config_invalid.as_ref(),
            spec: &s.spec,
            bars,
            next_bar: None,
            order_quantity,
            position: if rolled.is_some() {
                &self.position
            } else {
                &projected
            },
            sim: &s.sim,
            gates,
            broker_ready: tick.broker_ready,
        };
        let evaluation = match (rolled, self.contract) {
            (Some(h), Some(to)) => {
                let roll = Roll {
                    from: h.contract,
                    to,
                    last_close: h.last_close,
                    last_bar_at: h.last_bar_at,
                    priced: h.priced,
                    working: self.working.as_ref().map(|w| w.id),
                };
                roll_exit::evaluate(&input, &roll, self.detail)
            }
            _ if self.detail == TraceDetail::Codes => {
                match evaluate_bar_codes(&input, Some(closes)) {
                    Ok(d) => Evaluation::Decision(d),
                    Err(n) => {
                        // Nothing built: the code and the kill triggers are all a counter reads.
                        out.push(Effect::NoTradeCode {
                            suppression_type: Cow::Borrowed(n.suppression_type),
                            reason_code: n.reason_code,
                        });
                        if !n.kill_triggers.is_empty() {
                            out.push(Effect::Kill(n.kill_triggers));
                        }
                        return;
                    }
                }
            }
            _ => match evaluate_bar_parts(&input, Some(closes), self.detail) {
                Ok(d) => Evaluation::Decision(d),
                Err(n) => Evaluation::NoTrade(n.into_no_trade()),
            },
        };
        if let Evaluation::Decision(d) = &evaluation
            && rolled.is_some()
            && let ExecutionOutcome::Filled(fill) = &d.execution
        {
            self.roll_fill = Some(fill.clone());
        }
        let kills = &evaluation.gate_report().kill_triggers;
        let kills = (!kills.is_empty()).then(|| kills.clone());
        match evaluation {
            Evaluation::Decision(d) => out.push(Effect::Decision(d)),
            Evaluation::NoTrade(n) => self.suppress(n, out),
        }
        if let Some(kills) = kills {
            out.push(Effect::Kill(kills));
        }
    }
}
