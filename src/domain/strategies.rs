//! Strategy evaluation: a config plus closed bars → a target-direction signal, a confidence, an
//! expected value and a snapshot of every variable read.
//!
//! Signal semantics (target position, not an order):
//! - `Long` / `Short`: the strategy wants to hold a long / short position now.
//! - `Flat`: the strategy wants no position (exit anything held).
//! - `Hold`: no new information; keep whatever is held. The runner records a no-trade trace.
//!
//! `expected_value_ticks` is a heuristic edge per contract, in ticks, in the signal's direction:
//! `confidence × σ(closes over the strategy window) / tick_size` (a one-sigma move weighted by
//! how strongly the rule fired). It is 0 for `Flat` and `Hold`. It is a ranking figure, not a
//! forecast.

use super::bars::{Bar, decimal_f64};
use super::indicators::{Series, Window, donchian_prior, ema, rsi_wilder};
use super::instruments::ContractSpec;
use super::strategy_config::{FieldError, MovingAverage, StrategyConfig};
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Signal {
    Long,
    Short,
    Flat,
    Hold,
}

impl Signal {
    /// The signal as serialised (`LONG`, `SHORT`, `FLAT`, `HOLD`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Signal::Long => "LONG",
            Signal::Short => "SHORT",
            Signal::Flat => "FLAT",
            Signal::Hold => "HOLD",
        }
    }

    /// Target direction: +1 long, -1 short, 0 flat; `None` for `Hold` (keep current).
    pub fn direction(self) -> Option<i64> {
        match self {
            Signal::Long => Some(1),
            Signal::Short => Some(-1),
            Signal::Flat => Some(0),
            Signal::Hold => None,
        }
    }
}

/// A variable a strategy reads, as kept in `profit_variables`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct VariableDecl {
    pub name: &'static str,
    pub category: &'static str,
    pub variable_type: &'static str,
    pub description: &'static str,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StrategyOutput {
    pub signal: Signal,
    /// 0..=1.
    pub confidence: f64,
    /// See the module doc: ticks per contract, heuristic.
    pub expected_value_ticks: f64,
    /// Every declared variable with the value read on this evaluation (name order).
    pub variables: BTreeMap<&'static str, f64>,
    pub reason_human: String,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StrategyError {
    #[error("insufficient history: {needed} bars needed, {got} available")]
    InsufficientHistory { needed: usize, got: usize },
    #[error("invalid strategy config: {0}")]
    InvalidConfig(String),
    #[error("bar data not usable: {0}")]
    BadData(String),
}

const CLOSE: VariableDecl = VariableDecl {
    name: "close",
    category: "price",
    variable_type: "number",
    description: "Close of the last completed bar (index points).",
};
const CLOSE_STDEV: VariableDecl = VariableDecl {
    name: "close_stdev",
    category: "volatility",
    variable_type: "number",
    description: "Population standard deviation of closes over the strategy window (points).",
};
const CROSSOVER_VARS: &[VariableDecl] = &[
    CLOSE,
    VariableDecl {
        name: "ma_fast",
        category: "indicator",
        variable_type: "number",
        description: "Fast moving average of closes (SMA or EMA per params).",
    },
    VariableDecl {
        name: "ma_slow",
        category: "indicator",
        variable_type: "number",
        description: "Slow moving average of closes (SMA or EMA per params).",
    },
    CLOSE_STDEV,
];
const DONCHIAN_VARS: &[VariableDecl] = &[
    CLOSE,
    VariableDecl {
        name: "donchian_high",
        category: "indicator",
        variable_type: "number",
        description: "Highest high of the lookback bars before the last one.",
    },
    VariableDecl {
        name: "donchian_low",
        category: "indicator",
        variable_type: "number",
        description: "Lowest low of the lookback bars before the last one.",
    },
    CLOSE_STDEV,
];
const RSI_VARS: &[VariableDecl] = &[
    CLOSE,
    VariableDecl {
        name: "rsi",
        category: "indicator",
        variable_type: "number",
        description: "Wilder RSI of closes (0-100).",
    },
    CLOSE_STDEV,
];

