//! Strategy kinds and their parameters as a bot stores them (`{kind, params}`), validated so a
//! bad value is refused naming its field.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A field that failed validation and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// Dotted path from the bot body, e.g. `strategy.params.slow`.
    pub field: String,
    pub problem: String,
}

impl FieldError {
    fn new(field: &str, problem: impl Into<String>) -> Self {
        FieldError {
            field: format!("strategy.params.{field}"),
            problem: problem.into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum MovingAverage {
    Sma,
    Ema,
}

/// `{"kind": "...", "params": {...}}`; unknown params are refused rather than ignored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", content = "params", rename_all = "snake_case")]
pub enum StrategyConfig {
    /// Long when the fast average crosses above the slow one, short (or flat) below.
    SmaCrossover(CrossoverParams),
    /// Long on a close above the highest high of `lookback` bars, short below the lowest low.
    DonchianBreakout(DonchianParams),
    /// Long when RSI is below `oversold`, short above `overbought`, exit near 50.
    RsiMeanReversion(RsiParams),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CrossoverParams {
    pub fast: u32,
    pub slow: u32,
    #[serde(default = "default_average")]
    pub average: MovingAverage,
}

fn default_average() -> MovingAverage {
    MovingAverage::Sma
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DonchianParams {
    pub lookback: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RsiParams {
    pub period: u32,
    pub oversold: f64,
    pub overbought: f64,
}

/// Longest lookback any strategy may ask for (bars fetched per evaluation stay bounded).
pub const MAX_LOOKBACK: u32 = 1_000;

impl StrategyConfig {
    /// Whether running this strategy needs an LLM (a news gate, say). None of today's kinds
    /// does; the match is exhaustive so a new kind must answer.
    pub fn needs_ai(&self) -> bool {
        match self {
            StrategyConfig::SmaCrossover(_)
            | StrategyConfig::DonchianBreakout(_)
            | StrategyConfig::RsiMeanReversion(_) => false,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            StrategyConfig::SmaCrossover(_) => "sma_crossover",
            StrategyConfig::DonchianBreakout(_) => "donchian_breakout",
            StrategyConfig::RsiMeanReversion(_) => "rsi_mean_reversion",
        }
    }

    /// Bars of history one evaluation needs.
    pub fn warmup_bars(&self) -> u32 {
        match self {
            StrategyConfig::SmaCrossover(p) => p.slow + 1,
            StrategyConfig::DonchianBreakout(p) => p.lookback + 1,
            StrategyConfig::RsiMeanReversion(p) => p.period + 1,
        }
    }

    pub fn validate(&self) -> Result<(), FieldError> {
        let lookback = |field: &str, v: u32, min: u32| {
            if v < min || v > MAX_LOOKBACK {
                Err(FieldError::new(
                    field,
                    format!("must be between {min} and {MAX_LOOKBACK}"),
                ))
            } else {
                Ok(())
            }
        };
        match self {
            StrategyConfig::SmaCrossover(p) => {
                lookback("fast", p.fast, 1)?;
                lookback("slow", p.slow, 2)?;
                if p.fast >= p.slow {
                    return Err(FieldError::new("fast", "must be smaller than `slow`"));
                }
            }
            StrategyConfig::DonchianBreakout(p) => lookback("lookback", p.lookback, 2)?,
            StrategyConfig::RsiMeanReversion(p) => {
                lookback("period", p.period, 2)?;
                let level = |field: &str, v: f64| {
                    if v.is_finite() && v > 0.0 && v < 100.0 {
                        Ok(())
                    } else {
                        Err(FieldError::new(
                            field,
                            "must be between 0 and 100 (exclusive)",
                        ))
                    }
                };
                level("oversold", p.oversold)?;
                level("overbought", p.overbought)?;
                if p.oversold >= p.overbought {
                    return Err(FieldError::new(
                        "oversold",
                        "must be smaller than `overbought`",
                    ));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: serde_json::Value) -> Result<StrategyConfig, serde_json::Error> {
        serde_json::from_value(v)
    }

    #[test]
    fn parses_each_kind() {
        let s =
            parse(json!({"kind": "sma_crossover", "params": {"fast": 10, "slow": 30}})).unwrap();
        assert_eq!(s.kind(), "sma_crossover");
        assert_eq!(s.warmup_bars(), 31);
        assert!(s.validate().is_ok());
        let s = parse(json!({"kind": "donchian_breakout", "params": {"lookback": 20}})).unwrap();
        assert!(s.validate().is_ok());
        let s = parse(json!({"kind": "rsi_mean_reversion", "params": {"period": 14, "oversold": 30, "overbought": 70}})).unwrap();
        assert!(s.validate().is_ok());
    }

    #[test]
    fn refuses_unknown_kinds_and_params() {
        assert!(parse(json!({"kind": "martingale", "params": {}})).is_err());
        assert!(
            parse(json!({"kind": "donchian_breakout", "params": {"lookback": 20, "x": 1}}))
                .is_err()
        );
    }

    #[test]
    fn validation_names_the_field() {
        let cases = [
            (
                json!({"kind": "sma_crossover", "params": {"fast": 30, "slow": 10}}),
                "strategy.params.fast",
            ),
            (
                json!({"kind": "sma_crossover", "params": {"fast": 0, "slow": 10}}),
                "strategy.params.fast",
            ),
            (
                json!({"kind": "sma_crossover", "params": {"fast": 5, "slow": 5000}}),
                "strategy.params.slow",
            ),
            (
                json!({"kind": "donchian_breakout", "params": {"lookback": 1}}),
                "strategy.params.lookback",
            ),
            (
                json!({"kind": "rsi_mean_reversion", "params": {"period": 14, "oversold": 80, "overbought": 70}}),
                "strategy.params.oversold",
            ),
            (
                json!({"kind": "rsi_mean_reversion", "params": {"period": 14, "oversold": 30, "overbought": 100}}),
                "strategy.params.overbought",
            ),
        ];
        for (body, field) in cases {
            let err = parse(body.clone()).unwrap().validate().unwrap_err();
            assert_eq!(err.field, field, "{body}");
        }
    }
}
