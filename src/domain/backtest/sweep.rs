//! Parameter sweeps (issue 15 part 5): the parameter space a sweep asks for, checked against
//! the strategy kind's declared parameters (unknown names, values out of bounds, empty or
//! inverted ranges and oversized sweeps are refused naming the field), expanded as a grid or
//! a seeded random sample of that grid, each combination applied to the strategy; the ranking
//! of the finished runs is [`ranking`]'s. Pure and deterministic.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::domain::strategy_config::{FieldError, MAX_LOOKBACK, StrategyConfig};

fn field(name: impl Into<String>, problem: impl Into<String>) -> FieldError {
    FieldError {
        field: name.into(),
        problem: problem.into(),
    }
}

/// The type of one strategy parameter, with its bounds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ParamType {
    /// A whole number in `[min, max]`.
    Integer { min: i64, max: i64 },
    /// A real number strictly between `min` and `max`.
    Real { min: f64, max: f64 },
    /// One of these strings.
    Choice(&'static [&'static str]),
}

/// The parameters a strategy kind declares (every name its `params` accept), in name order.
pub fn params_of(kind: &str) -> Option<&'static [(&'static str, ParamType)]> {
    const LOOKBACK: i64 = MAX_LOOKBACK as i64;
    match kind {
        "sma_crossover" => Some(&[
            ("average", ParamType::Choice(&["sma", "ema"])),
            (
                "fast",
                ParamType::Integer {
                    min: 1,
                    max: LOOKBACK,
                },
            ),
            (
                "slow",
                ParamType::Integer {
                    min: 2,
                    max: LOOKBACK,
                },
            ),
        ]),
        "donchian_breakout" => Some(&[(
            "lookback",
            ParamType::Integer {
                min: 2,
                max: LOOKBACK,
            },
        )]),
        "rsi_mean_reversion" => Some(&[
            (
                "overbought",
                ParamType::Real {
                    min: 0.0,
                    max: 100.0,
                },
            ),
            (
                "oversold",
                ParamType::Real {
                    min: 0.0,
                    max: 100.0,
                },
            ),
            (
                "period",
                ParamType::Integer {
                    min: 2,
                    max: LOOKBACK,
                },
            ),
        ]),
        _ => None,
    }
}

/// How one parameter varies: a list of values, or `min..=max` by `step`.
#[derive(Debug, Clone, PartialEq)]
pub enum ParamRange {
    Values { values: Vec<Value> },
    Range { min: f64, max: f64, step: f64 },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ValuesSpec {
    values: Vec<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RangeSpec {
    min: f64,
    max: f64,
    step: f64,
}

impl ParamRange {
    /// `{"values": [...]}` or `{"min": …, "max": …, "step": …}`; anything else (unknown keys
    /// included) is refused.
    pub fn parse(raw: &Value) -> Result<ParamRange, String> {
        if raw.get("values").is_some() {
            let v: ValuesSpec = serde_json::from_value(raw.clone()).map_err(|e| e.to_string())?;
            return Ok(ParamRange::Values { values: v.values });
        }
        let r: RangeSpec = serde_json::from_value(raw.clone()).map_err(|e| {
            format!("must be {{\"values\": [...]}} or {{\"min\", \"max\", \"step\"}}: {e}")
        })?;
        Ok(ParamRange::Range {
            min: r.min,
            max: r.max,
            step: r.step,
        })
    }
}

/// Parses each range of a request's `params` object, naming the field of a bad one.
pub fn parse_ranges(
    raw: &serde_json::Map<String, Value>,
) -> Result<BTreeMap<String, ParamRange>, FieldError> {
    raw.iter()
        .map(|(k, v)| {
            ParamRange::parse(v)
                .map(|r| (k.clone(), r))
                .map_err(|p| field(format!("params.{k}"), p))
        })
        .collect()
}

/// Grid (every combination) or random (a seeded sample of the grid, without repeats).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SweepMode {
    Grid,
    Random,
}

/// A checked parameter space: each swept parameter's values, in name order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ParamSpace {
    pub axes: Vec<(String, Vec<Value>)>,
}

impl ParamSpace {
    /// Combinations in the full grid (saturating).
    pub fn grid_size(&self) -> u64 {
        self.axes
            .iter()
            .fold(1u64, |n, (_, v)| n.saturating_mul(v.len() as u64))
    }

