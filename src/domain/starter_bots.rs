//! The starter set (issue 15 part 8): one LAB bot per strategy kind on ES and NQ, with the
//! desk's defaults, so a new desk can backtest at once. The names are the identity: creating
//! the set again creates only the names that are missing.
//!
//! | Name | Symbol | Timeframe | Strategy |
//! |---|---|---|---|
//! | `starter-es-sma-crossover` | ES | 5m | `sma_crossover` fast 10, slow 30 (SMA) |
//! | `starter-es-donchian-breakout` | ES | 5m | `donchian_breakout` lookback 20 |
//! | `starter-es-rsi-mean-reversion` | ES | 5m | `rsi_mean_reversion` period 14, 30/70 |
//! | `starter-nq-…` | NQ | 5m | the same three |
//!
//! Risk limits are the timeframe's desk defaults (`RiskLimits::defaults_for`).

use super::instruments::Symbol;
use super::strategy_config::{
    CrossoverParams, DonchianParams, MovingAverage, RsiParams, StrategyConfig,
};
use super::timeframe::Timeframe;

/// One bot of the starter set.
#[derive(Debug, Clone, PartialEq)]
pub struct StarterBot {
    pub name: String,
    pub symbol: Symbol,
    pub timeframe: Timeframe,
    pub strategy: StrategyConfig,
}

/// The timeframe every starter bot uses: a week of it is ~1,400 bars, quick to backtest.
pub const STARTER_TIMEFRAME: Timeframe = Timeframe::M5;

/// The strategies of the set, one per kind, with textbook defaults.
fn strategies() -> [StrategyConfig; 3] {
    [
        StrategyConfig::SmaCrossover(CrossoverParams {
            fast: 10,
            slow: 30,
            average: MovingAverage::Sma,
        }),
        StrategyConfig::DonchianBreakout(DonchianParams { lookback: 20 }),
        StrategyConfig::RsiMeanReversion(RsiParams {
            period: 14,
            oversold: 30.0,
            overbought: 70.0,
        }),
    ]
}

/// The whole set, ES first, in a fixed order.
pub fn starter_set() -> Vec<StarterBot> {
    [Symbol::Es, Symbol::Nq]
        .into_iter()
        .flat_map(|symbol| {
            strategies().into_iter().map(move |strategy| StarterBot {
                name: format!(
                    "starter-{}-{}",
                    symbol.as_str().to_lowercase(),
                    strategy.kind().replace('_', "-")
                ),
                symbol,
                timeframe: STARTER_TIMEFRAME,
                strategy,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_on_es_and_nq_with_valid_params_and_unique_names() {
        let set = starter_set();
        assert_eq!(set.len(), 6);
        assert_eq!(set[0].name, "starter-es-sma-crossover");
        assert_eq!(set[5].name, "starter-nq-rsi-mean-reversion");
        let names: std::collections::HashSet<&str> = set.iter().map(|b| b.name.as_str()).collect();
        assert_eq!(names.len(), 6);
        for symbol in [Symbol::Es, Symbol::Nq] {
            let kinds: Vec<&str> = set
                .iter()
                .filter(|b| b.symbol == symbol)
                .map(|b| b.strategy.kind())
                .collect();
            assert_eq!(
                kinds,
                ["sma_crossover", "donchian_breakout", "rsi_mean_reversion"]
            );
        }
        assert!(set.iter().all(|b| b.strategy.validate().is_ok()));
    }
}