/// RSI within this distance of 50 means "mean reverted": exit.
const RSI_EXIT_BAND: f64 = 5.0;

impl StrategyConfig {
    /// The variables this strategy reads on every evaluation.
    pub fn variables(&self) -> &'static [VariableDecl] {
        match self {
            StrategyConfig::SmaCrossover(_) => CROSSOVER_VARS,
            StrategyConfig::DonchianBreakout(_) => DONCHIAN_VARS,
            StrategyConfig::RsiMeanReversion(_) => RSI_VARS,
        }
    }
}

/// How much of an evaluation's explanation is built. The signal, confidence, expected value,
/// codes and orders never depend on it: only the human texts and the variables snapshot do.
/// A driver that writes traces (the bot runner) asks for `Full`; one that only counts outcomes
/// by code (the backtester) asks for `Codes`, and the texts and snapshot are left empty (and
/// the engine folds no no-trade: with no trace written there is nothing to fold into).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TraceDetail {
    #[default]
    Full,
    Codes,
}

/// Evaluates `config` on `bars` (oldest first, the last one the most recent completed bar).
/// Only the last `warmup_bars()` bars matter except for EMA/RSI, which run over all given bars.
pub fn evaluate(
    config: &StrategyConfig,
    spec: &ContractSpec,
    bars: &[Bar],
) -> Result<StrategyOutput, StrategyError> {
    let invalid = config.validate().err();
    evaluate_with(
        config,
        invalid.as_ref(),
        spec,
        bars,
        None,
        TraceDetail::Full,
    )
}

