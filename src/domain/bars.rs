//! OHLCV bars: the one bar type from the vendor decoder to the evaluator (and in and out of the
//! `market_bars` cache). Prices are exact `Decimal`s on the instrument's tick grid: the decoder
//! snaps them once (`ContractSpec::snap`); nothing downstream converts or rounds them again.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use super::timeframe::Timeframe;
use rust_decimal::prelude::ToPrimitive;
use serde::{Deserialize, Serialize};

/// One bar; `ts_open` is the start of its interval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bar {
    pub ts_open: DateTime<Utc>,
    pub open: Decimal,
    pub high: Decimal,
    pub low: Decimal,
    pub close: Decimal,
    pub volume: u64,
}

impl Bar {
    /// Close as f64 for indicator maths (never for accounting). `None` only if out of f64 range.
    pub fn close_f64(&self) -> Option<f64> {
        self.close.to_f64()
    }

    /// High ≥ every other price, low ≤ every other price.
    pub fn is_consistent(&self) -> bool {
        self.low <= self.open.min(self.close) && self.high >= self.open.max(self.close)
    }
}

/// Closes of `bars` as f64; `None` if any does not convert.
pub fn closes_f64(bars: &[Bar]) -> Option<Vec<f64>> {
    bars.iter().map(Bar::close_f64).collect()
}

