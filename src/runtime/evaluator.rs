//! One bot's trading loop (DESIGN.md "One evaluation"), driven by its BotRunner on every bar:
//! read bars through the feed → fill a working PAPER order at the new bar's open → evaluate the
//! strategy and every gate (`domain::evaluation`) → end in exactly one decision trace (booked
//! with its order, once per idempotency key) or one no-trade trace (folded when identical to
//! the previous one) → fire kill triggers.
//!
//! Everything the gates need lives here in memory and is rebuilt from Postgres when a runner
//! starts: the position is replayed from the bot's fills, working orders are picked up again,
//! the order-rate window is read back, and folding resumes into the latest no-trade row.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use super::RuntimeHandle;
use super::feed::{BarFeed, FeedRequest};
use super::trace_writer::{NoTradeOp, TraceSender};
use crate::bus::{EventBus, TraceKind, TraceSummary};
use crate::clock::Clock;
use crate::domain::{
    bars::Bar,
    calendar::{HolidayCalendar, trade_date},
    evaluation::{Evaluation, EvaluationInput, NoTrade, TraceBlocker, evaluate_bar, fold_key},
    execution::{ExecutionOutcome, OrderIntent, OrderStatus, OrderType, SimParams, execute},
    instruments::{ContractSpec, Symbol},
    positions::Position,
    risk::{AutonomyTier, GateContext, RiskLimits, Stage},
    strategy_config::StrategyConfig,
    timeframe::Timeframe,
};
use crate::integrations::{bars, http::CallContext};
use crate::store::{
    bots, fills,
    orders::{self, NewOrder, Order, Placed},
    system_events::{NewSystemEvent, Severity},
    traces::{self, NewDecisionTrace, NoTradeTrace},
};
use crate::trace::TraceId;

/// What every runner shares.
pub struct Trading {
    pub pool: PgPool,
    pub feed: BarFeed,
    pub calendar: Arc<HolidayCalendar>,
    pub sim: SimParams,
    pub traces: TraceSender,
    /// Mirror of the global kill switch (`settings`), set by the API and restored on start.
    pub kill_switch: AtomicBool,
    /// Ticks runners skipped because a newer one was already queued (they fell behind).
    pub skipped_ticks: AtomicU64,
    /// Evaluations completed (each left exactly one trace, or queued one for the writer).
    pub evaluations: AtomicU64,
    /// Live events: a summary of every new trace (folds are not repeated).
    pub bus: EventBus,
    /// Stamps orders and traces (the bar being evaluated is the tick's boundary).
    pub clock: Clock,
}

/// Counters of the trading loop, for status and the load figures.
#[derive(Debug, Clone, Copy, Default, serde::Serialize, utoipa::ToSchema)]
pub struct TradingStats {
    pub evaluations: u64,
    pub skipped_ticks: u64,
    pub no_trade_rows_inserted: u64,
    pub no_trade_folds: u64,
    pub trace_batches_failed: u64,
}

impl Trading {
    pub fn stats(&self) -> TradingStats {
        let s = &self.traces.stats;
        TradingStats {
            evaluations: self.evaluations.load(Ordering::Relaxed),
            skipped_ticks: self.skipped_ticks.load(Ordering::Relaxed),
            no_trade_rows_inserted: s.inserted.load(Ordering::Relaxed),
            no_trade_folds: s.folded.load(Ordering::Relaxed),
            trace_batches_failed: s.failed_batches.load(Ordering::Relaxed),
        }
    }
}

/// The tier of a bot the autonomy scorer has not scored yet (it scores every bot when the
/// runtime starts and a new one within its period): the lowest tier that may trade at all,
/// PAPER only (SHADOW and LIVE need LIMITED_AUTONOMY).
pub const UNSCORED_TIER: AutonomyTier = AutonomyTier::Supervised;

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("bot {0} does not exist")]
    NoBot(Uuid),
    #[error("bot {0}: {1}")]
    Invalid(Uuid, String),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// What one evaluation ended in (for the runner's status and tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Decided,
    Suppressed { gate_blocked: bool },
    Killed,
}

struct Settings {
    symbol: Symbol,
    spec: ContractSpec,
    stage: Stage,
    config: StrategyConfig,
    limits: RiskLimits,
    is_trading_enabled: bool,
}