    /// The `index`-th combination of the grid (mixed radix, the last axis fastest).
    pub fn combination(&self, mut index: u64) -> BTreeMap<String, Value> {
        let mut out = BTreeMap::new();
        for (name, values) in self.axes.iter().rev() {
            let n = values.len().max(1) as u64;
            let i = usize::try_from(index % n).unwrap_or(0);
            index /= n;
            if let Some(v) = values.get(i) {
                out.insert(name.clone(), v.clone());
            }
        }
        out
    }
}

/// Values one axis may expand to before the sweep is refused as oversized anyway.
const MAX_AXIS_VALUES: usize = 100_000;

/// Checks `ranges` (keyed by parameter name) for strategy `kind` and expands each axis.
/// Field names are `params.<name>[.min|.max|.step|.values]`.
pub fn parse_space(
    kind: &str,
    ranges: &BTreeMap<String, ParamRange>,
) -> Result<ParamSpace, FieldError> {
    let declared = params_of(kind).ok_or_else(|| {
        field(
            "strategy.kind",
            "must be one of sma_crossover, donchian_breakout, rsi_mean_reversion",
        )
    })?;
    if ranges.is_empty() {
        return Err(field("params", "name at least one parameter to sweep"));
    }
    let mut axes = Vec::new();
    for (name, range) in ranges {
        let f = |suffix: &str| {
            if suffix.is_empty() {
                format!("params.{name}")
            } else {
                format!("params.{name}.{suffix}")
            }
        };
        let Some(&(_, ty)) = declared.iter().find(|(n, _)| n == name) else {
            let known: Vec<&str> = declared.iter().map(|(n, _)| *n).collect();
            return Err(field(
                f(""),
                format!("is not a parameter of {kind} (it has {})", known.join(", ")),
            ));
        };
        let values = match range {
            ParamRange::Values { values } => {
                if values.is_empty() {
                    return Err(field(f("values"), "must list at least one value"));
                }
                if values.len() > MAX_AXIS_VALUES {
                    return Err(field(
                        f("values"),
                        format!("must list at most {MAX_AXIS_VALUES} values"),
                    ));
                }
                for v in values {
                    check_value(ty, v).map_err(|p| field(f("values"), p))?;
                }
                // First occurrences in order; keyed by their JSON text (one pass, not n²).
                let mut seen = std::collections::HashSet::with_capacity(values.len());
                values
                    .iter()
                    .filter(|v| seen.insert(v.to_string()))
                    .cloned()
                    .collect()
            }
            ParamRange::Range { min, max, step } => expand(ty, *min, *max, *step, &f)?,
        };
        axes.push((name.clone(), values));
    }
    Ok(ParamSpace { axes })
}

fn check_value(ty: ParamType, v: &Value) -> Result<(), String> {
    match ty {
        ParamType::Integer { min, max } => match v.as_i64() {
            Some(n) if (min..=max).contains(&n) => Ok(()),
            _ => Err(format!("must be whole numbers between {min} and {max}")),
        },
        ParamType::Real { min, max } => match v.as_f64() {
            Some(x) if x.is_finite() && x > min && x < max => Ok(()),
            _ => Err(format!(
                "must be numbers between {min} and {max} (exclusive)"
            )),
        },
        ParamType::Choice(options) => match v.as_str() {
            Some(s) if options.contains(&s) => Ok(()),
            _ => Err(format!("must each be one of {}", options.join(", "))),
        },
    }
}

