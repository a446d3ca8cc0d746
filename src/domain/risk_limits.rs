//! Per-bot risk limits: the complete set the engine reads, the partial set a request (or an
//! older stored row) carries, and the desk defaults that fill the gaps.

use crate::domain::timeframe::Timeframe;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::str::FromStr;

/// Per-bot limits. Money in USD (exact decimal, serialized as a string); sizes in contracts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RiskLimits {
    /// Contracts per order.
    pub max_order_size: u32,
    /// Absolute post-trade position, contracts.
    pub max_position: u32,
    /// Loss for the trading day (realized + unrealized) at which trading latches off, USD.
    #[schema(value_type = String, example = "500")]
    pub daily_loss_limit: Decimal,
    /// Peak-to-current equity drop at which trading stops, USD.
    #[schema(value_type = String, example = "1000")]
    pub max_drawdown: Decimal,
    pub max_orders_per_minute: u32,
    /// Largest distance, in ticks, between an order's price and the last traded price.
    pub price_collar_ticks: u32,
    /// Oldest market data (seconds) a decision may rest on.
    pub max_data_age_seconds: u32,
}

/// Any subset of the limits (request bodies; stored rows from before limits were complete).
/// Absent or `null` = not given. Read with [`RiskLimitsPatch::parse`], which names a bad field.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct RiskLimitsPatch {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_order_size: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_position: Option<u32>,
    /// USD, a decimal string or a number.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, example = "500")]
    pub daily_loss_limit: Option<Decimal>,
    /// USD, a decimal string or a number.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, example = "1000")]
    pub max_drawdown: Option<Decimal>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_orders_per_minute: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub price_collar_ticks: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_data_age_seconds: Option<u32>,
}

/// A limit that failed to parse or validate. `field` is the bare field name (empty: the value
/// as a whole, e.g. not an object).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitError {
    pub field: String,
    pub problem: String,
}

impl std::fmt::Display for LimitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.field.is_empty() {
            f.write_str(&self.problem)
        } else {
            write!(f, "{} {}", self.field, self.problem)
        }
    }
}

impl std::error::Error for LimitError {}

fn limit_error(field: &str, problem: &str) -> LimitError {
    LimitError {
        field: field.to_owned(),
        problem: problem.to_owned(),
    }
}

/// A count limit: an integer from 1 to 2^32 − 1.
fn count(field: &str, v: &Value) -> Result<u32, LimitError> {
    let n = v
        .as_u64()
        .ok_or_else(|| limit_error(field, "must be a whole number of at least 1"))?;
    match u32::try_from(n) {
        Ok(0) => Err(limit_error(field, "must be at least 1")),
        Ok(n) => Ok(n),
        Err(_) => Err(limit_error(field, "is too large")),
    }
}

/// A money limit in USD: a JSON number or decimal string, read exactly (no float rounding).
fn money(field: &str, v: &Value) -> Result<Decimal, LimitError> {
    let text = match v {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.trim().to_owned(),
        _ => return Err(limit_error(field, "must be a positive USD amount")),
    };
    let amount = Decimal::from_str(&text)
        .or_else(|_| Decimal::from_scientific(&text))
        .map_err(|_| limit_error(field, "must be a positive USD amount"))?;
    if amount <= Decimal::ZERO {
        return Err(limit_error(field, "must be a positive USD amount"));
    }
    Ok(amount.normalize())
}