pub struct BotEvaluator {
    bot_id: Uuid,
    run_id: Uuid,
    timeframe: Timeframe,
    s: Settings,
    tier: AutonomyTier,
    position: Position,
    /// The PAPER order waiting for the next bar's open.
    working: Option<Order>,
    /// Trading date of `day_baseline`, and net realized PnL when it began.
    day: Option<NaiveDate>,
    day_baseline: Decimal,
    peak_equity: Decimal,
    order_times: VecDeque<DateTime<Utc>>,
    /// Latest no-trade row and its fold key, while no decision came after it.
    fold: Option<(Uuid, String)>,
    bars: Vec<Bar>,
}

fn settings(bot: &bots::Bot, timeframe: Timeframe) -> Result<Settings, String> {
    let (symbol, stage) = (bot.symbol, bot.stage);
    let config: StrategyConfig =
        serde_json::from_value(bot.strategy.clone()).map_err(|e| format!("strategy: {e}"))?;
    let limits = RiskLimits::from_stored(&bot.risk_limits, timeframe)?;
    Ok(Settings {
        symbol,
        spec: symbol.spec(),
        stage,
        config,
        limits,
        is_trading_enabled: bot.is_trading_enabled,
    })
}

impl BotEvaluator {
    /// Loads the bot and rebuilds its trading state from Postgres.
    pub async fn load(
        pool: &PgPool,
        bot_id: Uuid,
        run_id: Uuid,
        timeframe: Timeframe,
        now: DateTime<Utc>,
    ) -> Result<Self, LoadError> {
        let bot = bots::get(pool, bot_id)
            .await?
            .ok_or(LoadError::NoBot(bot_id))?;
        let s = settings(&bot, timeframe).map_err(|e| LoadError::Invalid(bot_id, e))?;
        let mut position = Position::flat(s.symbol);
        let today = trade_date(now);
        let mut day_baseline = Decimal::ZERO;
        let mut peak_equity = Decimal::ZERO;
        for f in fills::for_bot(pool, bot_id, s.symbol).await? {
            let quantity = u32::try_from(f.quantity).unwrap_or(0);
            position.apply_fill(f.side, quantity, f.price, f.commission);
            // Equity marked at each fill: the best peak the ledger can prove.
            peak_equity = peak_equity.max(position.total_pnl(f.price));
            if trade_date(f.filled_at) < today {
                day_baseline = position.net_realized();
            }
        }
        let working = orders::working(pool, bot_id)
            .await?
            .into_iter()
            .rev()
            .find(|o| o.stage == Stage::Paper);
        let order_times = orders::placed_since(pool, bot_id, now - Duration::seconds(60)).await?;
        let fold = traces::foldable_no_trade(pool, bot_id)
            .await?
            .map(|t| (t.id, fold_key_of_row(&t)));
        Ok(BotEvaluator {
            bot_id,
            run_id,
            timeframe,
            s,
            tier: UNSCORED_TIER,
            position,
            working,
            day: Some(today),
            day_baseline,
            peak_equity,
            order_times: order_times.into(),
            fold,
            bars: Vec::new(),
        })
    }

    /// Re-reads the bot row (stage, limits, strategy, trading switch changed by an operator).
    pub async fn reload(&mut self, pool: &PgPool) -> Result<(), LoadError> {
        let bot = bots::get(pool, self.bot_id)
            .await?
            .ok_or(LoadError::NoBot(self.bot_id))?;
        self.s = settings(&bot, self.timeframe).map_err(|e| LoadError::Invalid(self.bot_id, e))?;
        Ok(())
    }

    pub fn position(&self) -> &Position {
        &self.position
    }

    /// One evaluation for the bar that closed at `boundary`.
    pub async fn on_bar(
        &mut self,
        trading: &Trading,
        rt: &RuntimeHandle,
        boundary: DateTime<Utc>,
    ) -> Result<Outcome, sqlx::Error> {
        let trace = TraceId::generate();
        let outcome = trace
            .clone()
            .scope(self.evaluate(trading, rt, boundary, trace))
            .await?;
        trading.evaluations.fetch_add(1, Ordering::Relaxed);
        Ok(outcome)
    }

