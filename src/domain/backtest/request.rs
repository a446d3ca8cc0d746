//! The rules of a backtest request (range, fill model, capital) and the content hashes that
//! identify its inputs and results. Pure: the present is passed in.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::FillModel;
use crate::domain::strategy_config::FieldError;
use crate::domain::timeframe::Timeframe;

/// Most bars one backtest may span (the range over the timeframe, sessions or not): a year
/// of 1-minute bars fits, and one run stays within a worker's memory and a minute of CPU.
pub const MAX_BARS: i64 = 1_100_000;

/// Most slippage a fill model may ask for, ticks.
pub const MAX_SLIPPAGE_TICKS: u32 = 100;

/// Most commission per contract per fill, USD.
pub const MAX_COMMISSION: Decimal = Decimal::from_parts(1000, 0, 0, false, 0);

/// Most starting capital, USD.
pub const MAX_STARTING_CAPITAL: Decimal = Decimal::from_parts(1_000_000_000, 0, 0, false, 0);

/// Most points a stored curve keeps (metrics are computed on every point first).
pub const MAX_CURVE_POINTS: usize = 2_000;

fn field(name: &str, problem: impl Into<String>) -> FieldError {
    FieldError {
        field: name.to_owned(),
        problem: problem.into(),
    }
}

/// `[from, to)` must be a non-empty range that has ended by `now` and spans at most
/// [`MAX_BARS`] bars of `tf`.
pub fn check_range(
    tf: Timeframe,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), FieldError> {
    if to <= from {
        return Err(field("to", "must be after `from`"));
    }
    if to > now {
        return Err(field(
            "to",
            format!(
                "is in the future (now is {}); history ends now",
                now.to_rfc3339()
            ),
        ));
    }
    let bars = (to - from).num_seconds() / tf.duration().num_seconds().max(1);
    if bars > MAX_BARS {
        return Err(field(
            "to",
            format!(
                "the range spans {bars} bars of {}; at most {MAX_BARS} are allowed: shorten it or use a longer timeframe",
                tf.as_str()
            ),
        ));
    }
    Ok(())
}

/// Slippage and commission within bounds (`fill.slippage_ticks`, `fill.commission_per_side`).
pub fn check_fill(fill: &FillModel) -> Result<(), FieldError> {
    if fill.slippage_ticks > MAX_SLIPPAGE_TICKS {
        return Err(field(
            "fill.slippage_ticks",
            format!("must be between 0 and {MAX_SLIPPAGE_TICKS}"),
        ));
    }
    if fill.commission_per_contract < Decimal::ZERO || fill.commission_per_contract > MAX_COMMISSION
    {
        return Err(field(
            "fill.commission_per_side",
            format!("must be between 0 and {MAX_COMMISSION} USD per contract"),
        ));
    }
    Ok(())
}

/// Starting capital above zero, at most [`MAX_STARTING_CAPITAL`].
pub fn check_capital(capital: Decimal) -> Result<(), FieldError> {
    if capital <= Decimal::ZERO || capital > MAX_STARTING_CAPITAL {
        return Err(field(
            "starting_capital",
            format!("must be above 0 and at most {MAX_STARTING_CAPITAL} USD"),
        ));
    }
    Ok(())
}

/// sha256 (hex) of `value`'s canonical encoding: its JSON with fields in declaration order
/// and maps sorted by key (typed values only; re-read JSONB would reorder keys). A value
/// that cannot be encoded hashes as its error text, which never collides with JSON.
pub fn content_hash<T: Serialize + ?Sized>(value: &T) -> String {
    let bytes = serde_json::to_vec(value).unwrap_or_else(|e| e.to_string().into_bytes());
    hex::encode(Sha256::digest(&bytes))
}

/// At most `max` points of a curve, for storage and charts: the last point of each of `max`
/// equal buckets (so the final point is always kept).
pub fn thin<T: Clone>(points: &[T], max: usize) -> Vec<T> {
    if points.len() <= max || max == 0 {
        return points.to_vec();
    }
    let step = points.len().div_ceil(max);
    let mut out: Vec<T> = points
        .chunks(step)
        .filter_map(|c| c.last().cloned())
        .collect();
    out.truncate(max);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn ranges_must_be_ordered_past_and_bounded() {
        let now = t("2026-12-03T12:00:00Z");
        let ok = check_range(
            Timeframe::M1,
            t("2025-12-01T00:00:00Z"),
            t("2026-12-01T00:00:00Z"),
            now,
        );
        assert_eq!(ok, Ok(()));
        let inverted = check_range(
            Timeframe::M1,
            t("2026-11-02T00:00:00Z"),
            t("2026-11-01T00:00:00Z"),
            now,
        )
        .unwrap_err();
        assert_eq!(inverted.field, "to");
        let empty = check_range(
            Timeframe::M1,
            t("2026-11-02T00:00:00Z"),
            t("2026-11-02T00:00:00Z"),
            now,
        );
        assert!(empty.is_err());
        let future = check_range(
            Timeframe::M1,
            t("2026-12-01T00:00:00Z"),
            t("2026-12-04T00:00:00Z"),
            now,
        )
        .unwrap_err();
        assert!(future.problem.contains("future"), "{future:?}");
        // 1,100,000 one-second bars is under 13 days: two weeks is too many.
        let huge = check_range(
            Timeframe::S1,
            t("2026-11-01T00:00:00Z"),
            t("2026-11-15T00:00:00Z"),
            now,
        )
        .unwrap_err();
        assert!(huge.problem.contains("1209600 bars"), "{huge:?}");
        assert_eq!(
            check_range(
                Timeframe::S1,
                t("2026-11-01T00:00:00Z"),
                t("2026-11-13T00:00:00Z"),
                now
            ),
            Ok(())
        );
    }

    #[test]
    fn fill_and_capital_bounds_name_their_field() {
        let fill = |slippage_ticks, commission_per_contract| FillModel {
            slippage_ticks,
            commission_per_contract,
        };
        assert_eq!(check_fill(&fill(1, dec!(2.25))), Ok(()));
        assert_eq!(
            check_fill(&fill(101, dec!(2.25))).unwrap_err().field,
            "fill.slippage_ticks"
        );
        assert_eq!(
            check_fill(&fill(1, dec!(-0.01))).unwrap_err().field,
            "fill.commission_per_side"
        );
        assert_eq!(check_capital(dec!(100000)), Ok(()));
        assert_eq!(
            check_capital(dec!(0)).unwrap_err().field,
            "starting_capital"
        );
        assert!(check_capital(dec!(1000000001)).is_err());
    }

    #[test]
    fn hashes_are_stable_and_tell_values_apart() {
        let a = content_hash(&(1, "x", dec!(2.50)));
        assert_eq!(a, content_hash(&(1, "x", dec!(2.50))));
        assert_eq!(a.len(), 64);
        assert_ne!(a, content_hash(&(1, "x", dec!(2.51))));
        // sha256("[]"), computed independently.
        assert_eq!(
            content_hash::<[u8]>(&[]),
            "4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945"
        );
    }

    #[test]
    fn thinning_keeps_each_buckets_last_point_and_the_end() {
        let points: Vec<u32> = (0..10).collect();
        assert_eq!(thin(&points, 20), points);
        assert_eq!(thin(&points, 5), [1, 3, 5, 7, 9]);
        assert_eq!(thin(&points, 3), [3, 7, 9]);
        assert_eq!(thin(&points, 3).len(), 3);
    }
}
