//! Reviewing a backtest or a sweep for signs of overfitting, pure: four checks computed from
//! stored results, never by an LLM, each with the figures it used. The LLM (the
//! `backtest_review` AI action) only puts the checks into plain language; when none is usable
//! the checks still stand.
//!
//! - `FEW_TRADES`: fewer than [`MIN_TRADES`] closed trades in the result reviewed (a
//!   backtest's own; a walk-forward's out-of-sample trades over every fold; a plain sweep's
//!   best combination by its objective).
//! - `ONE_REGIME`: the market never changed character over the range. The range's bar-to-bar
//!   log returns (roll gaps left out) are cut into [`REGIME_PARTS`] equal parts; each part is
//!   `UP`, `DOWN` or `FLAT` by the t-statistic of its summed return (`sum / (stdev · √n)`,
//!   `UP` at ≥ [`TREND_T`], `DOWN` at ≤ −[`TREND_T`]) and has a realized volatility (stdev of
//!   its returns). One regime: every part has the same trend label AND the wildest part's
//!   volatility is less than [`VOL_SPREAD`] × the calmest's. Needs [`MIN_BARS_PER_PART`]
//!   returns per part, else not applicable.
//! - `IS_OOS_GAP`: walk-forward out-of-sample much worse than in-sample: in-sample net PnL > 0
//!   and out-of-sample net PnL ≤ 0, or both Sharpe ratios known, in-sample Sharpe > 0 and
//!   out-of-sample Sharpe < [`OOS_SHARPE_RATIO`] × in-sample Sharpe. Not applicable without an
//!   out-of-sample run.
//! - `MANY_COMBINATIONS`: [`MANY_COMBINATIONS`] or more parameter combinations tried (a
//!   sweep's combinations; for a backtest of its own, the distinct parameter sets of the same
//!   strategy kind, symbol and timeframe backtested up to it).

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

use super::ai::Prompt;
use super::backtest::sweep::Figures;

/// Fewer closed trades than this: too few to tell skill from luck.
pub const MIN_TRADES: u64 = 30;
/// This many parameter combinations or more: the best of them is likely fitted to noise.
pub const MANY_COMBINATIONS: u64 = 20;
/// Parts the range is cut into for the regime check.
pub const REGIME_PARTS: usize = 4;
/// Fewest returns per part for the regime check to say anything.
pub const MIN_BARS_PER_PART: usize = 20;
/// |t| of a part's summed return at or above which the part trends.
pub const TREND_T: f64 = 2.0;
/// Wildest / calmest part volatility below which volatility never changed.
pub const VOL_SPREAD: f64 = 1.5;
/// Out-of-sample Sharpe below this share of the in-sample Sharpe is a gap.
pub const OOS_SHARPE_RATIO: f64 = 0.5;

/// The four checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CheckCode {
    FewTrades,
    OneRegime,
    IsOosGap,
    ManyCombinations,
}

impl CheckCode {
    pub const fn as_str(self) -> &'static str {
        match self {
            CheckCode::FewTrades => "FEW_TRADES",
            CheckCode::OneRegime => "ONE_REGIME",
            CheckCode::IsOosGap => "IS_OOS_GAP",
            CheckCode::ManyCombinations => "MANY_COMBINATIONS",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CheckOutcome {
    /// A sign of overfitting.
    Flagged,
    Passed,
    /// The stored results cannot answer it (the message says why).
    NotApplicable,
}

/// One check, its outcome, and the figures it was decided on.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Check {
    pub code: CheckCode,
    pub outcome: CheckOutcome,
    /// One plain sentence with the figures and the threshold.
    pub message: String,
    /// The figures used (names → numbers or labels).
    #[schema(value_type = Object)]
    pub figures: BTreeMap<String, Value>,
}

/// How many trades, and which result they are from.
#[derive(Debug, Clone, PartialEq)]
pub struct TradeCount {
    pub trades: u64,
    pub source: String,
}

/// How many combinations were tried, and how that was counted.
#[derive(Debug, Clone, PartialEq)]
pub struct CombinationCount {
    pub combinations: u64,
    pub source: String,
}

/// What a review is computed from.
#[derive(Debug, Clone, PartialEq)]
pub struct ReviewInput {
    /// `None`: the result has no figures to count (not applicable).
    pub trades: Option<TradeCount>,
    /// The range's bar-to-bar log returns, oldest first (roll gaps left out).
    pub returns: Vec<f64>,
    /// In-sample and out-of-sample figures of a walk-forward, when there is one.
    pub walk_forward: Option<(Figures, Figures)>,
    pub combinations: CombinationCount,
}

/// One part of the range in the regime check.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RegimePart {
    pub trend: &'static str,
    pub t_stat: f64,
    pub volatility: f64,
}

