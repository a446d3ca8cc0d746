//! The backtest evidence gate of LAB → PAPER (issue 15 part 6): the newest SUCCEEDED backtest
//! of the bot's current strategy and params (same strategy hash, symbol and timeframe) must
//! be recent enough and meet the desk's thresholds. Pure: the caller finds the evidence and
//! passes the present.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::domain::risk::Stage;

/// What the gate asks of a backtest (configurable per deployment).
#[derive(Debug, Clone, PartialEq)]
pub struct EvidenceThresholds {
    /// Oldest completed backtest that still counts.
    pub max_age: Duration,
    /// Fewest closed trades: fewer say nothing about the strategy.
    pub min_trades: u64,
    /// Lowest profit factor (gross wins over gross losses; a run without a losing trade
    /// passes).
    pub min_profit_factor: f64,
    /// Deepest drawdown allowed, % of the equity peak.
    pub max_drawdown_pct: f64,
}

impl Default for EvidenceThresholds {
    fn default() -> Self {
        EvidenceThresholds {
            max_age: Duration::days(30),
            min_trades: 10,
            min_profit_factor: 1.0,
            max_drawdown_pct: 20.0,
        }
    }
}

/// The backtest offered as evidence, as the gate reads it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evidence {
    pub backtest_id: Uuid,
    pub completed_at: DateTime<Utc>,
    pub trades: u64,
    pub profit_factor: Option<f64>,
    pub max_drawdown_pct: f64,
}

/// One gate the evidence did not pass.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GateMiss {
    /// `backtest`, `age`, `min_trades`, `profit_factor` or `max_drawdown`.
    pub gate: &'static str,
    pub message: String,
}

fn miss(gate: &'static str, message: String) -> GateMiss {
    GateMiss { gate, message }
}

/// Every gate `evidence` misses at `now` (empty: promotion may proceed).
pub fn check(
    th: &EvidenceThresholds,
    now: DateTime<Utc>,
    evidence: Option<&Evidence>,
) -> Vec<GateMiss> {
    let Some(e) = evidence else {
        return vec![miss(
            "backtest",
            "No SUCCEEDED backtest of the bot's current strategy, params, symbol and timeframe exists."
                .into(),
        )];
    };
    let mut out = Vec::new();
    let age = now - e.completed_at;
    if age > th.max_age {
        out.push(miss(
            "age",
            format!(
                "The latest backtest completed {} h ago; evidence older than {} h does not count.",
                age.num_hours(),
                th.max_age.num_hours()
            ),
        ));
    }
    if e.trades < th.min_trades {
        out.push(miss(
            "min_trades",
            format!(
                "The backtest closed {} trades; at least {} are needed.",
                e.trades, th.min_trades
            ),
        ));
    }
    // No losing trade: the factor is unbounded, which passes; no trade at all is caught above.
    if let Some(pf) = e.profit_factor
        && pf < th.min_profit_factor
    {
        out.push(miss(
            "profit_factor",
            format!(
                "Profit factor {pf:.2} is below the required {:.2}.",
                th.min_profit_factor
            ),
        ));
    }
    if e.max_drawdown_pct > th.max_drawdown_pct {
        out.push(miss(
            "max_drawdown",
            format!(
                "Max drawdown {:.2} % exceeds the allowed {:.2} %.",
                e.max_drawdown_pct, th.max_drawdown_pct
            ),
        ));
    }
    out
}

/// What a promotion asks of the bot's results at its current stage: PAPER → SHADOW of its PAPER
/// trades, SHADOW → LIVE of its SHADOW (hypothetical) trades (configurable per deployment).
#[derive(Debug, Clone, PartialEq)]
pub struct ResultsThresholds {
    /// Fewest CME sessions (trade dates, rolled at 17:00 CT) with a closed trade.
    pub min_sessions: u64,
    /// Fewest closed trades.
    pub min_trades: u64,
    /// Lowest profit factor of those trades (net winners over net losers; no loser passes).
    pub min_profit_factor: f64,
    /// Lowest net PnL (after commissions) of those trades, USD.
    pub min_net_pnl: rust_decimal::Decimal,
}

impl Default for ResultsThresholds {
    fn default() -> Self {
        ResultsThresholds {
            min_sessions: 5,
            min_trades: 10,
            min_profit_factor: 1.0,
            min_net_pnl: rust_decimal::Decimal::ZERO,
        }
    }
}

/// A bot's closed trades at one stage, summed (the gate's evidence).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StageResults {
    pub sessions: u64,
    pub trades: u64,
    /// Sum of the winning trades' net PnL and of the losing trades' (a negative number), USD.
    pub gross_wins: rust_decimal::Decimal,
    pub gross_losses: rust_decimal::Decimal,
    pub net_pnl: rust_decimal::Decimal,
    pub first_closed_at: Option<DateTime<Utc>>,
    pub last_closed_at: Option<DateTime<Utc>>,
}

impl StageResults {
    /// Net winners over net losers; `None` without a losing trade.
    pub fn profit_factor(&self) -> Option<f64> {
        use rust_decimal::prelude::ToPrimitive;
        if self.gross_losses.is_zero() {
            return None;
        }
        (self.gross_wins / -self.gross_losses).to_f64()
    }
}

