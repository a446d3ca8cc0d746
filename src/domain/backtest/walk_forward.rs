//! Walk-forward splits (issue 15 part 5): the range cut into `folds` rolling windows, each an
//! in-sample part (where the sweep's parameters are optimised) followed at once by an
//! out-of-sample part (where the chosen parameters are checked). Consecutive out-of-sample
//! parts tile the end of the range without gaps or overlaps, and each in-sample part ends
//! where its own out-of-sample part starts, so no fold ever tests on data it optimised on.
//! Every boundary lies on the timeframe's bar grid. Pure.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::strategy_config::FieldError;
use crate::domain::timeframe::Timeframe;

/// Most folds a walk-forward may ask for.
pub const MAX_FOLDS: u32 = 20;

/// How a sweep is walked forward.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WalkForward {
    /// Number of folds (1–20).
    pub folds: u32,
    /// Share of each fold's window that is out of sample, % (10–50).
    pub out_of_sample_pct: u32,
}

/// One fold: `[is_from, is_to)` in sample, then `[is_to, oos_to)` out of sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fold {
    pub index: u32,
    pub is_from: DateTime<Utc>,
    pub is_to: DateTime<Utc>,
    pub oos_to: DateTime<Utc>,
}

fn field(name: &str, problem: impl Into<String>) -> FieldError {
    FieldError {
        field: name.to_owned(),
        problem: problem.into(),
    }
}

/// The folds of `[from, to)` for `tf`. With `n` folds and out-of-sample share `p`, each
/// window is `W = T / (1 + (n − 1)·p)` long, its out-of-sample part `p·W`, and the windows
/// step by `p·W`: the last out-of-sample part ends at `to`. Every part must hold at least
/// `min_bars` bars, else `walk_forward.folds` is refused (fewer folds or a longer range).
pub fn splits(
    wf: &WalkForward,
    tf: Timeframe,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    min_bars: i64,
) -> Result<Vec<Fold>, FieldError> {
    if wf.folds == 0 || wf.folds > MAX_FOLDS {
        return Err(field(
            "walk_forward.folds",
            format!("must be between 1 and {MAX_FOLDS}"),
        ));
    }
    if !(10..=50).contains(&wf.out_of_sample_pct) {
        return Err(field(
            "walk_forward.out_of_sample_pct",
            "must be between 10 and 50",
        ));
    }
    let bar = tf.duration().num_seconds().max(1);
    let total_bars = (to - from).num_seconds() / bar;
    let n = i64::from(wf.folds);
    let p = i64::from(wf.out_of_sample_pct);
    // In whole bars: oos = p·W, W = T / (1 + (n−1)·p)  ⇒  oos = T·p / (100 + (n−1)·p).
    let oos_bars = total_bars * p / (100 + (n - 1) * p);
    let is_bars = total_bars - n * oos_bars;
    if oos_bars < min_bars || is_bars < min_bars {
        return Err(field(
            "walk_forward.folds",
            format!(
                "{} folds of {total_bars} bars leave {is_bars} in-sample and {oos_bars} out-of-sample bars per fold; each part needs at least {min_bars}: use fewer folds or a longer range",
                wf.folds
            ),
        ));
    }
    let at = |bars: i64| from + Duration::seconds(bars * bar);
    // The last out-of-sample part ends exactly at `to` (the bars lost to rounding are added
    // to the first in-sample part).
    let first_is = total_bars - n * oos_bars;
    Ok((0..n)
        .map(|k| {
            let is_to_bars = first_is + k * oos_bars;
            Fold {
                index: u32::try_from(k).unwrap_or(0),
                is_from: at(is_to_bars - is_bars),
                is_to: at(is_to_bars),
                oos_to: if k == n - 1 {
                    to
                } else {
                    at(is_to_bars + oos_bars)
                },
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn one_fold_is_a_plain_in_and_out_of_sample_split() {
        let wf = WalkForward {
            folds: 1,
            out_of_sample_pct: 25,
        };
        let f = splits(
            &wf,
            Timeframe::H1,
            t("2026-01-01T00:00:00Z"),
            t("2026-01-05T00:00:00Z"),
            1,
        )
        .unwrap();
        // 96 bars: 72 in sample, 24 out.
        assert_eq!(
            f,
            [Fold {
                index: 0,
                is_from: t("2026-01-01T00:00:00Z"),
                is_to: t("2026-01-04T00:00:00Z"),
                oos_to: t("2026-01-05T00:00:00Z"),
            }]
        );
    }

    #[test]
    fn rolling_folds_tile_the_end_of_the_range() {
        let wf = WalkForward {
            folds: 4,
            out_of_sample_pct: 20,
        };
        let from = t("2026-01-01T00:00:00Z");
        let to = t("2026-01-09T00:00:00Z");
        let f = splits(&wf, Timeframe::H1, from, to, 1).unwrap();
        // 192 bars; oos = 192·20 / (100 + 3·20) = 24 bars; in sample 192 − 4·24 = 96 bars.
        assert_eq!(f.len(), 4);
        for fold in &f {
            assert_eq!(fold.is_to - fold.is_from, Duration::hours(96));
            assert_eq!(fold.oos_to - fold.is_to, Duration::hours(24));
            assert!(fold.is_from >= from && fold.oos_to <= to);
        }
        assert_eq!(f[0].is_from, from);
        assert_eq!(f[3].oos_to, to);
        // Out-of-sample parts are contiguous: each starts where the previous one ended.
        for w in f.windows(2) {
            assert_eq!(w[1].is_to, w[0].oos_to);
            assert_eq!(w[1].is_from - w[0].is_from, Duration::hours(24));
        }
    }

    #[test]
    fn rounding_keeps_boundaries_on_the_bar_grid_and_ends_at_to() {
        let wf = WalkForward {
            folds: 3,
            out_of_sample_pct: 30,
        };
        let from = t("2026-01-01T00:00:00Z");
        let to = t("2026-01-01T16:41:00Z"); // 1001 one-minute bars
        let f = splits(&wf, Timeframe::M1, from, to, 10).unwrap();
        // oos = 1001·30 / 160 = 187 bars; in sample = 1001 − 3·187 = 440.
        assert_eq!(f[0].is_to - f[0].is_from, Duration::minutes(440));
        assert_eq!(f[2].oos_to, to);
        for fold in &f {
            assert_eq!(fold.is_from.timestamp() % 60, 0);
            assert_eq!(fold.is_to.timestamp() % 60, 0);
        }
    }

    #[test]
    fn bad_walk_forwards_name_their_field() {
        let from = t("2026-01-01T00:00:00Z");
        let to = t("2026-01-02T00:00:00Z");
        let wf = |folds, out_of_sample_pct| WalkForward {
            folds,
            out_of_sample_pct,
        };
        let err = |w: WalkForward, min| splits(&w, Timeframe::H1, from, to, min).unwrap_err().field;
        assert_eq!(err(wf(0, 20), 1), "walk_forward.folds");
        assert_eq!(err(wf(21, 20), 1), "walk_forward.folds");
        assert_eq!(err(wf(2, 5), 1), "walk_forward.out_of_sample_pct");
        assert_eq!(err(wf(2, 60), 1), "walk_forward.out_of_sample_pct");
        // 24 hourly bars cannot hold 10 folds with 5 bars in every part.
        assert_eq!(err(wf(10, 20), 5), "walk_forward.folds");
    }
}
