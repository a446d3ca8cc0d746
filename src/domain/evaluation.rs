//! One evaluation of a bot on a closed bar: strategy → every gate → (stage-dependent) execution,
//! ending in exactly one `Decision` or one `NoTrade`, shaped like the SPEC §6 `decision_traces`
//! and `no_trade_traces` rows (jsonb parts as `serde_json::Value`).
//!
//! Sizing: a signal's direction times `order_quantity` is the target position; the order is the
//! difference from the current position (so a flip is one order of twice the size).

use super::bars::Bar;
use super::execution::{ExecutionError, ExecutionOutcome, OrderIntent, SimParams, execute};
use super::indicators::Window;
use super::instruments::ContractSpec;
use super::positions::Position;
use super::risk::{
    Blocker, GateContext, GateReport, KillTrigger, ProposedOrder, evaluate_gates_for,
};
use super::side::Side;
pub use super::strategies::TraceDetail;
use super::strategies::{Signal, StrategyError, StrategyOutput, evaluate_with};
use super::strategy_config::{FieldError, StrategyConfig};
use serde::Serialize;
use serde_json::Value;
use std::borrow::Cow;
use std::collections::BTreeMap;
use uuid::Uuid;

/// What the strategy read and said, typed: the live runner renders it as the traces' `signals`
/// column ([`Signals::to_json`]); the backtester never serialises it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Signals {
    Read {
        strategy: &'static str,
        signal: Signal,
        confidence: f64,
        expected_value_ticks: f64,
        current_position: i64,
        reason: String,
    },
    Failed {
        strategy: &'static str,
        error: String,
        current_position: i64,
    },
}

impl Signals {
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// Every declared variable with the value read (empty when the strategy failed); the traces'
/// `variables_snapshot` column is its JSON object.
pub type Variables = BTreeMap<&'static str, f64>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DecisionType {
    Entry,
    Exit,
    Adjust,
}

impl DecisionType {
    pub const ALL: [DecisionType; 3] = [
        DecisionType::Entry,
        DecisionType::Exit,
        DecisionType::Adjust,
    ];

    pub fn parse(raw: &str) -> Option<DecisionType> {
        DecisionType::ALL.into_iter().find(|d| d.as_str() == raw)
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            DecisionType::Entry => "ENTRY",
            DecisionType::Exit => "EXIT",
            DecisionType::Adjust => "ADJUST",
        }
    }
}

/// Inputs of one evaluation. `gates.order` and `gates.position` are ignored: they are derived
/// here from the signal and `position`.
#[derive(Debug, Clone)]
pub struct EvaluationInput<'a> {
    pub bot_id: Uuid,
    pub config: &'a StrategyConfig,
    /// What `config.validate()` found, checked once when the config was set (not per bar).
    pub config_invalid: Option<&'a FieldError>,
    pub spec: &'a ContractSpec,
    /// Completed bars, oldest first; the last one is the bar being decided on.
    pub bars: &'a [Bar],
    /// The bar after it, when known (PAPER fills at its open).
    pub next_bar: Option<&'a Bar>,
    /// Contracts per unit of signal.
    pub order_quantity: u32,
    pub position: &'a Position,
    pub sim: &'a SimParams,
    pub gates: GateContext<'a>,
    /// A LIVE order has a logged-in broker session to go to.
    pub broker_ready: bool,
}

/// One entry of `blocked_by`: a gate, or the strategy itself (`gate = "signal"`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TraceBlocker {
    // Static names and codes are borrowed, not copied, on every evaluation.
    #[schema(value_type = String)]
    pub gate: Cow<'static, str>,
    #[schema(value_type = String)]
    pub code: Cow<'static, str>,
    pub reason_human: String,
    pub suggested_fix: String,
}

