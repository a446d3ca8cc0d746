//! The ranking of a sweep's finished runs: each run's figures, sortable by any of them, and
//! walk-forward folds with the out-of-sample figure beside the in-sample one. Pure.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::Value;

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