    async fn evaluate(
        &mut self,
        trading: &Trading,
        rt: &RuntimeHandle,
        now: DateTime<Utc>,
        trace: TraceId,
    ) -> Result<Outcome, sqlx::Error> {
        self.tier = rt.tiers().get(self.bot_id).unwrap_or(UNSCORED_TIER);
        let need = self.s.config.warmup_bars() as usize + 2;
        let ctx = CallContext {
            bot_id: Some(self.bot_id),
            run_id: Some(self.run_id),
        };
        if let Some(provider) = bars::feed_provider(&rt.integrations()) {
            let request = FeedRequest {
                provider,
                instrument: self.s.symbol,
                timeframe: self.timeframe,
                until: now,
                need,
                ctx,
            };
            let read = trading.feed.read(rt, &request).await;
            match read {
                Ok(bars) => merge_bars(&mut self.bars, bars, now, need),
                // Keep the last bars: the freshness gate says how old they are.
                Err(err) => tracing::debug!(bot = %self.bot_id, error = %err, "bar read failed"),
            }
        }
        self.fill_working(trading, now).await?;

        let mark = self.bars.last().map(|b| b.close);
        let tf = self.timeframe.duration();
        if self.day != Some(trade_date(now)) {
            self.day = Some(trade_date(now));
            self.day_baseline = self.position.net_realized();
        }
        let unrealized = mark.map_or(Decimal::ZERO, |m| self.position.unrealized(m));
        let equity = self.position.net_realized() + unrealized;
        self.peak_equity = self.peak_equity.max(equity);
        while self
            .order_times
            .front()
            .is_some_and(|t| *t <= now - Duration::seconds(60))
        {
            self.order_times.pop_front();
        }
        // Risk counts the working order as if filled (it will be, at the next open).
        let mut projected = self.position.clone();
        if let Some(o) = &self.working {
            projected.quantity += o.side.sign() * i64::from(o.quantity);
        }
        let gates = GateContext {
            now,
            calendar: &trading.calendar,
            spec: &self.s.spec,
            limits: &self.s.limits,
            stage: self.s.stage,
            tier: self.tier,
            is_trading_enabled: self.s.is_trading_enabled,
            kill_switch_active: trading.kill_switch.load(Ordering::Acquire),
            breaker_open: rt.bot_breaker_open(self.bot_id),
            last_data_at: self.bars.last().map(|b| b.ts_open + tf),
            last_price: mark,
            position: projected.quantity,
            order: None,
            daily_pnl: self.position.net_realized() - self.day_baseline + unrealized,
            // A breach kills the bot (latched until a human re-arms), so a running bot is
            // never latched.
            daily_loss_latched: false,
            equity,
            peak_equity: self.peak_equity,
            orders_last_minute: u32::try_from(self.order_times.len()).unwrap_or(u32::MAX),
        };
        let scaled = self.s.limits.scaled_for(self.tier);
        let order_quantity = scaled.max_order_size.min(scaled.max_position).max(1);
        let input = EvaluationInput {
            bot_id: self.bot_id,
            config: &self.s.config,
            spec: &self.s.spec,
            bars: &self.bars,
            next_bar: None,
            order_quantity,
            position: &projected,
            sim: &trading.sim,
            gates,
        };
        let evaluation = evaluate_bar(&input);
        let kills = evaluation.gate_report().kill_triggers.clone();
        let outcome = match evaluation {
            Evaluation::Decision(d) => self.decide(trading, *d, now, &trace).await?,
            Evaluation::NoTrade(n) => {
                let gate_blocked = n.suppression_type == "GATE_BLOCKED";
                self.suppress(trading, &n, &trace).await;
                Outcome::Suppressed { gate_blocked }
            }
        };
        if !kills.is_empty() {
            let reason = kills
                .iter()
                .map(|k| k.reason_human.as_str())
                .collect::<Vec<_>>()
                .join(" ");
            rt.telemetry().system_event(
                NewSystemEvent::new(
                    Severity::Sev1,
                    "RISK_KILL_TRIGGER",
                    format!("bot {}: {reason}", self.bot_id),
                )
                .bot(self.bot_id)
                .metadata(json!({ "kill_triggers": kills })),
            );
            rt.kill(self.bot_id, &reason);
            return Ok(Outcome::Killed);
        }
        Ok(outcome)
    }

