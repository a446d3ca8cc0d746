//! Parameter sweeps (issue 15 part 5): the parameter space a sweep asks for, checked against
//! the strategy kind's declared parameters (unknown names, values out of bounds, empty or
//! inverted ranges and oversized sweeps are refused naming the field), expanded as a grid or
//! a seeded random sample of that grid, and the ranking of the finished runs (sortable, the
//! out-of-sample figure beside the in-sample one). Pure and deterministic.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use rust_decimal::Decimal;
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
                for v in values {
                    check_value(ty, v).map_err(|p| field(f("values"), p))?;
                }
                let mut unique: Vec<Value> = Vec::with_capacity(values.len());
                for v in values {
                    if !unique.contains(v) {
                        unique.push(v.clone());
                    }
                }
                unique
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Figures {
    pub net_pnl: Decimal,
    pub profit_factor: Option<f64>,
    pub trades: u64,
    pub max_drawdown_pct: f64,
    pub sharpe: Option<f64>,
}

impl Figures {
    /// Several folds' figures as one: PnL and trades add up, the deepest drawdown counts,
    /// profit factor and Sharpe are the mean of the folds that have one.
    pub fn combine(parts: &[Figures]) -> Option<Figures> {
        if parts.is_empty() {
            return None;
        }
        let mean =
            |xs: Vec<f64>| (!xs.is_empty()).then(|| xs.iter().sum::<f64>() / xs.len() as f64);
        Some(Figures {
            net_pnl: parts.iter().map(|p| p.net_pnl).sum(),
            profit_factor: mean(parts.iter().filter_map(|p| p.profit_factor).collect()),
            trades: parts.iter().map(|p| p.trades).sum(),
            max_drawdown_pct: parts.iter().map(|p| p.max_drawdown_pct).fold(0.0, f64::max),
            sharpe: mean(parts.iter().filter_map(|p| p.sharpe).collect()),
        })
    }
}

/// One row of a sweep's ranking.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RankRow {
    pub params: BTreeMap<String, Value>,
    /// Over the whole range (a plain sweep) or summed over the folds' in-sample windows.
    pub in_sample: Option<Figures>,
    /// Summed over the folds' out-of-sample windows (walk-forward only).
    pub out_of_sample: Option<Figures>,
    /// The row's child backtests (one per window), for "create bot from this result".
    pub backtest_ids: Vec<uuid::Uuid>,
}

/// What a ranking sorts by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SortKey {
    NetPnl,
    ProfitFactor,
    Trades,
    MaxDrawdown,
    Sharpe,
    OosNetPnl,
}

impl SortKey {
    pub const ALL: [SortKey; 6] = [
        SortKey::NetPnl,
        SortKey::ProfitFactor,
        SortKey::Trades,
        SortKey::MaxDrawdown,
        SortKey::Sharpe,
        SortKey::OosNetPnl,
    ];

    pub fn parse(raw: &str) -> Option<SortKey> {
        serde_json::from_value(Value::String(raw.to_owned())).ok()
    }

    fn value(self, row: &RankRow) -> Option<f64> {
        use rust_decimal::prelude::ToPrimitive;
        let is = row.in_sample.as_ref();
        match self {
            SortKey::NetPnl => is.and_then(|f| f.net_pnl.to_f64()),
            SortKey::ProfitFactor => is.and_then(|f| f.profit_factor),
            SortKey::Trades => is.map(|f| f.trades as f64),
            SortKey::MaxDrawdown => is.map(|f| f.max_drawdown_pct),
            SortKey::Sharpe => is.and_then(|f| f.sharpe),
            SortKey::OosNetPnl => row.out_of_sample.as_ref().and_then(|f| f.net_pnl.to_f64()),
        }
    }
}

/// Sorts `rows` by `key` (`descending` or not); rows without that figure (not finished, no
/// losing trade for a profit factor) come last whatever the order; ties keep the params'
/// order, so the ranking is the same on every read.
pub fn rank(rows: &mut [RankRow], key: SortKey, descending: bool) {
    let params_key = |r: &RankRow| serde_json::to_string(&r.params).unwrap_or_default();
    rows.sort_by(|a, b| {
        let by_value = match (key.value(a), key.value(b)) {
            (Some(x), Some(y)) => {
                let o = x.partial_cmp(&y).unwrap_or(Ordering::Equal);
                if descending { o.reverse() } else { o }
            }
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        };
        by_value.then_with(|| params_key(a).cmp(&params_key(b)))
    });
}

/// Which part of the range a sweep's child backtest covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Window {
    /// The whole range (a plain sweep).
    Full,
    InSample,
    OutOfSample,
}

impl Window {
    pub const fn as_str(self) -> &'static str {
        match self {
            Window::Full => "FULL",
            Window::InSample => "IN_SAMPLE",
            Window::OutOfSample => "OUT_OF_SAMPLE",
        }
    }

    pub fn parse(raw: &str) -> Option<Window> {
        [Window::Full, Window::InSample, Window::OutOfSample]
            .into_iter()
            .find(|w| w.as_str() == raw)
    }
}