/// [`evaluate`] of a config whose validation (`invalid`: what [`StrategyConfig::validate`]
/// found) the caller did once, reading `closes` (each bar's [`Bar::close_f64`] with running
/// sums, NaN where out of range, as the engine keeps them beside its bars; read from the bars
/// instead unless one per bar) and building `detail`.
pub fn evaluate_with(
    config: &StrategyConfig,
    invalid: Option<&FieldError>,
    spec: &ContractSpec,
    bars: &[Bar],
    closes: Option<Window<'_>>,
    detail: TraceDetail,
) -> Result<StrategyOutput, StrategyError> {
    let full = detail == TraceDetail::Full;
    if let Some(e) = invalid {
        return Err(StrategyError::InvalidConfig(format!(
            "{}: {}",
            e.field, e.problem
        )));
    }
    let needed = config.warmup_bars() as usize;
    if bars.len() < needed {
        return Err(StrategyError::InsufficientHistory {
            needed,
            got: bars.len(),
        });
    }
    let tick = decimal_f64(spec.tick_size)
        .filter(|t| *t > 0.0)
        .ok_or_else(|| StrategyError::BadData("tick size".into()))?;
    let owned: Series;
    let window = match closes {
        Some(w) if w.len() == bars.len() => w,
        _ => {
            let closes = bars.iter().map(|b| b.close_f64().unwrap_or(f64::NAN));
            owned = Series::of(tick, closes);
            owned.last(bars.len())
        }
    };
    if !window.all_finite() {
        return Err(StrategyError::BadData(
            "a close is out of range or not finite".into(),
        ));
    }
    let closes = window.values();
    let close = closes[closes.len() - 1];
    let missing = || StrategyError::InsufficientHistory {
        needed,
        got: bars.len(),
    };
    let mut vars = BTreeMap::new();
    let mut var = |name: &'static str, value: f64| {
        if full {
            vars.insert(name, value);
        }
    };
    var(CLOSE.name, close);
    let (signal, confidence, sigma, reason) = match config {
        StrategyConfig::SmaCrossover(p) => {
            let (fast, slow) = match p.average {
                MovingAverage::Sma => (window.sma(p.fast as usize), window.sma(p.slow as usize)),
                MovingAverage::Ema => (ema(closes, p.fast as usize), ema(closes, p.slow as usize)),
            };
            let (fast, slow) = (fast.ok_or_else(missing)?, slow.ok_or_else(missing)?);
            let sigma = window.stdev(p.slow as usize).ok_or_else(missing)?;
            var("ma_fast", fast);
            var("ma_slow", slow);
            let spread = fast - slow;
            let conf = if sigma > 0.0 {
                (spread.abs() / sigma).min(1.0)
            } else {
                0.0
            };
            let signal = if spread > 0.0 {
                Signal::Long
            } else if spread < 0.0 {
                Signal::Short
            } else {
                Signal::Hold
            };
            let reason = text(full, || {
                format!(
                    "fast MA({}) {fast:.4} vs slow MA({}) {slow:.4}: spread {spread:.4} points",
                    p.fast, p.slow
                )
            });
            (signal, conf, sigma, reason)
        }
        StrategyConfig::DonchianBreakout(p) => {
            let (hi, lo) = donchian_prior(bars, p.lookback as usize).ok_or_else(missing)?;
            let (hi, lo) = (
                decimal_f64(hi).ok_or_else(missing)?,
                decimal_f64(lo).ok_or_else(missing)?,
            );
            let sigma = window.stdev(p.lookback as usize + 1).ok_or_else(missing)?;
            var("donchian_high", hi);
            var("donchian_low", lo);
            let width = hi - lo;
            // Half confidence for a bare breakout, full when it exceeds the channel by half its width.
            let conf = |excess: f64| {
                if width > 0.0 {
                    (0.5 + excess / width).min(1.0)
                } else {
                    0.5
                }
            };
            let (signal, c, reason) = if close > hi {
                (
                    Signal::Long,
                    conf(close - hi),
                    text(full, || {
                        format!("close {close} broke above the {}-bar high {hi}", p.lookback)
                    }),
                )
            } else if close < lo {
                (
                    Signal::Short,
                    conf(lo - close),
                    text(full, || {
                        format!("close {close} broke below the {}-bar low {lo}", p.lookback)
                    }),
                )
            } else {
                (
                    Signal::Hold,
                    0.0,
                    text(full, || {
                        format!(
                            "close {close} inside the {}-bar channel [{lo}, {hi}]",
                            p.lookback
                        )
                    }),
                )
            };
            (signal, c, sigma, reason)
        }
        StrategyConfig::RsiMeanReversion(p) => {
            let rsi = rsi_wilder(closes, p.period as usize).ok_or_else(missing)?;
            let sigma = window.stdev(p.period as usize + 1).ok_or_else(missing)?;
            var("rsi", rsi);
            let (signal, c, reason) = if rsi < p.oversold {
                (
                    Signal::Long,
                    (p.oversold - rsi) / p.oversold,
                    text(full, || {
                        format!("RSI({}) {rsi:.2} below oversold {}", p.period, p.oversold)
                    }),
                )
            } else if rsi > p.overbought {
                (
                    Signal::Short,
                    (rsi - p.overbought) / (100.0 - p.overbought),
                    text(full, || {
                        format!(
                            "RSI({}) {rsi:.2} above overbought {}",
                            p.period, p.overbought
                        )
                    }),
                )
            } else if (rsi - 50.0).abs() <= RSI_EXIT_BAND {
                (
                    Signal::Flat,
                    1.0 - (rsi - 50.0).abs() / RSI_EXIT_BAND,
                    text(full, || {
                        format!("RSI({}) {rsi:.2} back near 50: exit", p.period)
                    }),
                )
            } else {
                (
                    Signal::Hold,
                    0.0,
                    text(full, || {
                        format!("RSI({}) {rsi:.2} between the bands", p.period)
                    }),
                )
            };
            (signal, c, sigma, reason)
        }
    };
    var(CLOSE_STDEV.name, sigma);
    let confidence = confidence.clamp(0.0, 1.0);
    let expected_value_ticks = match signal {
        Signal::Long | Signal::Short => confidence * sigma / tick,
        Signal::Flat | Signal::Hold => 0.0,
    };
    Ok(StrategyOutput {
        signal,
        confidence,
        expected_value_ticks,
        variables: vars,
        reason_human: reason,
    })
}