    /// Fills the working PAPER order at the open of the bar right after its decision bar, or
    /// cancels it when that bar will never come inside the session.
    async fn fill_working(
        &mut self,
        trading: &Trading,
        now: DateTime<Utc>,
    ) -> Result<(), sqlx::Error> {
        let Some(order) = self.working.clone() else {
            return Ok(());
        };
        let tf = self.timeframe.duration();
        let Some(decided_on) = order.decision_bar_at else {
            return self
                .cancel_working(trading, &order, "order has no decision bar", now)
                .await;
        };
        let fill_bar = decided_on + tf;
        let next = self.bars.iter().find(|b| b.ts_open == fill_bar).cloned();
        let Some(next) = next else {
            let newest = self.bars.last().map(|b| b.ts_open);
            if newest.is_some_and(|n| n > fill_bar) || now > fill_bar + tf * 2 {
                let reason =
                    "no fill: the bar after the decision never traded (session ended or data gap)";
                return self.cancel_working(trading, &order, reason, now).await;
            }
            return Ok(());
        };
        let side = order.side;
        let intent = OrderIntent {
            bot_id: self.bot_id,
            symbol: self.s.symbol,
            side,
            quantity: u32::try_from(order.quantity).unwrap_or(0),
            reference_price: order.reference_price.unwrap_or(next.open),
            bar_ts: decided_on,
            idempotency_key: order.idempotency_key.clone(),
        };
        let executed = execute(
            Stage::Paper,
            &intent,
            Some(&next),
            &self.s.spec,
            &trading.calendar,
            &trading.sim,
            now,
        );
        match executed {
            Ok(ExecutionOutcome::Filled(fill)) => {
                let before = self.position.clone();
                let mut after = before.clone();
                let realized = after.apply_fill(side, fill.quantity, fill.price, fill.commission);
                let booked = fills::book(
                    &trading.pool,
                    fills::FillBooking {
                        order: &order,
                        side,
                        quantity: fill.quantity,
                        price: fill.price,
                        commission: fill.commission,
                        filled_at: fill.filled_at,
                        simulated: true,
                        before: &before,
                        after: &after,
                        realized,
                    },
                )
                .await?;
                if let fills::Booked::Filled { .. } = booked {
                    self.position = after;
                }
                self.working = None;
                Ok(())
            }
            Ok(ExecutionOutcome::NoFill { reason, .. }) => {
                self.cancel_working(trading, &order, &format!("no fill: {reason}"), now)
                    .await
            }
            Ok(other) => {
                let reason = format!("unexpected PAPER execution outcome {other:?}");
                self.cancel_working(trading, &order, &reason, now).await
            }
            Err(e) => {
                self.cancel_working(trading, &order, &e.to_string(), now)
                    .await
            }
        }
    }

