//! Deterministic synthetic OHLCV: a seeded random walk per symbol on the CME Globex schedule
//! (Sunday 17:00 CT to Friday 16:00 CT, daily halt 16:00–17:00 CT), prices on the contract's
//! tick. The same symbol and minute always give the same bar, whatever range is asked for.
//! Exchange holidays are not modelled.

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Timelike, Utc, Weekday};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SynthBar {
    pub ts: DateTime<Utc>,
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub close: f64,
    pub volume: u64,
}

/// Tick size and a plausible price level per root symbol.
fn contract(symbol: &str) -> (f64, f64) {
    let root: String = symbol
        .chars()
        .take_while(|c| c.is_ascii_alphabetic())
        .collect();
    match root.as_str() {
        "ES" | "MES" => (0.25, 6000.0),
        "NQ" | "MNQ" => (0.25, 21000.0),
        "YM" | "MYM" => (1.0, 44000.0),
        "RTY" | "M2K" => (0.1, 2300.0),
        _ => (0.01, 100.0 + (fnv(symbol.as_bytes()) % 400) as f64),
    }
}

fn fnv(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// splitmix64: a well-mixed hash of (seed, n).
fn mix(seed: u64, n: i64) -> u64 {
    let mut z = seed ^ (n as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Uniform in [-1, 1).
fn unit(seed: u64, n: i64) -> f64 {
    (mix(seed, n) >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
}

/// US Central offset from UTC in hours at `t` (CDT from the second Sunday of March 02:00 to
/// the first Sunday of November 02:00, CST otherwise).
fn central_offset_hours(t: DateTime<Utc>) -> i64 {
    let year = t.year();
    let nth_sunday = |month: u32, nth: u32| {
        let first = NaiveDate::from_ymd_opt(year, month, 1).unwrap_or_default();
        let to_sunday = (7 - first.weekday().num_days_from_sunday()) % 7;
        first + Duration::days(i64::from(to_sunday + 7 * (nth - 1)))
    };
    // 02:00 local = 08:00 UTC (CST) in March, 07:00 UTC (CDT) in November.
    let start = Utc.from_utc_datetime(&nth_sunday(3, 2).and_hms_opt(8, 0, 0).unwrap_or_default());
    let end = Utc.from_utc_datetime(&nth_sunday(11, 1).and_hms_opt(7, 0, 0).unwrap_or_default());
    if t >= start && t < end { -5 } else { -6 }
}

/// Whether Globex equity futures trade in the minute starting at `t`.
pub fn is_trading_minute(t: DateTime<Utc>) -> bool {
    let local = t + Duration::hours(central_offset_hours(t));
    let hour = local.hour();
    match local.weekday() {
        Weekday::Sat => false,
        Weekday::Sun => hour >= 17,
        Weekday::Fri => hour < 16,
        _ => hour != 16,
    }
}

/// The trade date a minute belongs to (a CME trade date starts at 17:00 CT the day before).
fn trade_day(t: DateTime<Utc>) -> i64 {
    let local = t + Duration::hours(central_offset_hours(t)) + Duration::hours(7);
    local.date_naive().num_days_from_ce().into()
}

/// One-minute bars in `[from, to)`, trading minutes only, at most `max` bars.
pub fn minute_bars(
    symbol: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    max: usize,
) -> Vec<SynthBar> {
    let (tick, level) = contract(symbol);
    let seed = fnv(symbol.as_bytes());
    let round = |p: f64| (p / tick).round() * tick;
    let start_min = from.timestamp().div_euclid(60) + i64::from(from.timestamp() % 60 != 0);
    let end_min = to.timestamp().div_euclid(60);
    let mut out = Vec::new();
    let mut day = i64::MIN;
    let mut price = 0.0;
    let mut m = start_min;
    while m < end_min && out.len() < max {
        let ts = DateTime::from_timestamp(m * 60, 0).unwrap_or_default();
        if !is_trading_minute(ts) {
            m += 1;
            continue;
        }
        let d = trade_day(ts);
        if d != day {
            // Re-anchor at the session's first trading minute, then walk forward to `m`, so a
            // bar does not depend on where the requested range starts.
            day = d;
            let anchor = level * (1.0 + 0.08 * (d as f64 / 23.0 + unit(seed, d)).sin());
            price = anchor;
            let mut k = m - 1;
            while k >= m - 1440 {
                let t = DateTime::from_timestamp(k * 60, 0).unwrap_or_default();
                if !is_trading_minute(t) || trade_day(t) != d {
                    break;
                }
                k -= 1;
            }
            for j in (k + 1)..m {
                price *= 1.0 + 0.0006 * unit(seed, j);
            }
        }
        let open = price;
        let close = price * (1.0 + 0.0006 * unit(seed, m));
        let wiggle = |n: i64| price * 0.0004 * unit(seed ^ 0x5555, m * 4 + n).abs();
        out.push(SynthBar {
            ts,
            open: round(open),
            high: round(open.max(close) + wiggle(1)),
            low: round(open.min(close) - wiggle(2)),
            close: round(close),
            volume: 50 + mix(seed ^ 0xabcd, m) % 450,
        });
        price = close;
        m += 1;
    }
    out
}

/// Bars of `minutes` length (60 for 1h; 1440 groups by trade date for 1d), aggregated from
/// the minute walk.
pub fn bars(
    symbol: &str,
    minutes: i64,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    max: usize,
) -> Vec<SynthBar> {
    let ones = minute_bars(symbol, from, to, 2_000_000);
    if minutes <= 1 {
        return ones.into_iter().take(max).collect();
    }
    let mut out: Vec<(i64, SynthBar)> = Vec::new();
    for b in ones {
        let key = if minutes >= 1440 {
            trade_day(b.ts)
        } else {
            b.ts.timestamp().div_euclid(minutes * 60)
        };
        match out.last_mut() {
            Some((k, agg)) if *k == key => {
                agg.high = agg.high.max(b.high);
                agg.low = agg.low.min(b.low);
                agg.close = b.close;
                agg.volume += b.volume;
            }
            _ => {
                if out.len() == max {
                    break;
                }
                let mut first = b;
                if minutes < 1440 {
                    first.ts = DateTime::from_timestamp(key * minutes * 60, 0).unwrap_or(b.ts);
                }
                out.push((key, first));
            }
        }
    }
    out.into_iter().map(|(_, b)| b).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn deterministic_and_independent_of_the_range_start() {
        let a = minute_bars(
            "ES.c.0",
            at("2026-11-24T15:00:00Z"),
            at("2026-11-24T16:00:00Z"),
            1000,
        );
        let b = minute_bars(
            "ES.c.0",
            at("2026-11-24T15:30:00Z"),
            at("2026-11-24T16:00:00Z"),
            1000,
        );
        assert_eq!(a.len(), 60);
        assert_eq!(&a[30..], &b[..]);
        let nq = minute_bars(
            "NQ.c.0",
            at("2026-11-24T15:00:00Z"),
            at("2026-11-24T16:00:00Z"),
            1000,
        );
        assert_ne!(a[0].close, nq[0].close);
        for bar in a.iter().chain(&nq) {
            assert_eq!((bar.close / 0.25).fract(), 0.0, "on the tick");
            assert!(bar.low <= bar.open.min(bar.close) && bar.high >= bar.open.max(bar.close));
        }
    }

    #[test]
    fn session_gaps_follow_globex_hours() {
        // Tuesday 2026-11-24: halt 16:00–17:00 CST = 22:00–23:00 UTC.
        let day = minute_bars(
            "ES.c.0",
            at("2026-11-24T21:00:00Z"),
            at("2026-11-25T00:00:00Z"),
            1000,
        );
        assert_eq!(day.len(), 120);
        assert!(day.iter().all(|b| b.ts.hour() != 22));
        // Saturday: closed.
        assert!(
            minute_bars(
                "ES.c.0",
                at("2026-11-28T00:00:00Z"),
                at("2026-11-29T00:00:00Z"),
                10
            )
            .is_empty()
        );
        // Summer (CDT): halt 21:00–22:00 UTC.
        let summer = minute_bars(
            "ES.c.0",
            at("2026-07-14T20:00:00Z"),
            at("2026-07-14T23:00:00Z"),
            1000,
        );
        assert!(summer.iter().all(|b| b.ts.hour() != 21));
        assert_eq!(summer.len(), 120);
    }

    #[test]
    fn hourly_and_daily_aggregate_the_minutes() {
        let hours = bars(
            "ES.c.0",
            60,
            at("2026-11-24T14:00:00Z"),
            at("2026-11-24T16:00:00Z"),
            10,
        );
        assert_eq!(hours.len(), 2);
        assert_eq!(hours[0].ts, at("2026-11-24T14:00:00Z"));
        let days = bars(
            "ES.c.0",
            1440,
            at("2026-11-23T00:00:00Z"),
            at("2026-11-26T00:00:00Z"),
            10,
        );
        assert!(days.len() >= 3);
    }
}