fn expand(
    ty: ParamType,
    min: f64,
    max: f64,
    step: f64,
    f: &dyn Fn(&str) -> String,
) -> Result<Vec<Value>, FieldError> {
    if !(min.is_finite() && max.is_finite() && step.is_finite()) {
        return Err(field(f(""), "min, max and step must be finite numbers"));
    }
    if step <= 0.0 {
        return Err(field(f("step"), "must be above 0"));
    }
    if max < min {
        return Err(field(f("max"), "must not be below `min`"));
    }
    let steps = ((max - min) / step + 1e-9).floor();
    if steps >= MAX_AXIS_VALUES as f64 {
        return Err(field(
            f("step"),
            format!("makes more than {MAX_AXIS_VALUES} values: use a larger step"),
        ));
    }
    let count = steps as usize + 1;
    match ty {
        ParamType::Integer { min: lo, max: hi } => {
            if min.fract() != 0.0 || step.fract() != 0.0 {
                return Err(field(f("step"), "min and step must be whole numbers"));
            }
            if min < lo as f64 {
                return Err(field(f("min"), format!("must be at least {lo}")));
            }
            if max > hi as f64 {
                return Err(field(f("max"), format!("must be at most {hi}")));
            }
            Ok((0..count)
                .map(|i| Value::from(min as i64 + i as i64 * step as i64))
                .collect())
        }
        ParamType::Real { min: lo, max: hi } => {
            if min <= lo {
                return Err(field(f("min"), format!("must be above {lo}")));
            }
            if max >= hi {
                return Err(field(f("max"), format!("must be below {hi}")));
            }
            Ok((0..count)
                .map(|i| {
                    // Rounded to 1e-6 so 0.1 steps do not drift into 30.000000000000004.
                    let x = ((min + i as f64 * step) * 1e6).round() / 1e6;
                    serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)
                })
                .collect())
        }
        ParamType::Choice(_) => Err(field(
            f(""),
            "is a choice: list its `values` instead of a range",
        )),
    }
}

/// The combinations to run: the whole grid, or `samples` of it drawn without repeats from a
/// generator seeded with `seed` (all of it when `samples` is at least the grid's size).
/// Indices into the grid, ascending.
pub fn pick(space: &ParamSpace, mode: SweepMode, samples: u64, seed: u64) -> Vec<u64> {
    let n = space.grid_size();
    if mode == SweepMode::Grid || samples >= n {
        return (0..n).collect();
    }
    // Floyd's algorithm: `samples` distinct indices in `samples` draws.
    let mut rng = SplitMix64(seed);
    let mut chosen = std::collections::BTreeSet::new();
    for j in (n - samples)..n {
        let t = rng.next() % (j + 1);
        if !chosen.insert(t) {
            chosen.insert(j);
        }
    }
    chosen.into_iter().collect()
}

/// A small deterministic generator (Steele, Lea, Flood 2014): the same seed gives the same
/// sample on every machine and version.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// `base` with `combination` written over its params, as a checked strategy; `Err` with the
/// reason when the combination is not a valid strategy (e.g. `fast` ≥ `slow`).
pub fn apply(
    base: &StrategyConfig,
    combination: &BTreeMap<String, Value>,
) -> Result<StrategyConfig, FieldError> {
    let mut raw = serde_json::to_value(base).map_err(|e| field("strategy", e.to_string()))?;
    if let Some(params) = raw.get_mut("params").and_then(Value::as_object_mut) {
        for (k, v) in combination {
            params.insert(k.clone(), v.clone());
        }
    }
    let config: StrategyConfig =
        serde_json::from_value(raw).map_err(|e| field("strategy.params", e.to_string()))?;
    config.validate()?;
    Ok(config)
}