/// One child backtest of a sweep as the ranking reads it: `figures` once it SUCCEEDED.
#[derive(Debug, Clone, PartialEq)]
pub struct ChildFigures {
    pub backtest_id: uuid::Uuid,
    pub combination: u32,
    pub fold: Option<u32>,
    pub window: Window,
    /// The swept parameters' values.
    pub params: BTreeMap<String, Value>,
    pub figures: Option<Figures>,
}

/// Figures of one window kind for a set of children: `None` unless every one of them
/// finished with figures (a half-finished walk-forward would flatter or hide a combination).
fn all_figures<'a>(children: impl Iterator<Item = &'a ChildFigures>) -> Option<Figures> {
    let mut parts = Vec::new();
    for c in children {
        parts.push(c.figures.clone()?);
    }
    Figures::combine(&parts)
}

/// One ranking row per combination: the in-sample figure (the whole range, or the folds'
/// in-sample windows combined) and, for a walk-forward, the out-of-sample one beside it.
/// Unsorted (see [`rank`]).
pub fn ranking(children: &[ChildFigures]) -> Vec<RankRow> {
    let mut by_combination: BTreeMap<u32, Vec<&ChildFigures>> = BTreeMap::new();
    for c in children {
        by_combination.entry(c.combination).or_default().push(c);
    }
    by_combination
        .into_values()
        .map(|cs| {
            let walk_forward = cs.iter().any(|c| c.window == Window::OutOfSample);
            let of = |w: Window| all_figures(cs.iter().copied().filter(move |c| c.window == w));
            let in_sample = if walk_forward {
                of(Window::InSample)
            } else {
                of(Window::Full)
            };
            RankRow {
                params: cs[0].params.clone(),
                in_sample,
                out_of_sample: if walk_forward {
                    of(Window::OutOfSample)
                } else {
                    None
                },
                backtest_ids: cs.iter().map(|c| c.backtest_id).collect(),
            }
        })
        .collect()
}

/// A walk-forward fold's outcome: the combination in-sample optimisation picked (the best by
/// the objective over that fold's in-sample window) and how it did out of sample.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FoldResult {
    pub fold: u32,
    pub params: BTreeMap<String, Value>,
    pub in_sample: Figures,
    /// `None` until the chosen combination's out-of-sample run SUCCEEDED.
    pub out_of_sample: Option<Figures>,
    pub in_sample_backtest_id: uuid::Uuid,
    pub out_of_sample_backtest_id: Option<uuid::Uuid>,
}