impl From<&Blocker> for TraceBlocker {
    fn from(b: &Blocker) -> Self {
        TraceBlocker {
            gate: b.gate.as_str().into(),
            code: b.code.as_str().into(),
            reason_human: b.reason_human.clone(),
            suggested_fix: b.suggested_fix.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    pub decision_type: DecisionType,
    pub reason_human: String,
    pub reason_code: String,
    pub signals: Signals,
    pub variables_snapshot: Variables,
    pub confidence: f64,
    /// Ticks per contract (see `strategies`).
    pub expected_value: f64,
    pub order: OrderIntent,
    pub execution: ExecutionOutcome,
    pub gate_report: GateReport,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NoTrade {
    /// `GATE_BLOCKED`, `NO_SIGNAL`, `INSUFFICIENT_HISTORY`, `STRATEGY_ERROR`, `EXECUTION_REFUSED`.
    pub suppression_type: Cow<'static, str>,
    /// What was suppressed: `ENTRY`/`EXIT`/`ADJUST`, or `NONE` when the strategy wanted nothing.
    pub suppression_decision: Cow<'static, str>,
    pub reason_human: String,
    pub reason_code: Cow<'static, str>,
    pub blocked_by: Vec<TraceBlocker>,
    pub signals: Signals,
    pub variables_snapshot: Variables,
    pub gate_report: GateReport,
}

impl Decision {
    /// The gate report as the decision trace's `risk_snapshot` column.
    pub fn risk_snapshot(&self) -> Value {
        serde_json::to_value(&self.gate_report).unwrap_or(Value::Null)
    }
}

impl NoTrade {
    /// Identical consecutive suppressions share this key and may be folded into one row.
    pub fn fold_key(&self) -> String {
        let mut key = String::new();
        self.write_fold_key(&mut key);
        key
    }

    /// Appends [`NoTrade::fold_key`] to `out`.
    pub fn write_fold_key(&self, out: &mut String) {
        write_fold_key(
            out,
            &self.suppression_type,
            &self.suppression_decision,
            self.blocked_by.iter().map(|b| &*b.code),
        );
    }
}

/// What makes two suppressions identical: type, suppressed decision and blocker codes (the
/// human text may differ, e.g. a data age that grows every bar).
pub fn fold_key<'a>(
    suppression_type: &str,
    suppression_decision: &str,
    codes: impl Iterator<Item = &'a str>,
) -> String {
    let mut key = String::new();
    write_fold_key(&mut key, suppression_type, suppression_decision, codes);
    key
}

/// Appends [`fold_key`] to `out` (a driver comparing keys reuses one buffer).
pub fn write_fold_key<'a>(
    out: &mut String,
    suppression_type: &str,
    suppression_decision: &str,
    codes: impl Iterator<Item = &'a str>,
) {
    out.push_str(suppression_type);
    out.push('|');
    out.push_str(suppression_decision);
    out.push('|');
    for (i, code) in codes.enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(code);
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Evaluation {
    Decision(Box<Decision>),
    NoTrade(Box<NoTrade>),
}

impl Evaluation {
    /// Kill triggers and the daily-loss latch to store back live here for either outcome.
    pub fn gate_report(&self) -> &GateReport {
        match self {
            Evaluation::Decision(d) => &d.gate_report,
            Evaluation::NoTrade(n) => &n.gate_report,
        }
    }
}

fn signal_blocker(code: &'static str, reason: String, fix: &str) -> TraceBlocker {
    TraceBlocker {
        gate: "signal".into(),
        code: code.into(),
        reason_human: reason,
        suggested_fix: fix.into(),
    }
}

/// Runs one evaluation; never fails: every failure is a `NoTrade` naming why.
pub fn evaluate_bar(input: &EvaluationInput<'_>) -> Evaluation {
    evaluate_bar_with(input, None, TraceDetail::Full)
}

/// [`evaluate_bar`] reading `closes` (one per bar of `input.bars`, see
/// [`super::strategies::evaluate_with`]) and building `detail`: with `Codes` the outcome, its
/// codes, blockers and order are the same, only the human texts and the variables snapshot are
/// left empty (a gate's own blocker texts are kept: they are built only when it blocks).
pub fn evaluate_bar_with(
    input: &EvaluationInput<'_>,
    closes: Option<Window<'_>>,
    detail: TraceDetail,
) -> Evaluation {
    match evaluate_bar_parts(input, closes, detail) {
        Ok(d) => Evaluation::Decision(d),
        Err(s) => Evaluation::NoTrade(s.into_no_trade()),
    }
}

/// A no-trade before its trace is built: what [`evaluate_bar_with`] boxes into a [`NoTrade`].
/// A driver that only counts no-trades by code gets [`NoTradeCodes`] instead
/// ([`evaluate_bar_codes`]).
#[derive(Debug)]
pub struct Suppression {
    /// `(suppression type, suppressed decision)`.
    kind: (&'static str, &'static str),
    report: GateReport,
    /// The blocker after the gates' own: the strategy's (`gate = "signal"`) or the
    /// execution's refusal.
    last: Option<TraceBlocker>,
    signals: Signals,
    variables: Variables,
    full: bool,
}

impl Suppression {
    /// The no-trade's reason code: [`NoTrade::reason_code`] of [`Suppression::into_no_trade`]
    /// (its first blocker's code), read without building the blocker list.
    fn reason_code(&self) -> Cow<'static, str> {
        match (self.report.blockers.first(), &self.last) {
            (Some(b), _) => Cow::Borrowed(b.code.as_str()),
            (None, Some(b)) => b.code.clone(),
            (None, None) => Cow::Borrowed("NO_SIGNAL"),
        }
    }

    /// The no-trade trace: the gates' blockers then the last one, the code the first one's.
    pub fn into_no_trade(self) -> Box<NoTrade> {
        // Room for the last blocker too: one allocation.
        let mut blocked_by = Vec::with_capacity(self.report.blockers.len() + 1);
        blocked_by.extend(self.report.blockers.iter().map(TraceBlocker::from));
        blocked_by.extend(self.last);
        no_trade_box(
            self.kind,
            blocked_by,
            self.signals,
            self.variables,
            self.report,
            self.full,
        )
    }
}

/// A no-trade as a driver that only counts codes needs it ([`TraceDetail::Codes`]): its
/// suppression type, its reason code ([`Suppression::reason_code`]) and the kill triggers of
/// its gate report; nothing else of the suppression is kept or moved.
#[derive(Debug)]
pub struct NoTradeCodes {
    pub suppression_type: &'static str,
    pub reason_code: Cow<'static, str>,
    pub kill_triggers: Vec<KillTrigger>,
}

/// What [`evaluate`] turns a suppression into where it is decided, so the full
/// [`Suppression`] (a few hundred bytes) is moved only by drivers that build its trace.
trait Suppressed {
    fn from_parts(s: Suppression) -> Self;
}

impl Suppressed for Suppression {
    #[inline(always)]
    fn from_parts(s: Suppression) -> Self {
        s
    }
}

impl Suppressed for NoTradeCodes {
    #[inline(always)]
    fn from_parts(mut s: Suppression) -> Self {
        NoTradeCodes {
            suppression_type: s.kind.0,
            reason_code: s.reason_code(),
            kill_triggers: std::mem::take(&mut s.report.kill_triggers),
        }
    }
}

/// [`evaluate_bar_with`] with the no-trade left unbuilt ([`Suppression`]).
// The suppression is returned by value on purpose: it is the common outcome (most bars), and
// boxing it is the per-bar allocation this function exists to avoid.
#[allow(clippy::result_large_err)]
pub fn evaluate_bar_parts(
    input: &EvaluationInput<'_>,
    closes: Option<Window<'_>>,
    detail: TraceDetail,
) -> Result<Box<Decision>, Suppression> {
    evaluate(input, closes, detail)
}

/// [`evaluate_bar_parts`] with [`TraceDetail::Codes`] for a driver that counts no-trades by
/// code: the same decisions, codes and kill triggers, without the suppression's trace parts.
pub fn evaluate_bar_codes(
    input: &EvaluationInput<'_>,
    closes: Option<Window<'_>>,
) -> Result<Box<Decision>, NoTradeCodes> {
    evaluate(input, closes, TraceDetail::Codes)
}

#[inline(always)]
fn evaluate<S: Suppressed>(
    input: &EvaluationInput<'_>,
    closes: Option<Window<'_>>,
    detail: TraceDetail,
) -> Result<Box<Decision>, S> {
    let full = detail == TraceDetail::Full;
    let mut strategy = evaluate_with(
        input.config,
        input.config_invalid,
        input.spec,
        input.bars,
        closes,
        detail,
    );
    let current = input.position.quantity;
    let last = input.bars.last();
    let (signals, variables) = snapshots(input.config, &mut strategy, current, full);

    // Target and order (None when the strategy has no opinion or we already hold the target).
    let planned = match (&strategy, last) {
        (Ok(out), Some(bar)) => out.signal.direction().and_then(|dir| {
            let mut target = dir * i64::from(input.order_quantity);
            // A reversal larger than one order may be exits first: flat now, re-enter on the
            // next bar, so the size limit never traps the bot in a position it wants out of.
            let max_order = input
                .gates
                .limits
                .scaled_for(input.gates.tier)
                .max_order_size;
            if current != 0
                && target.signum() != current.signum()
                && (target - current).unsigned_abs() > u64::from(max_order)
            {
                target = 0;
            }
            let delta = target - current;
            let quantity = u32::try_from(delta.unsigned_abs())
                .ok()
                .filter(|q| *q > 0)?;
            let side = if delta > 0 { Side::Buy } else { Side::Sell };
            let kind = if current == 0 {
                DecisionType::Entry
            } else if target == 0 {
                DecisionType::Exit
            } else {
                DecisionType::Adjust
            };
            Some((
                kind,
                ProposedOrder {
                    side,
                    quantity,
                    price: bar.close,
                },
            ))
        }),
        _ => None,
    };

    let report = evaluate_gates_for(&input.gates, current, planned.as_ref().map(|(_, o)| o));
    let gate_blocked = !report.blockers.is_empty();

    let text = |f: &dyn Fn() -> String| if full { f() } else { String::new() };
    let signal_issue = match &strategy {
        Err(e @ super::strategies::StrategyError::InsufficientHistory { .. }) => Some((
            "INSUFFICIENT_HISTORY",
            text(&|| e.to_string()),
            "Wait for enough bars to accumulate, or shorten the strategy's lookback.",
        )),
        Err(e) => Some((
            "STRATEGY_ERROR",
            text(&|| e.to_string()),
            "Check the bot's strategy params and the bar data.",
        )),
        Ok(out) if planned.is_none() => Some((
            "NO_SIGNAL",
            text(&|| format!("{} (position {current}: nothing to do)", out.reason_human)),
            "None needed: the strategy is waiting for its entry or exit condition.",
        )),
        Ok(_) => None,
    };
    let signal_code = signal_issue.as_ref().map(|s| s.0);
    let signal_blocker = signal_issue.map(|(code, reason, fix)| {
        let fix = if full { fix } else { "" };
        signal_blocker(code, reason, fix)
    });

    let suppression_decision = planned.as_ref().map_or("NONE", |(k, _)| k.as_str());
    let suppression = |suppression_type: &'static str,
                       last: Option<TraceBlocker>,
                       report: GateReport,
                       signals: Signals,
                       variables: Variables| {
        S::from_parts(Suppression {
            kind: (suppression_type, suppression_decision),
            report,
            last,
            signals,
            variables,
            full,
        })
    };

    let (Some((kind, order)), Ok(out), Some(bar)) = (&planned, &strategy, last) else {
        let st = if gate_blocked {
            "GATE_BLOCKED"
        } else {
            signal_code.unwrap_or("NO_SIGNAL")
        };
        return Err(suppression(st, signal_blocker, report, signals, variables));
    };
    if gate_blocked {
        return Err(suppression(
            "GATE_BLOCKED",
            signal_blocker,
            report,
            signals,
            variables,
        ));
    }

    let intent = OrderIntent::new(
        input.bot_id,
        input.spec.symbol,
        order.side,
        order.quantity,
        order.price,
        bar.ts_open,
    );
    let execution = match execute(
        input.gates.stage,
        &intent,
        input.next_bar,
        input.spec,
        input.gates.calendar,
        input.sim,
        input.gates.now,
        input.broker_ready,
    ) {
        Ok(x) => x,
        Err(e) => {
            let b = execution_blocker(&e);
            return Err(suppression(
                "EXECUTION_REFUSED",
                Some(b),
                report,
                signals,
                variables,
            ));
        }
    };
    Ok(Box::new(Decision {
        decision_type: *kind,
        reason_human: text(&|| {
            format!(
                "{} {} {} {}: {}",
                kind.as_str(),
                order.side.as_str(),
                order.quantity,
                input.spec.symbol.as_str(),
                out.reason_human
            )
        }),
        reason_code: format!("SIGNAL_{}", out.signal.as_str()),
        signals,
        variables_snapshot: variables,
        confidence: out.confidence,
        expected_value: out.expected_value_ticks,
        order: intent,
        execution,
        gate_report: report,
    }))
}

/// The blocker of an order its stage's execution refused.
pub(super) fn execution_blocker(e: &ExecutionError) -> TraceBlocker {
    let code = e.code();
    TraceBlocker {
        gate: "execution".into(),
        code: code.as_str().into(),
        reason_human: e.to_string(),
        suggested_fix: code.suggested_fix().into(),
    }
}

/// One no-trade: `(suppression type, suppressed decision)`, its blockers (every caller passes
/// at least one; `NO_SIGNAL` is the honest fallback): the code is the first one's, the text
/// theirs joined (left empty unless `full`).
pub(super) fn no_trade_of(
    kind: (&'static str, &'static str),
    blocked_by: Vec<TraceBlocker>,
    signals: Signals,
    variables: Variables,
    report: GateReport,
    full: bool,
) -> Evaluation {
    Evaluation::NoTrade(no_trade_box(
        kind, blocked_by, signals, variables, report, full,
    ))
}

fn no_trade_box(
    (suppression_type, suppression_decision): (&'static str, &'static str),
    blocked_by: Vec<TraceBlocker>,
    signals: Signals,
    variables: Variables,
    report: GateReport,
    full: bool,
) -> Box<NoTrade> {
    let reason_code = blocked_by
        .first()
        .map_or(Cow::Borrowed("NO_SIGNAL"), |b| b.code.clone());
    let reason_human = if full {
        blocked_by
            .iter()
            .map(|b| b.reason_human.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    } else {
        String::new()
    };
    Box::new(NoTrade {
        suppression_type: suppression_type.into(),
        suppression_decision: suppression_decision.into(),
        reason_code,
        reason_human,
        blocked_by,
        signals,
        variables_snapshot: variables,
        gate_report: report,
    })
}

/// The trace's `signals` and `variables_snapshot` (the variables are taken: nothing else reads
/// them).
fn snapshots(
    config: &StrategyConfig,
    strategy: &mut Result<StrategyOutput, StrategyError>,
    current: i64,
    full: bool,
) -> (Signals, Variables) {
    match strategy {
        Ok(out) => (
            Signals::Read {
                strategy: config.kind(),
                signal: out.signal,
                confidence: out.confidence,
                expected_value_ticks: out.expected_value_ticks,
                current_position: current,
                // Without the texts (`Codes`) the strategy wrote none: nothing to copy.
                reason: if full {
                    out.reason_human.clone()
                } else {
                    String::new()
                },
            },
            std::mem::take(&mut out.variables),
        ),
        Err(e) => (
            Signals::Failed {
                strategy: config.kind(),
                error: if full { e.to_string() } else { String::new() },
                current_position: current,
            },
            Variables::new(),
        ),
    }
}

#[cfg(test)]
#[path = "evaluation_tests.rs"]
mod tests;