/// `f()` when the full explanation is asked for, else an empty text.
fn text(full: bool, f: impl FnOnce() -> String) -> String {
    if full { f() } else { String::new() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::bars::test_support::bars_from_closes;
    use crate::domain::instruments::Symbol;
    use crate::domain::strategy_config::{CrossoverParams, DonchianParams, RsiParams};
    use rust_decimal::Decimal;

    fn bars(closes: &[i64]) -> Vec<Bar> {
        bars_from_closes(&closes.iter().map(|&c| Decimal::from(c)).collect::<Vec<_>>())
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    fn crossover(fast: u32, slow: u32) -> StrategyConfig {
        StrategyConfig::SmaCrossover(CrossoverParams {
            fast,
            slow,
            average: MovingAverage::Sma,
        })
    }

    #[test]
    fn every_variable_read_is_declared_and_snapshotted() {
        let es = Symbol::Es.spec();
        let b = bars(&[100, 101, 102, 103, 104, 105]);
        for cfg in [
            crossover(2, 4),
            StrategyConfig::DonchianBreakout(DonchianParams { lookback: 3 }),
            StrategyConfig::RsiMeanReversion(RsiParams {
                period: 3,
                oversold: 30.0,
                overbought: 70.0,
            }),
        ] {
            let out = evaluate(&cfg, &es, &b).unwrap();
            let declared: Vec<_> = cfg.variables().iter().map(|v| v.name).collect();
            let mut read: Vec<_> = out.variables.keys().copied().collect();
            let mut d = declared.clone();
            d.sort();
            read.sort();
            assert_eq!(read, d, "{}", cfg.kind());
        }
    }

    #[test]
    fn signal_names_are_their_serialised_names() {
        for s in [Signal::Long, Signal::Short, Signal::Flat, Signal::Hold] {
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
    }

    #[test]
    fn codes_only_reads_the_same_signal_without_texts() {
        let es = Symbol::Es.spec();
        let b = bars(&[100, 102, 104, 106, 108, 107, 103]);
        let closes = Series::of(0.25, b.iter().map(|b| b.close_f64().unwrap()));
        for cfg in [
            crossover(2, 4),
            StrategyConfig::DonchianBreakout(DonchianParams { lookback: 3 }),
            StrategyConfig::RsiMeanReversion(RsiParams {
                period: 3,
                oversold: 30.0,
                overbought: 70.0,
            }),
        ] {
            let full = evaluate(&cfg, &es, &b).unwrap();
            assert!(!full.reason_human.is_empty() && !full.variables.is_empty());
            let codes = evaluate_with(
                &cfg,
                None,
                &es,
                &b,
                Some(closes.last(b.len())),
                TraceDetail::Codes,
            )
            .unwrap();
            assert_eq!(
                (codes.signal, codes.confidence, codes.expected_value_ticks),
                (full.signal, full.confidence, full.expected_value_ticks),
                "{}",
                cfg.kind()
            );
            assert!(codes.reason_human.is_empty() && codes.variables.is_empty());
            // Closes that do not match the bars are not trusted: they are read from the bars.
            let wrong = evaluate_with(
                &cfg,
                None,
                &es,
                &b,
                Some(closes.last(b.len() - 1)),
                TraceDetail::Full,
            );
            assert_eq!(wrong.unwrap(), full);
        }
    }

    #[test]
    fn crossover_long_hand_computed() {
        // closes 100,102,104,106,108 (ES, tick 0.25): fast SMA(2) = 107, slow SMA(4) = 105.
        // σ over last 4 (102..108): mean 105, var (9+1+1+9)/4 = 5 → σ = √5.
        // confidence = min(1, 2/√5) = 0.894427…; EV = conf × √5 / 0.25 = 2/0.25 = 8 ticks.
        let out = evaluate(
            &crossover(2, 4),
            &Symbol::Es.spec(),
            &bars(&[100, 102, 104, 106, 108]),
        )
        .unwrap();
        assert_eq!(out.signal, Signal::Long);
        assert!(close(out.variables["ma_fast"], 107.0));
        assert!(close(out.variables["ma_slow"], 105.0));
        assert!(close(out.confidence, 2.0 / 5f64.sqrt()));
        assert!(close(out.expected_value_ticks, 8.0));
    }

    #[test]
    fn crossover_short_and_flat_market_hold() {
        let es = Symbol::Es.spec();
        let out = evaluate(&crossover(2, 4), &es, &bars(&[108, 106, 104, 102, 100])).unwrap();
        assert_eq!(out.signal, Signal::Short);
        let out = evaluate(&crossover(2, 4), &es, &bars(&[100, 100, 100, 100, 100])).unwrap();
        assert_eq!(out.signal, Signal::Hold);
        assert_eq!(out.confidence, 0.0);
        assert_eq!(out.expected_value_ticks, 0.0);
    }

    #[test]
    fn insufficient_history_is_an_error_not_a_signal() {
        let err = evaluate(&crossover(2, 4), &Symbol::Es.spec(), &bars(&[1, 2, 3, 4])).unwrap_err();
        assert_eq!(
            err,
            StrategyError::InsufficientHistory { needed: 5, got: 4 }
        );
        let bad = crossover(4, 2);
        assert!(matches!(
            evaluate(&bad, &Symbol::Es.spec(), &bars(&[1; 10])),
            Err(StrategyError::InvalidConfig(_))
        ));
    }

    #[test]
    fn donchian_breakouts_hand_computed() {
        let cfg = StrategyConfig::DonchianBreakout(DonchianParams { lookback: 2 });
        let es = Symbol::Es.spec();
        // closes 100,102,101,105: prior channel (bars 1,2) = [100, 102], width 2; close 105 is
        // 3 above → confidence min(1, 0.5 + 3/2) = 1.
        let out = evaluate(&cfg, &es, &bars(&[100, 102, 101, 105])).unwrap();
        assert_eq!(out.signal, Signal::Long);
        assert_eq!(out.confidence, 1.0);
        assert!(close(out.variables["donchian_high"], 102.0));
        // closes 100,104,102,100: channel (bars 1,2) = [100, 104]; 100 is not below 100 → Hold.
        let out = evaluate(&cfg, &es, &bars(&[100, 104, 102, 100])).unwrap();
        assert_eq!(out.signal, Signal::Hold);
        // closes 100,104,102,99: 1 below, width 4 → 0.5 + 0.25 = 0.75, short.
        let out = evaluate(&cfg, &es, &bars(&[100, 104, 102, 99])).unwrap();
        assert_eq!(out.signal, Signal::Short);
        assert!(close(out.confidence, 0.75));
    }

    #[test]
    fn rsi_bands_hand_computed() {
        let cfg = StrategyConfig::RsiMeanReversion(RsiParams {
            period: 2,
            oversold: 30.0,
            overbought: 70.0,
        });
        let es = Symbol::Es.spec();
        // Straight down: RSI 0 → Long, confidence (30-0)/30 = 1.
        let out = evaluate(&cfg, &es, &bars(&[110, 105, 100])).unwrap();
        assert_eq!(out.signal, Signal::Long);
        assert!(close(out.confidence, 1.0));
        // 10,11,10,12 → RSI 83.333… → Short, confidence (83.333-70)/30 = 0.4444….
        let out = evaluate(&cfg, &es, &bars(&[10, 11, 10, 12])).unwrap();
        assert_eq!(out.signal, Signal::Short);
        assert!(close(out.confidence, (100.0 - 100.0 / 6.0 - 70.0) / 30.0));
        // 10,11,10: +1,-1 → RSI 50 → Flat with confidence 1.
        let out = evaluate(&cfg, &es, &bars(&[10, 11, 10])).unwrap();
        assert_eq!(out.signal, Signal::Flat);
        assert!(close(out.confidence, 1.0));
        assert_eq!(out.expected_value_ticks, 0.0);
    }
}