/// The figures a ranking shows for one run (or one combination over several folds).
mod ranking;
pub use ranking::*;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ranges(v: Value) -> BTreeMap<String, ParamRange> {
        parse_ranges(v.as_object().unwrap()).unwrap()
    }

    #[test]
    fn a_grid_expands_each_axis_and_enumerates_every_combination() {
        let space = parse_space(
            "sma_crossover",
            &ranges(
                json!({"fast": {"min": 5, "max": 15, "step": 5}, "slow": {"values": [20, 40, 20]}}),
            ),
        )
        .unwrap();
        assert_eq!(
            space.axes[0],
            ("fast".into(), vec![json!(5), json!(10), json!(15)])
        );
        assert_eq!(space.axes[1], ("slow".into(), vec![json!(20), json!(40)]));
        assert_eq!(space.grid_size(), 6);
        let all: Vec<_> = pick(&space, SweepMode::Grid, 0, 0)
            .into_iter()
            .map(|i| space.combination(i))
            .collect();
        assert_eq!(all.len(), 6);
        assert_eq!(all[0]["fast"], json!(5));
        assert_eq!(all[0]["slow"], json!(20));
        assert_eq!(all[1]["slow"], json!(40));
        assert_eq!(all[5]["fast"], json!(15));
        let unique: std::collections::HashSet<String> = all
            .iter()
            .map(|c| serde_json::to_string(c).unwrap())
            .collect();
        assert_eq!(unique.len(), 6);
    }

    #[test]
    fn real_ranges_do_not_drift() {
        let space = parse_space(
            "rsi_mean_reversion",
            &ranges(json!({"oversold": {"min": 20, "max": 30, "step": 2.5}})),
        )
        .unwrap();
        assert_eq!(
            space.axes[0].1,
            vec![
                json!(20.0),
                json!(22.5),
                json!(25.0),
                json!(27.5),
                json!(30.0)
            ]
        );
    }

    #[test]
    fn bad_spaces_name_their_field() {
        let cases = [
            (
                json!({"fast": {"values": [5]}, "lookback": {"values": [3]}}),
                "params.lookback",
            ),
            (
                json!({"fast": {"min": 10, "max": 5, "step": 1}}),
                "params.fast.max",
            ),
            (
                json!({"fast": {"min": 0, "max": 5, "step": 1}}),
                "params.fast.min",
            ),
            (
                json!({"slow": {"min": 10, "max": 5000, "step": 10}}),
                "params.slow.max",
            ),
            (
                json!({"fast": {"min": 1, "max": 5, "step": 0}}),
                "params.fast.step",
            ),
            (
                json!({"fast": {"min": 1, "max": 5, "step": 0.5}}),
                "params.fast.step",
            ),
            (json!({"fast": {"values": []}}), "params.fast.values"),
            (json!({"fast": {"values": [2.5]}}), "params.fast.values"),
            (
                json!({"average": {"values": ["wma"]}}),
                "params.average.values",
            ),
            (
                json!({"average": {"min": 1, "max": 2, "step": 1}}),
                "params.average",
            ),
            (json!({}), "params"),
        ];
        for (body, want) in cases {
            let err = parse_space("sma_crossover", &ranges(body.clone())).unwrap_err();
            assert_eq!(err.field, want, "{body}: {err:?}");
        }
        let err = parse_space(
            "rsi_mean_reversion",
            &ranges(json!({"overbought": {"min": 60, "max": 100, "step": 10}})),
        )
        .unwrap_err();
        assert_eq!(err.field, "params.overbought.max");
        // An unknown key in a range is not silently ignored.
        let err = parse_ranges(
            json!({"fast": {"min": 1, "max": 2, "stp": 1}})
                .as_object()
                .unwrap(),
        )
        .unwrap_err();
        assert_eq!(err.field, "params.fast");
    }

    #[test]
    fn a_random_sample_is_seeded_distinct_and_bounded_by_the_grid() {
        let space = parse_space(
            "sma_crossover",
            &ranges(json!({"fast": {"min": 1, "max": 20, "step": 1}, "slow": {"min": 21, "max": 70, "step": 1}})),
        )
        .unwrap();
        assert_eq!(space.grid_size(), 1000);
        let a = pick(&space, SweepMode::Random, 25, 7);
        assert_eq!(a.len(), 25);
        assert_eq!(a, pick(&space, SweepMode::Random, 25, 7));
        assert_ne!(a, pick(&space, SweepMode::Random, 25, 8));
        assert!(a.windows(2).all(|w| w[0] < w[1]) && a.iter().all(|&i| i < 1000));
        assert_eq!(pick(&space, SweepMode::Random, 5000, 7).len(), 1000);
    }

    #[test]
    fn applying_a_combination_validates_the_strategy() {
        let base: StrategyConfig = serde_json::from_value(
            json!({"kind": "sma_crossover", "params": {"fast": 5, "slow": 20}}),
        )
        .unwrap();
        let ok = apply(&base, &BTreeMap::from([("fast".into(), json!(8))])).unwrap();
        assert_eq!(serde_json::to_value(&ok).unwrap()["params"]["fast"], 8);
        assert_eq!(serde_json::to_value(&ok).unwrap()["params"]["slow"], 20);
        let bad = apply(&base, &BTreeMap::from([("fast".into(), json!(30))])).unwrap_err();
        assert_eq!(bad.field, "strategy.params.fast");
    }
}