/// The four checks, in the order of [`CheckCode`].
pub fn review(input: &ReviewInput) -> Vec<Check> {
    vec![
        few_trades(input.trades.as_ref()),
        one_regime(&input.returns),
        is_oos_gap(input.walk_forward.as_ref()),
        many_combinations(&input.combinations),
    ]
}

/// The codes of the flagged checks.
pub fn flags(checks: &[Check]) -> Vec<CheckCode> {
    checks
        .iter()
        .filter(|c| c.outcome == CheckOutcome::Flagged)
        .map(|c| c.code)
        .collect()
}

fn figures(pairs: &[(&str, Value)]) -> BTreeMap<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

fn round(x: f64, places: i32) -> f64 {
    let f = 10f64.powi(places);
    (x * f).round() / f
}

fn few_trades(count: Option<&TradeCount>) -> Check {
    let Some(c) = count else {
        return Check {
            code: CheckCode::FewTrades,
            outcome: CheckOutcome::NotApplicable,
            message: "No finished result to count trades in.".into(),
            figures: figures(&[("min_trades", json!(MIN_TRADES))]),
        };
    };
    let flagged = c.trades < MIN_TRADES;
    Check {
        code: CheckCode::FewTrades,
        outcome: if flagged {
            CheckOutcome::Flagged
        } else {
            CheckOutcome::Passed
        },
        message: format!(
            "{} closed trades in {} ({} {MIN_TRADES}).",
            c.trades,
            c.source,
            if flagged { "fewer than" } else { "at least" }
        ),
        figures: figures(&[
            ("trades", json!(c.trades)),
            ("min_trades", json!(MIN_TRADES)),
            ("source", json!(c.source)),
        ]),
    }
}

fn mean_stdev(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    if xs.is_empty() {
        return (0.0, 0.0);
    }
    let mean = xs.iter().sum::<f64>() / n;
    let var = if xs.len() > 1 {
        xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)
    } else {
        0.0
    };
    (mean, var.sqrt())
}

/// The [`REGIME_PARTS`] parts of `returns` with their trend and volatility, or `None` when
/// there are fewer than [`MIN_BARS_PER_PART`] returns per part.
pub fn regime_parts(returns: &[f64]) -> Option<Vec<RegimePart>> {
    let per = returns.len() / REGIME_PARTS;
    if per < MIN_BARS_PER_PART {
        return None;
    }
    Some(
        (0..REGIME_PARTS)
            .map(|k| {
                // The last part takes the remainder.
                let end = if k + 1 == REGIME_PARTS {
                    returns.len()
                } else {
                    (k + 1) * per
                };
                let part = &returns[k * per..end];
                let (_, sd) = mean_stdev(part);
                let sum: f64 = part.iter().sum();
                let t = if sd > 0.0 {
                    sum / (sd * (part.len() as f64).sqrt())
                } else {
                    0.0
                };
                let trend = if t >= TREND_T {
                    "UP"
                } else if t <= -TREND_T {
                    "DOWN"
                } else {
                    "FLAT"
                };
                RegimePart {
                    trend,
                    t_stat: round(t, 2),
                    volatility: sd,
                }
            })
            .collect(),
    )
}

