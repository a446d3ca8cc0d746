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
        decimal_f64(self.close)
    }

    /// High ≥ every other price, low ≤ every other price.
    pub fn is_consistent(&self) -> bool {
        self.low <= self.open.min(self.close) && self.high >= self.open.max(self.close)
    }
}

/// `d` as the nearest f64. A price's mantissa and power of ten are both exact in f64, so one
/// division rounds it correctly: the value `Decimal::to_f64` gives, at a fraction of its cost
/// (it runs once per bar for every engine). Anything larger takes `to_f64`.
pub fn decimal_f64(d: Decimal) -> Option<f64> {
    const POW10: [f64; 23] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
        1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
    ];
    // Through i64: its conversion is one instruction, i128's a library call.
    let m = i64::try_from(d.mantissa()).ok();
    match (m, POW10.get(d.scale() as usize)) {
        (Some(m), Some(p)) if m.unsigned_abs() < 1 << 53 => Some(m as f64 / p),
        _ => d.to_f64(),
    }
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

/// The candle width (seconds, a whole number of `timeframe` bars) that draws `[from, to)` in at
/// most `max_candles` candles: one bar per candle when the range fits, else the fewest bars per
/// candle that fit.
pub fn chart_bucket_seconds(
    timeframe: Timeframe,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    max_candles: u32,
) -> i64 {
    let len = timeframe.duration().num_seconds().max(1);
    let span = (to - from).num_seconds().max(len);
    let bars = (span + len - 1) / len;
    let max = i64::from(max_candles.max(1));
    let per_candle = ((bars + max - 1) / max).max(1);
    per_candle * len
}

/// Thins a bar series for a chart: buckets of `width` seconds counted from `origin` (so
/// `[origin, origin + n × width)` gives at most `n` candles), each with the open of its first
/// bar, the highest high, the lowest low, the close of its last bar and the summed volume,
/// stamped with the bucket's start. Bars are pushed oldest first (a bar before the current
/// bucket, or before `origin`, is ignored); a bucket without bars gives no candle.
#[derive(Debug)]
pub struct Thinner {
    origin: i64,
    width: i64,
    bucket: Option<i64>,
    out: Vec<Bar>,
}

impl Thinner {
    pub fn new(origin: DateTime<Utc>, width_seconds: i64) -> Thinner {
        Thinner {
            origin: origin.timestamp(),
            width: width_seconds.max(1),
            bucket: None,
            out: Vec::new(),
        }
    }

    pub fn push(&mut self, bar: &Bar) {
        let offset = bar.ts_open.timestamp() - self.origin;
        if offset < 0 {
            return;
        }
        let bucket = offset.div_euclid(self.width);
        match (self.bucket, self.out.last_mut()) {
            (Some(current), Some(candle)) if current == bucket => {
                candle.high = candle.high.max(bar.high);
                candle.low = candle.low.min(bar.low);
                candle.close = bar.close;
                candle.volume = candle.volume.saturating_add(bar.volume);
            }
            (Some(current), _) if bucket < current => {}
            _ => {
                let Some(ts_open) = DateTime::from_timestamp(self.origin + bucket * self.width, 0)
                else {
                    return;
                };
                self.bucket = Some(bucket);
                self.out.push(Bar {
                    ts_open,
                    ..bar.clone()
                });
            }
        }
    }

    /// The candles, oldest first.
    pub fn finish(self) -> Vec<Bar> {
        self.out
    }
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
    fn the_fast_conversion_is_to_f64s() {
        // Prices of every tick size and scale, negative ones, and mantissas past 2^53.
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        for _ in 0..200_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let m = (state >> 4) as i64 % 10_000_000_000 - 5_000_000_000;
            let d = Decimal::new(m, (state % 9) as u32);
            assert_eq!(decimal_f64(d), d.to_f64(), "{d}");
        }
        for d in [
            dec!(0),
            dec!(-0.25),
            dec!(7.1234567890123456789),
            Decimal::MAX,
            Decimal::MIN,
        ] {
            assert_eq!(decimal_f64(d), d.to_f64(), "{d}");
        }
    }

    #[test]
    fn closes_convert_and_bars_are_consistent() {
        let bars = bars_from_closes(&[dec!(100.25), dec!(101), dec!(99.5)]);
        let closes: Vec<f64> = bars.iter().filter_map(Bar::close_f64).collect();
        assert_eq!(closes, vec![100.25, 101.0, 99.5]);
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

#[cfg(test)]
mod thin_tests {
    use super::*;
    use chrono::TimeZone;
    use rust_decimal_macros::dec;

    fn bar(min: i64, o: Decimal, h: Decimal, l: Decimal, c: Decimal) -> Bar {
        Bar {
            ts_open: Utc.with_ymd_and_hms(2026, 11, 24, 15, 0, 0).unwrap()
                + chrono::Duration::minutes(min),
            open: o,
            high: h,
            low: l,
            close: c,
            volume: 10,
        }
    }

    #[test]
    fn bucket_width_fits_the_range_in_max_candles() {
        let from = Utc.with_ymd_and_hms(2026, 11, 16, 0, 0, 0).unwrap();
        // 5 days of 5m bars = 1,440 bars.
        let to = from + chrono::Duration::days(5);
        assert_eq!(chart_bucket_seconds(Timeframe::M5, from, to, 2_000), 300);
        assert_eq!(chart_bucket_seconds(Timeframe::M5, from, to, 1_440), 300);
        assert_eq!(chart_bucket_seconds(Timeframe::M5, from, to, 1_439), 600);
        assert_eq!(chart_bucket_seconds(Timeframe::M5, from, to, 100), 15 * 300);
        // A range shorter than one bar is one bar wide.
        assert_eq!(chart_bucket_seconds(Timeframe::H1, from, from, 10), 3_600);
        // Never more candles than asked.
        for max in [1u32, 7, 99, 500, 2_000] {
            let w = chart_bucket_seconds(Timeframe::M1, from, to, max);
            let span = (to - from).num_seconds();
            assert!((span + w - 1) / w <= i64::from(max), "{max}");
        }
    }

    #[test]
    fn thinner_merges_each_bucket_into_one_candle() {
        let origin = Utc.with_ymd_and_hms(2026, 11, 24, 15, 0, 0).unwrap();
        let mut t = Thinner::new(origin, 180);
        t.push(&bar(-1, dec!(1), dec!(9), dec!(0), dec!(1))); // before the origin: ignored
        t.push(&bar(0, dec!(100), dec!(101), dec!(99.5), dec!(100.5)));
        t.push(&bar(1, dec!(100.5), dec!(103), dec!(100), dec!(102)));
        t.push(&bar(2, dec!(102), dec!(102.25), dec!(98), dec!(99)));
        // minutes 3–5 missing: no candle; minute 7 opens the third bucket.
        t.push(&bar(7, dec!(99), dec!(99.5), dec!(98.75), dec!(99.25)));
        t.push(&bar(1, dec!(1), dec!(500), dec!(0), dec!(1))); // out of order: ignored
        let out = t.finish();
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].ts_open, origin);
        assert_eq!(
            (
                out[0].open,
                out[0].high,
                out[0].low,
                out[0].close,
                out[0].volume
            ),
            (dec!(100), dec!(103), dec!(98), dec!(99), 30)
        );
        assert_eq!(out[1].ts_open, origin + chrono::Duration::minutes(6));
        assert_eq!(
            (
                out[1].open,
                out[1].high,
                out[1].low,
                out[1].close,
                out[1].volume
            ),
            (dec!(99), dec!(99.5), dec!(98.75), dec!(99.25), 10)
        );
    }
}