    async fn cancel_working(
        &mut self,
        trading: &Trading,
        order: &Order,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<(), sqlx::Error> {
        orders::cancel(&trading.pool, order.id, reason, now).await?;
        self.working = None;
        Ok(())
    }

    async fn decide(
        &mut self,
        trading: &Trading,
        d: crate::domain::evaluation::Decision,
        now: DateTime<Utc>,
        trace: &TraceId,
    ) -> Result<Outcome, sqlx::Error> {
        let status = match d.execution {
            ExecutionOutcome::AwaitingNextBar => OrderStatus::Working,
            ExecutionOutcome::WouldSend { .. } => OrderStatus::Recorded,
            // evaluate_bar is called without a next bar: PAPER always awaits it.
            ExecutionOutcome::Filled(_) | ExecutionOutcome::NoFill { .. } => OrderStatus::Working,
        };
        let mut risk_snapshot = d.risk_snapshot.clone();
        if let Value::Object(m) = &mut risk_snapshot {
            m.insert("execution".into(), json!(d.execution));
            m.insert("tier".into(), json!(self.tier.as_str()));
        }
        let order = NewOrder {
            bot_id: self.bot_id,
            run_id: Some(self.run_id),
            decision_trace_id: None,
            idempotency_key: d.order.idempotency_key.clone(),
            symbol: self.s.symbol,
            side: d.order.side,
            quantity: i32::try_from(d.order.quantity).unwrap_or(i32::MAX),
            order_type: OrderType::Market,
            limit_price: None,
            stop_price: None,
            stage: self.s.stage,
            status,
            decision_bar_at: Some(d.order.bar_ts),
            reference_price: Some(d.order.reference_price),
        };
        let decision = NewDecisionTrace {
            bot_id: self.bot_id,
            run_id: Some(self.run_id),
            trade_log_id: None,
            decision_type: d.decision_type,
            reason_human: d.reason_human.clone(),
            reason_code: d.reason_code.clone(),
            signals: d.signals.clone(),
            variables_snapshot: d.variables_snapshot.clone(),
            confidence: d.confidence,
            expected_value: d.expected_value,
            risk_snapshot,
            trace_id: trace.clone(),
        };
        let reason_code = d.reason_code.clone();
        match orders::place(&trading.pool, order, decision, trading.clock.now()).await? {
            Placed::New { order, trace: row } => {
                trading.bus.publish_trace(TraceSummary {
                    bot_id: self.bot_id,
                    run_id: Some(self.run_id),
                    kind: TraceKind::Decision,
                    reason_code,
                    blocked_codes: Vec::new(),
                    trace_id: row.trace_id.clone(),
                    at: row.created_at,
                });
                self.order_times.push_back(now);
                self.fold = None;
                if order.status == OrderStatus::Working {
                    self.working = Some(order);
                }
                Ok(Outcome::Decided)
            }
            Placed::Existing(order) => {
                if order.status == OrderStatus::Working && self.working.is_none() {
                    self.working = Some(order.clone());
                }
                let blocker = TraceBlocker {
                    gate: "execution".into(),
                    code: "ORDER_ALREADY_PLACED".into(),
                    reason_human: format!(
                        "This decision's order {} was already placed (status {}); it is never sent or booked twice.",
                        order.id,
                        order.status.as_str()
                    ),
                    suggested_fix: "None needed: the runner restarted and re-derived a decision it had already acted on.".into(),
                };
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
                self.suppress(trading, &n, trace).await;
                Ok(Outcome::Suppressed {
                    gate_blocked: false,
                })
            }
        }
    }

    async fn suppress(&mut self, trading: &Trading, n: &NoTrade, trace: &TraceId) {
        let key = n.fold_key();
        let at = trading.clock.now();
        let op = match &self.fold {
            Some((id, k)) if *k == key => NoTradeOp::Fold { id: *id, at },
            _ => {
                let id = Uuid::now_v7();
                self.fold = Some((id, key));
                // Only new suppressions go live: folds repeat on every bar.
                trading.bus.publish_trace(TraceSummary {
                    bot_id: self.bot_id,
                    run_id: Some(self.run_id),
                    kind: TraceKind::NoTrade,
                    reason_code: n.reason_code.clone(),
                    blocked_codes: n.blocked_by.iter().map(|b| b.code.clone()).collect(),
                    trace_id: trace.as_str().to_owned(),
                    at,
                });
                NoTradeOp::Insert(Box::new(NoTradeTrace {
                    id,
                    bot_id: self.bot_id,
                    run_id: Some(self.run_id),
                    created_at: at,
                    last_seen_at: at,
                    count: 1,
                    suppression_type: n.suppression_type.clone(),
                    suppression_decision: n.suppression_decision.clone(),
                    reason_human: n.reason_human.clone(),
                    reason_code: n.reason_code.clone(),
                    blocked_by: serde_json::to_value(&n.blocked_by).unwrap_or_default(),
                    signals: n.signals.clone(),
                    variables_snapshot: n.variables_snapshot.clone(),
                    trace_id: trace.as_str().to_owned(),
                }))
            }
        };
        if !trading.traces.send(op).await {
            tracing::error!(bot = %self.bot_id, "no-trade trace writer is gone");
        }
    }
}

/// Adds newly read bars to the ones the runner holds: a read across a halt returns nothing, and
/// the bars from before it are still the newest data (the freshness gate reports their age).
fn merge_bars(own: &mut Vec<Bar>, read: Vec<Bar>, until: DateTime<Utc>, keep: usize) {
    own.retain(|b| b.ts_open < until);
    for bar in read {
        match own.iter_mut().find(|b| b.ts_open == bar.ts_open) {
            Some(held) => *held = bar,
            None => own.push(bar),
        }
    }
    own.sort_by_key(|b| b.ts_open);
    let excess = own.len().saturating_sub(keep);
    own.drain(..excess);
}

/// The fold key of a stored row, as [`NoTrade::fold_key`] computes it for a new one.
fn fold_key_of_row(t: &NoTradeTrace) -> String {
    fold_key(
        &t.suppression_type,
        &t.suppression_decision,
        traces::blocked_codes(&t.blocked_by).into_iter(),
    )
}