fn one_regime(returns: &[f64]) -> Check {
    let Some(parts) = regime_parts(returns) else {
        return Check {
            code: CheckCode::OneRegime,
            outcome: CheckOutcome::NotApplicable,
            message: format!(
                "{} bar returns over the range: fewer than {} ({REGIME_PARTS} parts of {MIN_BARS_PER_PART}) to tell regimes apart.",
                returns.len(),
                REGIME_PARTS * MIN_BARS_PER_PART
            ),
            figures: figures(&[("returns", json!(returns.len()))]),
        };
    };
    let trends: Vec<&str> = parts.iter().map(|p| p.trend).collect();
    let same_trend = trends.iter().all(|t| *t == trends[0]);
    let vols: Vec<f64> = parts.iter().map(|p| p.volatility).collect();
    let min = vols.iter().copied().fold(f64::INFINITY, f64::min);
    let max = vols.iter().copied().fold(0.0, f64::max);
    let spread = if min > 0.0 { max / min } else { f64::INFINITY };
    let steady_vol = spread < VOL_SPREAD;
    let flagged = same_trend && steady_vol;
    let spread_shown = if spread.is_finite() {
        json!(round(spread, 2))
    } else {
        Value::Null
    };
    let message = if flagged {
        format!(
            "Every one of the {REGIME_PARTS} parts of the range was {} and volatility varied only {:.2}× (under {VOL_SPREAD}×): the strategy saw one market regime.",
            trends[0], spread
        )
    } else {
        format!(
            "The {REGIME_PARTS} parts of the range were {} with volatility varying {}×: more than one regime.",
            trends.join(", "),
            spread_shown
        )
    };
    Check {
        code: CheckCode::OneRegime,
        outcome: if flagged {
            CheckOutcome::Flagged
        } else {
            CheckOutcome::Passed
        },
        message,
        figures: figures(&[
            ("returns", json!(returns.len())),
            ("trends", json!(trends)),
            (
                "t_stats",
                json!(parts.iter().map(|p| p.t_stat).collect::<Vec<_>>()),
            ),
            ("volatility_spread", spread_shown),
            ("trend_t", json!(TREND_T)),
            ("max_volatility_spread", json!(VOL_SPREAD)),
        ]),
    }
}

fn is_oos_gap(wf: Option<&(Figures, Figures)>) -> Check {
    let Some((is, oos)) = wf else {
        return Check {
            code: CheckCode::IsOosGap,
            outcome: CheckOutcome::NotApplicable,
            message: "No out-of-sample result: run a walk-forward sweep to compare in-sample with out-of-sample.".into(),
            figures: BTreeMap::new(),
        };
    };
    let is_pnl = is.net_pnl;
    let oos_pnl = oos.net_pnl;
    let lost = is_pnl > Decimal::ZERO && oos_pnl <= Decimal::ZERO;
    let sharpe_gap = match (is.sharpe, oos.sharpe) {
        (Some(i), Some(o)) if i > 0.0 => o < OOS_SHARPE_RATIO * i,
        _ => false,
    };
    let flagged = lost || sharpe_gap;
    let sharpe = |s: Option<f64>| s.map_or(Value::Null, |s| json!(round(s, 2)));
    let message = match (lost, sharpe_gap) {
        (true, _) => {
            format!("In-sample net PnL {is_pnl} USD turned into {oos_pnl} USD out of sample.")
        }
        (false, true) => format!(
            "Out-of-sample Sharpe {} is under {OOS_SHARPE_RATIO} × the in-sample Sharpe {}.",
            sharpe(oos.sharpe),
            sharpe(is.sharpe)
        ),
        (false, false) => format!(
            "Out of sample held up: net PnL {oos_pnl} USD (in sample {is_pnl} USD), Sharpe {} (in sample {}).",
            sharpe(oos.sharpe),
            sharpe(is.sharpe)
        ),
    };
    Check {
        code: CheckCode::IsOosGap,
        outcome: if flagged {
            CheckOutcome::Flagged
        } else {
            CheckOutcome::Passed
        },
        message,
        figures: figures(&[
            ("in_sample_net_pnl", json!(is_pnl.to_string())),
            ("out_of_sample_net_pnl", json!(oos_pnl.to_string())),
            ("in_sample_sharpe", sharpe(is.sharpe)),
            ("out_of_sample_sharpe", sharpe(oos.sharpe)),
            ("in_sample_trades", json!(is.trades)),
            ("out_of_sample_trades", json!(oos.trades)),
            ("min_sharpe_ratio", json!(OOS_SHARPE_RATIO)),
        ]),
    }
}

fn many_combinations(c: &CombinationCount) -> Check {
    let flagged = c.combinations >= MANY_COMBINATIONS;
    Check {
        code: CheckCode::ManyCombinations,
        outcome: if flagged {
            CheckOutcome::Flagged
        } else {
            CheckOutcome::Passed
        },
        message: format!(
            "{} parameter combinations tried ({}); {} is where the best of them is likely fitted to noise.",
            c.combinations, c.source, MANY_COMBINATIONS
        ),
        figures: figures(&[
            ("combinations", json!(c.combinations)),
            ("flag_at", json!(MANY_COMBINATIONS)),
            ("source", json!(c.source)),
        ]),
    }
}