impl RiskLimitsPatch {
    /// Reads a partial limits object, refusing unknown fields and bad values by name.
    pub fn parse(raw: &Value) -> Result<RiskLimitsPatch, LimitError> {
        let Value::Object(fields) = raw else {
            return Err(limit_error("", "must be an object of risk limits"));
        };
        let mut patch = RiskLimitsPatch::default();
        for (name, v) in fields {
            if v.is_null() {
                continue;
            }
            let f = name.as_str();
            match f {
                "max_order_size" => patch.max_order_size = Some(count(f, v)?),
                "max_position" => patch.max_position = Some(count(f, v)?),
                "daily_loss_limit" => patch.daily_loss_limit = Some(money(f, v)?),
                "max_drawdown" => patch.max_drawdown = Some(money(f, v)?),
                "max_orders_per_minute" => patch.max_orders_per_minute = Some(count(f, v)?),
                "price_collar_ticks" => patch.price_collar_ticks = Some(count(f, v)?),
                "max_data_age_seconds" => patch.max_data_age_seconds = Some(count(f, v)?),
                _ => {
                    return Err(limit_error(
                        f,
                        "is not a risk limit (max_order_size, max_position, daily_loss_limit, \
                         max_drawdown, max_orders_per_minute, price_collar_ticks, \
                         max_data_age_seconds)",
                    ));
                }
            }
        }
        Ok(patch)
    }

    /// Every field given: the limits themselves, without needing a base.
    pub fn complete(&self) -> Option<RiskLimits> {
        Some(RiskLimits {
            max_order_size: self.max_order_size?,
            max_position: self.max_position?,
            daily_loss_limit: self.daily_loss_limit?,
            max_drawdown: self.max_drawdown?,
            max_orders_per_minute: self.max_orders_per_minute?,
            price_collar_ticks: self.price_collar_ticks?,
            max_data_age_seconds: self.max_data_age_seconds?,
        })
    }
}

impl RiskLimits {
    /// Conservative desk defaults for a bot that sets no limit of its own: one contract, a small
    /// loss budget and a slow order rate, so a misconfigured bot can do little harm.
    /// Data age: a bar-driven decision legitimately rests on the previous completed bar, which
    /// is up to one bar length old when the next tick arrives; one more bar of slack absorbs a
    /// late vendor bar, and 5 s covers fetch latency. So a 1s bot accepts 7 s old data, a 1m
    /// bot 125 s and a 1d bot just over two days, while a feed that stopped is caught within
    /// two bars.
    pub fn defaults_for(timeframe: Timeframe) -> RiskLimits {
        let age = 2 * timeframe.seconds() + 5;
        RiskLimits {
            max_order_size: 1,
            max_position: 1,
            daily_loss_limit: Decimal::from(500),
            max_drawdown: Decimal::from(1000),
            max_orders_per_minute: 10,
            price_collar_ticks: 20,
            max_data_age_seconds: u32::try_from(age).unwrap_or(u32::MAX),
        }
    }

    /// `self` with every field the patch gives replaced.
    pub fn merged(&self, patch: &RiskLimitsPatch) -> RiskLimits {
        RiskLimits {
            max_order_size: patch.max_order_size.unwrap_or(self.max_order_size),
            max_position: patch.max_position.unwrap_or(self.max_position),
            daily_loss_limit: patch.daily_loss_limit.unwrap_or(self.daily_loss_limit),
            max_drawdown: patch.max_drawdown.unwrap_or(self.max_drawdown),
            max_orders_per_minute: patch
                .max_orders_per_minute
                .unwrap_or(self.max_orders_per_minute),
            price_collar_ticks: patch.price_collar_ticks.unwrap_or(self.price_collar_ticks),
            max_data_age_seconds: patch
                .max_data_age_seconds
                .unwrap_or(self.max_data_age_seconds),
        }
    }