/// Every gate the `stage` (PAPER or SHADOW) trades' `results` miss (`{paper|shadow}_sessions`,
/// `_trades`, `_profit_factor`, `_net_pnl`); empty: promotion to the next stage may proceed.
pub fn check_results(
    stage: Stage,
    th: &ResultsThresholds,
    results: &StageResults,
) -> Vec<GateMiss> {
    let name = stage.as_str();
    let [sessions, trades, profit_factor, net_pnl] = match stage {
        Stage::Shadow => [
            "shadow_sessions",
            "shadow_trades",
            "shadow_profit_factor",
            "shadow_net_pnl",
        ],
        _ => [
            "paper_sessions",
            "paper_trades",
            "paper_profit_factor",
            "paper_net_pnl",
        ],
    };
    let mut out = Vec::new();
    if results.sessions < th.min_sessions {
        out.push(miss(
            sessions,
            format!(
                "The bot closed {name} trades in {} sessions; at least {} are needed.",
                results.sessions, th.min_sessions
            ),
        ));
    }
    if results.trades < th.min_trades {
        out.push(miss(
            trades,
            format!(
                "The bot closed {} {name} trades; at least {} are needed.",
                results.trades, th.min_trades
            ),
        ));
    }
    if let Some(pf) = results.profit_factor()
        && pf < th.min_profit_factor
    {
        out.push(miss(
            profit_factor,
            format!(
                "{name} profit factor {pf:.2} is below the required {:.2}.",
                th.min_profit_factor
            ),
        ));
    }
    if results.net_pnl < th.min_net_pnl {
        out.push(miss(
            net_pnl,
            format!(
                "{name} net PnL {} USD is below the required {} USD.",
                results.net_pnl.round_dp(2),
                th.min_net_pnl
            ),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn good() -> Evidence {
        Evidence {
            backtest_id: Uuid::from_u128(7),
            completed_at: t("2026-12-01T00:00:00Z"),
            trades: 12,
            profit_factor: Some(1.4),
            max_drawdown_pct: 8.0,
        }
    }

    #[test]
    fn good_recent_evidence_passes() {
        let now = t("2026-12-03T00:00:00Z");
        assert!(check(&EvidenceThresholds::default(), now, Some(&good())).is_empty());
        // No losing trade at all: unbounded profit factor passes.
        let flawless = Evidence {
            profit_factor: None,
            ..good()
        };
        assert!(check(&EvidenceThresholds::default(), now, Some(&flawless)).is_empty());
    }

    #[test]
    fn every_missed_gate_is_listed() {
        let th = EvidenceThresholds::default();
        let none = check(&th, t("2026-12-03T00:00:00Z"), None);
        assert_eq!(none.len(), 1);
        assert_eq!(none[0].gate, "backtest");
        let bad = Evidence {
            completed_at: t("2026-10-01T00:00:00Z"),
            trades: 3,
            profit_factor: Some(0.8),
            max_drawdown_pct: 31.5,
            ..good()
        };
        let gates: Vec<&str> = check(&th, t("2026-12-03T00:00:00Z"), Some(&bad))
            .iter()
            .map(|m| m.gate)
            .collect();
        assert_eq!(
            gates,
            ["age", "min_trades", "profit_factor", "max_drawdown"]
        );
    }

    #[test]
    fn thresholds_are_inclusive_at_the_boundary() {
        let th = EvidenceThresholds {
            max_age: Duration::days(2),
            min_trades: 12,
            min_profit_factor: 1.4,
            max_drawdown_pct: 8.0,
        };
        let now = t("2026-12-03T00:00:00Z");
        assert!(check(&th, now, Some(&good())).is_empty());
        let later = now + Duration::seconds(1);
        assert_eq!(check(&th, later, Some(&good()))[0].gate, "age");
    }

    #[test]
    fn stage_results_pass_only_with_every_threshold_met() {
        use rust_decimal_macros::dec;
        let th = ResultsThresholds::default();
        let good = StageResults {
            sessions: 5,
            trades: 12,
            gross_wins: dec!(900),
            gross_losses: dec!(-600),
            net_pnl: dec!(300),
            first_closed_at: None,
            last_closed_at: None,
        };
        assert_eq!(good.profit_factor(), Some(1.5));
        assert!(check_results(Stage::Paper, &th, &good).is_empty());
        let losing = StageResults {
            sessions: 3,
            trades: 4,
            gross_wins: dec!(100),
            gross_losses: dec!(-400),
            net_pnl: dec!(-300),
            ..good.clone()
        };
        let gates: Vec<&str> = check_results(Stage::Paper, &th, &losing)
            .iter()
            .map(|m| m.gate)
            .collect();
        assert_eq!(
            gates,
            [
                "paper_sessions",
                "paper_trades",
                "paper_profit_factor",
                "paper_net_pnl"
            ]
        );
        // SHADOW → LIVE asks the same of the SHADOW trades, under their own names.
        let shadow = check_results(Stage::Shadow, &th, &losing);
        assert_eq!(shadow[0].gate, "shadow_sessions");
        assert_eq!(
            shadow[1].message,
            "The bot closed 4 SHADOW trades; at least 10 are needed."
        );
        // No losing trade: the profit factor is unbounded and passes.
        let no_loser = StageResults {
            gross_losses: dec!(0),
            net_pnl: dec!(900),
            ..good
        };
        assert_eq!(no_loser.profit_factor(), None);
        assert!(check_results(Stage::Paper, &th, &no_loser).is_empty());
    }
}
