//! The roll exit: a position is never carried from one contract into the next. Once the
//! engine's window holds the new front contract's bars (the roll, `domain::contracts`) while
//! the bot still holds a position on the old one, its evaluation is this one instead of the
//! strategy's: one EXIT order on the old contract (`decision_bar_at` = the old contract's
//! last bar, so a LIVE order resolves to the contract held, not to the new front one), through
//! every gate like any order. PAPER and SHADOW fill it at once at the old contract's last
//! close moved by the fill model (its next bar never reaches the bot); LIVE sends it. Until
//! the position is flat the bot is marked at that last close, never at the new contract's
//! prices (no fake PnL jump), and the strategy trades the new contract by its own rule
//! afterwards. Backtests, PAPER, SHADOW and LIVE run this same step.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use uuid::Uuid;

use super::contracts::Contract;
use super::evaluation::{
    Decision, DecisionType, Evaluation, EvaluationInput, Signals, TraceBlocker, TraceDetail,
    Variables, execution_blocker, no_trade_of,
};
use super::execution::{
    ExecutionOutcome, OrderIntent, SimFill, execute, paper_fill_price, roll_exit_key,
};
use super::risk::{GateReport, ProposedOrder, Stage, evaluate_gates};
use super::side::Side;
use super::strategies::Signal;
use crate::error_code::ErrorCode;

/// The decision's reason code.
pub const ROLL_EXIT: &str = "ROLL_EXIT";
/// The no-trade code while the roll exit (or an order from before the roll) still works.
pub const ROLL_EXIT_WORKING: &str = "ROLL_EXIT_WORKING";

/// A position held on `from` while the window holds `to`'s bars.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Roll {
    pub from: Contract,
    pub to: Contract,
    /// The latest bar of `from` the bot saw: its close marks the position and prices the exit.
    pub last_close: Decimal,
    pub last_bar_at: DateTime<Utc>,
    /// `last_close` is a bar's close of `from`; `false` when the only price known is the fill
    /// a restored position started from (a PAPER or SHADOW exit is then not filled: never at
    /// a made-up price; a LIVE one is priced by its broker).
    pub priced: bool,
    /// The bot's order still working (nothing new is decided until it is done).
    pub working: Option<Uuid>,
}

/// The evaluation of a bot holding a position across `roll`: the roll exit, or a no-trade
/// naming what holds it back. The gates read the held contract's last close as the last price.
pub fn evaluate(input: &EvaluationInput<'_>, roll: &Roll, detail: TraceDetail) -> Evaluation {
    let full = detail == TraceDetail::Full;
    let current = input.position.quantity;
    let side = if current > 0 { Side::Sell } else { Side::Buy };
    let (from, to) = (roll.from.code(), roll.to.code());
    let reason = if full {
        format!(
            "The front contract rolled from {from} to {to}: the position of {current} on {from} is closed at its last price {} (a position is never carried into the next contract; the strategy trades {to} by its own rule once flat).",
            roll.last_close
        )
    } else {
        String::new()
    };
    let signals = Signals::Read {
        strategy: input.config.kind(),
        signal: Signal::Flat,
        confidence: 1.0,
        expected_value_ticks: 0.0,
        current_position: current,
        reason: reason.clone(),
    };
    let mut ctx = input.gates.clone();
    ctx.position = current;
    ctx.last_price = Some(roll.last_close);
    let text = |s: String| if full { s } else { String::new() };

    if let Some(order_id) = roll.working {
        ctx.order = None;
        let blocker = TraceBlocker {
            gate: "execution".into(),
            code: ROLL_EXIT_WORKING.into(),
            reason_human: text(format!(
                "The bot's order {order_id} still works; the position of {current} on {from} is closed once it is done."
            )),
            suggested_fix: text(
                "None needed: the exit follows when the order fills or is cancelled.".into(),
            ),
        };
        return no_trade(
            "EXECUTION_REFUSED",
            vec![blocker],
            signals,
            evaluate_gates(&ctx),
            full,
        );
    }

    // One order of at most the bot's order size: a larger position exits over several bars.
    let max_order = input
        .gates
        .limits
        .scaled_for(input.gates.tier)
        .max_order_size;
    let quantity = u32::try_from(current.unsigned_abs())
        .unwrap_or(u32::MAX)
        .min(max_order.max(1));
    ctx.order = Some(ProposedOrder {
        side,
        quantity,
        price: roll.last_close,
    });
    let report = evaluate_gates(&ctx);
    if !report.blockers.is_empty() {
        let mut blocked_by: Vec<TraceBlocker> =
            report.blockers.iter().map(TraceBlocker::from).collect();
        blocked_by.push(TraceBlocker {
            gate: "signal".into(),
            code: ROLL_EXIT.into(),
            reason_human: reason,
            suggested_fix: text("Clear the gates above: the exit is tried again at every bar (or kill and flatten the bot).".into()),
        });
        return no_trade("GATE_BLOCKED", blocked_by, signals, report, full);
    }

    let intent = OrderIntent {
        bot_id: input.bot_id,
        symbol: input.spec.symbol,
        side,
        quantity,
        reference_price: roll.last_close,
        bar_ts: roll.last_bar_at,
        idempotency_key: roll_exit_key(input.bot_id, roll.from, input.gates.now, side),
    };
    let execution = match input.gates.stage {
        Stage::Paper | Stage::Shadow if !roll.priced => {
            let b = TraceBlocker {
                gate: "execution".into(),
                code: ErrorCode::DataUnavailable.as_str().into(),
                reason_human: text(format!(
                    "No bar of {from} is known to price the exit at (the position was restored from its fills after the roll and no {from} bar is stored): a simulated exit is never filled at a made-up price."
                )),
                suggested_fix: text(format!(
                    "Store {from}'s last bars (a backtest over its last session fetches them): the exit is tried again at every bar."
                )),
            };
            return no_trade("EXECUTION_REFUSED", vec![b], signals, report, full);
        }
        // The old contract's next bar never reaches the bot: fill at its last close.
        Stage::Paper | Stage::Shadow => Ok(ExecutionOutcome::Filled(SimFill {
            idempotency_key: intent.idempotency_key.clone(),
            side,
            quantity,
            price: paper_fill_price(side, roll.last_close, input.spec, input.sim),
            commission: input.sim.commission_per_contract * Decimal::from(quantity),
            filled_at: input.gates.now,
        })),
        stage => execute(
            stage,
            &intent,
            None,
            input.spec,
            input.gates.calendar,
            input.sim,
            input.gates.now,
            input.broker_ready,
        ),
    };
    let execution = match execution {
        Ok(x) => x,
        Err(e) => {
            let b = execution_blocker(&e);
            return no_trade("EXECUTION_REFUSED", vec![b], signals, report, full);
        }
    };
    Evaluation::Decision(Box::new(Decision {
        decision_type: DecisionType::Exit,
        reason_human: text(format!(
            "EXIT {} {quantity} {}: {reason}",
            side.as_str(),
            input.spec.symbol.as_str()
        )),
        reason_code: ROLL_EXIT.into(),
        signals,
        variables_snapshot: Variables::new(),
        confidence: 1.0,
        expected_value: 0.0,
        order: intent,
        execution,
        gate_report: report,
    }))
}

fn no_trade(
    suppression_type: &'static str,
    blocked_by: Vec<TraceBlocker>,
    signals: Signals,
    report: GateReport,
    full: bool,
) -> Evaluation {
    let kind = (suppression_type, DecisionType::Exit.as_str());
    no_trade_of(kind, blocked_by, signals, Variables::new(), report, full)
}