/// Per fold (in fold order), the best in-sample combination by `objective` (descending, or
/// ascending for the drawdown) and its out-of-sample figures; a fold with no finished
/// in-sample run is left out.
pub fn walk_forward(children: &[ChildFigures], objective: SortKey) -> Vec<FoldResult> {
    let folds: std::collections::BTreeSet<u32> = children.iter().filter_map(|c| c.fold).collect();
    let descending = objective != SortKey::MaxDrawdown;
    folds
        .into_iter()
        .filter_map(|fold| {
            let in_fold = |w: Window| {
                children
                    .iter()
                    .filter(move |c| c.fold == Some(fold) && c.window == w)
            };
            let mut rows: Vec<RankRow> = in_fold(Window::InSample)
                .filter(|c| c.figures.is_some())
                .map(|c| RankRow {
                    params: c.params.clone(),
                    in_sample: c.figures.clone(),
                    out_of_sample: None,
                    backtest_ids: vec![c.backtest_id],
                })
                .collect();
            // The out-of-sample key ranks nothing in sample: optimise on net PnL then.
            let key = if objective == SortKey::OosNetPnl {
                SortKey::NetPnl
            } else {
                objective
            };
            rank(&mut rows, key, descending);
            let best = rows.into_iter().next()?;
            let oos = in_fold(Window::OutOfSample).find(|c| c.params == best.params);
            Some(FoldResult {
                fold,
                params: best.params,
                in_sample: best.in_sample?,
                out_of_sample: oos.and_then(|c| c.figures.clone()),
                in_sample_backtest_id: best.backtest_ids[0],
                out_of_sample_backtest_id: oos.map(|c| c.backtest_id),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;
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

    fn row(fast: i64, net: Decimal, pf: Option<f64>, oos: Option<Decimal>) -> RankRow {
        let f = |net_pnl| Figures {
            net_pnl,
            profit_factor: pf,
            trades: 10,
            max_drawdown_pct: 1.0,
            sharpe: None,
        };
        RankRow {
            params: BTreeMap::from([("fast".into(), json!(fast))]),
            in_sample: Some(f(net)),
            out_of_sample: oos.map(f),
            backtest_ids: vec![],
        }
    }

    #[test]
    fn ranking_sorts_either_way_with_missing_figures_last() {
        let mut rows = vec![
            row(1, dec!(100), Some(1.5), Some(dec!(-10))),
            row(2, dec!(-50), None, Some(dec!(30))),
            row(3, dec!(250), Some(0.9), None),
            RankRow {
                in_sample: None,
                ..row(4, dec!(0), None, None)
            },
        ];
        let fasts = |rows: &[RankRow]| -> Vec<i64> {
            rows.iter()
                .map(|r| r.params["fast"].as_i64().unwrap())
                .collect()
        };
        rank(&mut rows, SortKey::NetPnl, true);
        assert_eq!(fasts(&rows), [3, 1, 2, 4]);
        rank(&mut rows, SortKey::NetPnl, false);
        assert_eq!(fasts(&rows), [2, 1, 3, 4]);
        rank(&mut rows, SortKey::ProfitFactor, true);
        assert_eq!(fasts(&rows), [1, 3, 2, 4]);
        rank(&mut rows, SortKey::OosNetPnl, true);
        assert_eq!(fasts(&rows), [2, 1, 3, 4]);
        // Ties fall back to the params: the same order on every read.
        rank(&mut rows, SortKey::Trades, true);
        assert_eq!(fasts(&rows), [1, 2, 3, 4]);
    }

    fn child(
        id: u128,
        combination: u32,
        fold: Option<u32>,
        window: Window,
        net: Option<Decimal>,
    ) -> ChildFigures {
        ChildFigures {
            backtest_id: uuid::Uuid::from_u128(id),
            combination,
            fold,
            window,
            params: BTreeMap::from([("fast".into(), json!(combination))]),
            figures: net.map(|net_pnl| Figures {
                net_pnl,
                profit_factor: None,
                trades: 2,
                max_drawdown_pct: 1.0,
                sharpe: None,
            }),
        }
    }

    #[test]
    fn walk_forward_picks_the_best_in_sample_per_fold_and_reports_it_out_of_sample() {
        use Window::*;
        let children = vec![
            // Fold 0: combination 2 wins in sample, loses out of sample.
            child(1, 1, Some(0), InSample, Some(dec!(10))),
            child(2, 1, Some(0), OutOfSample, Some(dec!(5))),
            child(3, 2, Some(0), InSample, Some(dec!(40))),
            child(4, 2, Some(0), OutOfSample, Some(dec!(-7))),
            // Fold 1: combination 1 wins; its out-of-sample run has not finished.
            child(5, 1, Some(1), InSample, Some(dec!(30))),
            child(6, 1, Some(1), OutOfSample, None),
            child(7, 2, Some(1), InSample, Some(dec!(-3))),
            child(8, 2, Some(1), OutOfSample, Some(dec!(2))),
        ];
        let folds = walk_forward(&children, SortKey::NetPnl);
        assert_eq!(folds.len(), 2);
        assert_eq!(folds[0].params["fast"], json!(2));
        assert_eq!(folds[0].in_sample.net_pnl, dec!(40));
        assert_eq!(folds[0].out_of_sample.as_ref().unwrap().net_pnl, dec!(-7));
        assert_eq!(
            folds[0].out_of_sample_backtest_id,
            Some(uuid::Uuid::from_u128(4))
        );
        assert_eq!(folds[1].params["fast"], json!(1));
        assert_eq!(folds[1].out_of_sample, None);

        // The ranking puts each combination's in-sample sum beside its out-of-sample sum,
        // and only when every fold of that window finished.
        let mut rows = ranking(&children);
        rank(&mut rows, SortKey::NetPnl, true);
        assert_eq!(rows[0].params["fast"], json!(1));
        assert_eq!(rows[0].in_sample.as_ref().unwrap().net_pnl, dec!(40));
        assert_eq!(rows[0].out_of_sample, None);
        assert_eq!(rows[1].in_sample.as_ref().unwrap().net_pnl, dec!(37));
        assert_eq!(rows[1].out_of_sample.as_ref().unwrap().net_pnl, dec!(-5));
        assert_eq!(rows[1].backtest_ids.len(), 4);
    }

    #[test]
    fn a_plain_sweep_ranks_full_runs_without_an_out_of_sample_figure() {
        let children = vec![
            child(1, 0, None, Window::Full, Some(dec!(3))),
            child(2, 1, None, Window::Full, None),
        ];
        let rows = ranking(&children);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].in_sample.as_ref().unwrap().net_pnl, dec!(3));
        assert!(rows[0].out_of_sample.is_none() && rows[1].in_sample.is_none());
        assert!(walk_forward(&children, SortKey::NetPnl).is_empty());
    }

    #[test]
    fn folds_combine_into_one_figure() {
        let f = |net: Decimal, pf: Option<f64>, dd: f64| Figures {
            net_pnl: net,
            profit_factor: pf,
            trades: 3,
            max_drawdown_pct: dd,
            sharpe: Some(1.0),
        };
        let c = Figures::combine(&[
            f(dec!(10), Some(2.0), 1.5),
            f(dec!(-4), None, 3.0),
            f(dec!(1.5), Some(1.0), 0.5),
        ])
        .unwrap();
        assert_eq!(c.net_pnl, dec!(7.5));
        assert_eq!(c.trades, 9);
        assert_eq!(c.max_drawdown_pct, 3.0);
        assert_eq!(c.profit_factor, Some(1.5));
        assert_eq!(c.sharpe, Some(1.0));
        assert_eq!(Figures::combine(&[]), None);
    }
}