/// The prompt: the checks and their figures are the only material; the answer is a summary.
pub fn review_prompt(subject: &str, headline: &[(String, String)], checks: &[Check]) -> Prompt {
    let system = "You review a trading strategy's backtest for an operator in plain language. \
        The checks below were computed from the stored results; do not recompute, add or \
        dispute them. Summarize what they mean for trusting this result, naming each flagged \
        check and its figures, then say what to do next (more data, a walk-forward, fewer \
        combinations). Keep it under 150 words."
        .to_owned();
    let mut user = format!("Subject: {subject}.\n");
    for (k, v) in headline {
        user.push_str(&format!("- {k}: {v}\n"));
    }
    user.push_str("\nChecks:\n");
    for c in checks {
        let outcome = match c.outcome {
            CheckOutcome::Flagged => "FLAGGED",
            CheckOutcome::Passed => "passed",
            CheckOutcome::NotApplicable => "not applicable",
        };
        user.push_str(&format!(
            "- {} {}: {}\n",
            c.code.as_str(),
            outcome,
            c.message
        ));
    }
    Prompt { system, user }
}

/// A decimal as a plain number for the headline.
pub fn money(d: Decimal) -> String {
    d.round_dp(2).to_string()
}

/// A float figure, rounded for the headline.
pub fn num(x: Option<f64>) -> String {
    x.map_or_else(|| "n/a".to_owned(), |x| format!("{:.2}", round(x, 2)))
}