/// Bars of `timeframe` built from finer bars (e.g. 1m → 5m): buckets are aligned to multiples
/// of the timeframe since the Unix epoch (a 1d bucket starts at 00:00 UTC), each with the open
/// of its first bar, the highest high, the lowest low, the close of its last bar and the summed
/// volume. Only bars in `[from, to)` count, and a bucket is emitted only if `[from, to)` covers
/// all of it, so a bucket cut by either edge is never passed off as complete; minutes missing
/// inside a bucket (no trades, a halt) are fine. Input order does not matter; output is oldest
/// first.
pub fn aggregate(
    bars: &[Bar],
    timeframe: Timeframe,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<Bar> {
    let len = timeframe.duration().num_seconds();
    let covered = |start: i64| {
        start >= from.timestamp() + i64::from(from.timestamp_subsec_nanos() > 0)
            && start
                .checked_add(len)
                .is_some_and(|end| end <= to.timestamp())
    };
    let mut inside: Vec<&Bar> = bars
        .iter()
        .filter(|b| b.ts_open >= from && b.ts_open < to)
        .collect();
    inside.sort_by_key(|b| b.ts_open);
    let mut out: Vec<Bar> = Vec::new();
    let mut current: Option<i64> = None;
    for b in inside {
        let start = b.ts_open.timestamp().div_euclid(len) * len;
        if !covered(start) {
            continue;
        }
        match out.last_mut() {
            Some(agg) if current == Some(start) => {
                agg.high = agg.high.max(b.high);
                agg.low = agg.low.min(b.low);
                agg.close = b.close;
                agg.volume = agg.volume.saturating_add(b.volume);
            }
            _ => {
                let Some(ts_open) = DateTime::from_timestamp(start, 0) else {
                    continue;
                };
                current = Some(start);
                out.push(Bar {
                    ts_open,
                    ..b.clone()
                });
            }
        }
    }
    out
}

#[cfg(test)]
pub(crate) mod test_support {
    use super::*;
    use chrono::{Duration, TimeZone};

    /// Minute bars starting 2026-11-24 15:00 UTC (a Tuesday, 09:00 CT) with the given closes;
    /// open = previous close, high/low bracket both.
    pub fn bars_from_closes(closes: &[Decimal]) -> Vec<Bar> {
        let start = Utc.with_ymd_and_hms(2026, 11, 24, 15, 0, 0).unwrap();
        let mut prev = closes.first().copied().unwrap_or_default();
        closes
            .iter()
            .enumerate()
            .map(|(i, &c)| {
                let bar = Bar {
                    ts_open: start + Duration::minutes(i as i64),
                    open: prev,
                    high: prev.max(c),
                    low: prev.min(c),
                    close: c,
                    volume: 100,
                };
                prev = c;
                bar
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::bars_from_closes;
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn closes_convert_and_bars_are_consistent() {
        let bars = bars_from_closes(&[dec!(100.25), dec!(101), dec!(99.5)]);
        assert_eq!(closes_f64(&bars).unwrap(), vec![100.25, 101.0, 99.5]);
        assert!(bars.iter().all(Bar::is_consistent));
        let mut bad = bars[1].clone();
        bad.high = dec!(50);
        assert!(!bad.is_consistent());
    }

    fn minute(ts: &str, o: Decimal, h: Decimal, l: Decimal, c: Decimal, volume: u64) -> Bar {
        Bar {
            ts_open: ts.parse().unwrap(),
            open: o,
            high: h,
            low: l,
            close: c,
            volume,
        }
    }

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    /// 10:00–10:11 minute bars, 10:03 missing (no trades).
    fn minutes() -> Vec<Bar> {
        let p = |s: &str| s.parse::<Decimal>().unwrap();
        [
            ("10:00", "100", "101", "99.5", "100.5", 10),
            ("10:01", "100.5", "102", "100", "101.75", 20),
            ("10:02", "101.75", "101.75", "98", "99", 5),
            ("10:04", "99", "100", "98.5", "99.25", 1),
            ("10:05", "99.25", "99.5", "97", "97.5", 7),
            ("10:06", "97.5", "98", "97.25", "98", 3),
            ("10:07", "98", "98.25", "97.75", "98.25", 4),
            ("10:08", "98.25", "99", "98", "98.75", 2),
            ("10:09", "98.75", "103", "98.5", "102", 8),
            ("10:10", "102", "102.5", "101", "101.5", 6),
            ("10:11", "101.5", "101.5", "101", "101.25", 9),
        ]
        .into_iter()
        .map(|(t, o, h, l, c, v)| minute(&format!("2026-11-24T{t}:00Z"), p(o), p(h), p(l), p(c), v))
        .collect()
    }

    #[test]
    fn five_minute_buckets_by_hand() {
        let got = aggregate(
            &minutes(),
            Timeframe::M5,
            at("2026-11-24T10:00:00Z"),
            at("2026-11-24T10:10:00Z"),
        );
        assert_eq!(
            got,
            vec![
                // 10:00–10:04, 10:03 missing.
                minute(
                    "2026-11-24T10:00:00Z",
                    dec!(100),
                    dec!(102),
                    dec!(98),
                    dec!(99.25),
                    36
                ),
                minute(
                    "2026-11-24T10:05:00Z",
                    dec!(99.25),
                    dec!(103),
                    dec!(97),
                    dec!(102),
                    24
                ),
            ]
        );
        assert!(got.iter().all(Bar::is_consistent));
    }

    #[test]
    fn a_bucket_cut_by_the_range_is_not_emitted() {
        // From 10:01: the 10:00 bucket is partial; to 10:12: the 10:10 bucket is partial.
        let got = aggregate(
            &minutes(),
            Timeframe::M5,
            at("2026-11-24T10:01:00Z"),
            at("2026-11-24T10:12:00Z"),
        );
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].ts_open, at("2026-11-24T10:05:00Z"));
        assert_eq!(
            (got[0].open, got[0].close, got[0].volume),
            (dec!(99.25), dec!(102), 24)
        );
        // A start one second into a bucket also cuts it.
        let got = aggregate(
            &minutes(),
            Timeframe::M5,
            at("2026-11-24T10:00:00.001Z"),
            at("2026-11-24T10:10:00Z"),
        );
        assert_eq!(got.len(), 1);
        // Bars outside the range never leak into a covered bucket.
        let got = aggregate(
            &minutes(),
            Timeframe::M5,
            at("2026-11-24T10:05:00Z"),
            at("2026-11-24T10:10:00Z"),
        );
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].high, dec!(103));
    }

    #[test]
    fn fifteen_minutes_order_free_and_empty_input() {
        let mut shuffled = minutes();
        shuffled.reverse();
        let got = aggregate(
            &shuffled,
            Timeframe::M15,
            at("2026-11-24T10:00:00Z"),
            at("2026-11-24T10:15:00Z"),
        );
        assert_eq!(
            got,
            vec![minute(
                "2026-11-24T10:00:00Z",
                dec!(100),
                dec!(103),
                dec!(97),
                dec!(101.25),
                75
            )]
        );
        assert!(
            aggregate(
                &minutes(),
                Timeframe::M15,
                at("2026-11-24T10:00:00Z"),
                at("2026-11-24T10:14:59Z"),
            )
            .is_empty()
        );
        assert!(
            aggregate(
                &[],
                Timeframe::M5,
                at("2026-11-24T10:00:00Z"),
                at("2026-11-24T11:00:00Z")
            )
            .is_empty()
        );
    }
}