    /// The limits a bot's stored `risk_limits` jsonb stands for: missing fields (older rows
    /// store `{}`) take [`RiskLimits::defaults_for`] the bot's timeframe. Unknown fields and bad
    /// values are an error naming the field.
    pub fn from_stored(raw: &Value, timeframe: Timeframe) -> Result<RiskLimits, String> {
        RiskLimitsPatch::parse(raw)
            .map(|patch| RiskLimits::defaults_for(timeframe).merged(&patch))
            .map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;
    use serde_json::json;

    #[test]
    fn defaults_scale_the_data_age_with_the_bar_length() {
        let s1 = RiskLimits::defaults_for(Timeframe::S1);
        assert_eq!(s1.max_data_age_seconds, 7);
        assert_eq!(
            RiskLimits::defaults_for(Timeframe::M1).max_data_age_seconds,
            125
        );
        assert_eq!(
            RiskLimits::defaults_for(Timeframe::D1).max_data_age_seconds,
            2 * 86_400 + 5
        );
        assert_eq!(
            (s1.max_order_size, s1.max_position, s1.daily_loss_limit),
            (1, 1, dec!(500))
        );
        assert_eq!(
            (
                s1.max_drawdown,
                s1.max_orders_per_minute,
                s1.price_collar_ticks
            ),
            (dec!(1000), 10, 20)
        );
    }

    #[test]
    fn empty_and_partial_rows_take_the_defaults_of_their_timeframe() {
        let d = RiskLimits::defaults_for(Timeframe::M5);
        assert_eq!(RiskLimits::from_stored(&json!({}), Timeframe::M5), Ok(d));
        let got = RiskLimits::from_stored(
            &json!({"max_order_size": 3, "daily_loss_limit": 1500.25, "max_drawdown": "2500"}),
            Timeframe::M5,
        )
        .unwrap();
        assert_eq!(got.max_order_size, 3);
        assert_eq!(got.daily_loss_limit, dec!(1500.25));
        assert_eq!(got.max_drawdown, dec!(2500));
        assert_eq!(got.max_position, 1);
        assert_eq!(got.max_data_age_seconds, 605);
    }

    #[test]
    fn money_is_read_exactly_and_round_trips_as_a_string() {
        let got =
            RiskLimits::from_stored(&json!({"daily_loss_limit": 0.1}), Timeframe::M1).unwrap();
        assert_eq!(got.daily_loss_limit, dec!(0.1));
        let stored = serde_json::to_value(&got).unwrap();
        assert_eq!(stored["daily_loss_limit"], "0.1");
        assert_eq!(RiskLimits::from_stored(&stored, Timeframe::H1), Ok(got));
    }

    #[test]
    fn bad_values_and_unknown_fields_are_named() {
        let err = |raw: Value| RiskLimits::from_stored(&raw, Timeframe::M1).unwrap_err();
        assert!(err(json!({"max_order_size": 0})).starts_with("max_order_size "));
        assert!(err(json!({"max_position": -2})).starts_with("max_position "));
        assert!(err(json!({"price_collar_ticks": 1.5})).starts_with("price_collar_ticks "));
        assert!(err(json!({"max_orders_per_minute": "5"})).starts_with("max_orders_per_minute "));
        assert!(
            err(json!({"max_data_age_seconds": 5_000_000_000_u64}))
                .starts_with("max_data_age_seconds ")
        );
        assert!(err(json!({"daily_loss_limit": 0})).starts_with("daily_loss_limit "));
        assert!(err(json!({"max_drawdown": "-1"})).starts_with("max_drawdown "));
        assert!(err(json!({"max_drawdown": "lots"})).starts_with("max_drawdown "));
        assert!(err(json!({"max_data_age_secs": 60})).starts_with("max_data_age_secs "));
        assert_eq!(err(json!([1])), "must be an object of risk limits");
    }

    #[test]
    fn a_patch_replaces_only_what_it_gives() {
        let base = RiskLimits::defaults_for(Timeframe::M1);
        let patch =
            RiskLimitsPatch::parse(&json!({"max_position": 4, "max_drawdown": null})).unwrap();
        assert_eq!(patch.complete(), None);
        let merged = base.merged(&patch);
        assert_eq!(merged.max_position, 4);
        assert_eq!(
            RiskLimits {
                max_position: 1,
                ..merged
            },
            base
        );
        let full = RiskLimitsPatch::parse(&serde_json::to_value(&base).unwrap()).unwrap();
        assert_eq!(full.complete(), Some(base));
    }

    #[test]
    fn the_complete_type_still_refuses_unknown_fields() {
        let mut raw = serde_json::to_value(RiskLimits::defaults_for(Timeframe::M1)).unwrap();
        raw["leverage"] = json!(10);
        assert!(serde_json::from_value::<RiskLimits>(raw).is_err());
    }
}