/// Log returns between consecutive closes, skipping the step where `contract` changes (a
/// roll is not a market move). Non-positive closes are skipped.
pub fn log_returns<'a>(closes: impl IntoIterator<Item = (&'a str, Decimal)>) -> Vec<f64> {
    let mut out = Vec::new();
    let mut prev: Option<(&str, f64)> = None;
    for (contract, close) in closes {
        let Some(c) = close.to_f64().filter(|c| *c > 0.0) else {
            continue;
        };
        if let Some((pc, p)) = prev
            && pc == contract
        {
            out.push((c / p).ln());
        }
        prev = Some((contract, c));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn fig(pnl: Decimal, sharpe: Option<f64>, trades: u64) -> Figures {
        Figures {
            net_pnl: pnl,
            profit_factor: None,
            trades,
            max_drawdown_pct: 0.0,
            sharpe,
        }
    }

    fn check(checks: &[Check], code: CheckCode) -> &Check {
        checks.iter().find(|c| c.code == code).unwrap()
    }

    /// Alternating ±`step` (no drift) with an optional drift per bar.
    fn series(n: usize, step: f64, drift: f64) -> Vec<f64> {
        (0..n)
            .map(|i| if i % 2 == 0 { step } else { -step } + drift)
            .collect()
    }

    fn input(trades: u64, returns: Vec<f64>, combos: u64) -> ReviewInput {
        ReviewInput {
            trades: Some(TradeCount {
                trades,
                source: "the backtest".into(),
            }),
            returns,
            walk_forward: None,
            combinations: CombinationCount {
                combinations: combos,
                source: "the sweep".into(),
            },
        }
    }

    #[test]
    fn few_trades_is_flagged_below_thirty() {
        let c = review(&input(29, vec![], 1));
        let few = check(&c, CheckCode::FewTrades);
        assert_eq!(few.outcome, CheckOutcome::Flagged);
        assert_eq!(few.figures["trades"], 29);
        let c = review(&input(30, vec![], 1));
        assert_eq!(
            check(&c, CheckCode::FewTrades).outcome,
            CheckOutcome::Passed
        );
    }

    #[test]
    fn many_combinations_is_flagged_from_twenty() {
        let c = review(&input(40, vec![], 19));
        assert_eq!(
            check(&c, CheckCode::ManyCombinations).outcome,
            CheckOutcome::Passed
        );
        let c = review(&input(40, vec![], 20));
        let many = check(&c, CheckCode::ManyCombinations);
        assert_eq!(many.outcome, CheckOutcome::Flagged);
        assert_eq!(many.figures["combinations"], 20);
        assert_eq!(flags(&c), vec![CheckCode::ManyCombinations]);
    }

    #[test]
    fn a_steady_flat_market_is_one_regime_and_a_change_of_trend_or_volatility_is_not() {
        // Flat, same volatility throughout: one regime.
        let flat = series(400, 0.001, 0.0);
        let c = review(&input(40, flat.clone(), 1));
        let r = check(&c, CheckCode::OneRegime);
        assert_eq!(r.outcome, CheckOutcome::Flagged, "{}", r.message);
        assert_eq!(r.figures["trends"], json!(["FLAT", "FLAT", "FLAT", "FLAT"]));
        // The last quarter trends up: two regimes.
        let mut trend = flat.clone();
        for x in &mut trend[300..] {
            *x += 0.0005;
        }
        let c = review(&input(40, trend, 1));
        let r = check(&c, CheckCode::OneRegime);
        assert_eq!(r.outcome, CheckOutcome::Passed, "{}", r.message);
        assert_eq!(r.figures["trends"][3], "UP");
        // The second half is twice as volatile: two regimes.
        let mut vol = flat;
        for x in &mut vol[200..] {
            *x *= 2.0;
        }
        let c = review(&input(40, vol, 1));
        let r = check(&c, CheckCode::OneRegime);
        assert_eq!(r.outcome, CheckOutcome::Passed, "{}", r.message);
        assert_eq!(r.figures["volatility_spread"], 2.0);
        // Too few bars: not applicable.
        let c = review(&input(40, series(79, 0.001, 0.0), 1));
        assert_eq!(
            check(&c, CheckCode::OneRegime).outcome,
            CheckOutcome::NotApplicable
        );
    }

    #[test]
    fn an_out_of_sample_loss_or_sharpe_collapse_is_a_gap() {
        let mut i = input(40, vec![], 1);
        let c = review(&i);
        assert_eq!(
            check(&c, CheckCode::IsOosGap).outcome,
            CheckOutcome::NotApplicable
        );
        i.walk_forward = Some((fig(dec!(1000), Some(2.0), 30), fig(dec!(-5), Some(1.5), 10)));
        let c = review(&i);
        let g = check(&c, CheckCode::IsOosGap);
        assert_eq!(g.outcome, CheckOutcome::Flagged, "{}", g.message);
        assert_eq!(g.figures["out_of_sample_net_pnl"], "-5");
        i.walk_forward = Some((
            fig(dec!(1000), Some(2.0), 30),
            fig(dec!(50), Some(0.99), 10),
        ));
        let g = review(&i);
        assert_eq!(
            check(&g, CheckCode::IsOosGap).outcome,
            CheckOutcome::Flagged
        );
        i.walk_forward = Some((fig(dec!(1000), Some(2.0), 30), fig(dec!(50), Some(1.0), 10)));
        let g = review(&i);
        assert_eq!(check(&g, CheckCode::IsOosGap).outcome, CheckOutcome::Passed);
        // A losing in-sample result has no edge to lose.
        i.walk_forward = Some((fig(dec!(-10), Some(-0.5), 30), fig(dec!(-50), None, 10)));
        let g = review(&i);
        assert_eq!(check(&g, CheckCode::IsOosGap).outcome, CheckOutcome::Passed);
    }

    #[test]
    fn returns_skip_rolls_and_the_prompt_carries_every_check() {
        let r = log_returns([
            ("ESH6", dec!(100)),
            ("ESH6", dec!(110)),
            ("ESM6", dec!(200)),
            ("ESM6", dec!(200)),
        ]);
        assert_eq!(r.len(), 2);
        assert!((r[0] - (1.1f64).ln()).abs() < 1e-12);
        assert_eq!(r[1], 0.0);
        let checks = review(&input(3, vec![], 25));
        let p = review_prompt(
            "backtest x",
            &[("net PnL".into(), "12.50 USD".into())],
            &checks,
        );
        for code in [
            "FEW_TRADES FLAGGED",
            "ONE_REGIME not applicable",
            "IS_OOS_GAP",
            "MANY_COMBINATIONS FLAGGED",
        ] {
            assert!(p.user.contains(code), "{code}: {}", p.user);
        }
        assert!(p.user.contains("net PnL: 12.50 USD"));
    }
}
