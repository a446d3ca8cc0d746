//! Deterministic synthetic OHLCV: a seeded random walk per symbol on the CME Globex schedule
//! (Sunday 17:00 CT to Friday 16:00 CT, daily halt 16:00–17:00 CT), prices on the contract's
//! tick. The same symbol and minute always give the same bar, whatever range is asked for.
//! One-second bars are derived from each minute bar (same open, close, high, low and volume
//! in total). Exchange holidays are not modelled.

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Timelike, Utc, Weekday};
use rust_decimal::prelude::ToPrimitive;

use crate::domain::instruments::Symbol;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SynthBar {
    pub ts: DateTime<Utc>,
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub close: f64,
    pub volume: u64,
}

/// The futures root of an exchange contract symbol (`ESZ6` → `ES`, `MNQH7` → `MNQ`,
/// `M2KZ6` → `M2K`), a continuous or parent symbol (`ES.c.0`, `ES.FUT` → `ES`), or `None` for
/// anything else. The roots are the product's (`Symbol::ALL`): the root is matched as a
/// prefix, not read up to the first digit, since `M2K` has one.
pub fn futures_root(symbol: &str) -> Option<Symbol> {
    Symbol::ALL.iter().copied().find(|root| {
        symbol.strip_prefix(root.as_str()).is_some_and(|tail| {
            if let Some(rest) = tail.strip_prefix('.') {
                rest == "FUT"
                    || rest.split_once('.').is_some_and(|(rule, rank)| {
                        ["c", "n", "v"].contains(&rule)
                            && !rank.is_empty()
                            && rank.bytes().all(|b| b.is_ascii_digit())
                    })
            } else {
                // Quarterly month code + one-digit year.
                let b = tail.as_bytes();
                b.len() == 2 && b"HMUZ".contains(&b[0]) && b[1].is_ascii_digit()
            }
        })
    })
}

/// Tick size and a plausible price level per symbol: a root's tick from its spec and a level
/// near its index's late-2026 range; anything else (a stock) a cent tick and a hashed level.
fn contract(symbol: &str) -> (f64, f64) {
    let alphabetic: String = symbol
        .chars()
        .take_while(|c| c.is_ascii_alphabetic())
        .collect();
    let bare = || {
        Symbol::ALL
            .iter()
            .copied()
            .find(|s| s.as_str() == alphabetic)
    };
    let Some(root) = futures_root(symbol).or_else(bare) else {
        return (0.01, 100.0 + (fnv(symbol.as_bytes()) % 400) as f64);
    };
    let level = match root {
        Symbol::Es | Symbol::Mes => 6000.0,
        Symbol::Nq | Symbol::Mnq => 21000.0,
        Symbol::Ym | Symbol::Mym => 44000.0,
        Symbol::Rty | Symbol::M2k => 2300.0,
        Symbol::Emd => 3200.0,
        Symbol::Nkd => 48000.0,
    };
    (root.spec().tick_size.to_f64().unwrap_or(0.01), level)
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

/// `t` in whole units of `unit_ms`, rounded up: the first unit starting at or after `t`.
fn units_from(t: DateTime<Utc>, unit_ms: i64) -> i64 {
    let ms = t.timestamp_millis();
    ms.div_euclid(unit_ms) + i64::from(ms.rem_euclid(unit_ms) != 0)
}

/// The first minute of the session holding trading minute `m` of trade date `d`. Trading
/// status and trade date change only on whole UTC hours (Central offsets are whole hours), so
/// the search steps back an hour at a time; a session is at most 23 hours.
fn session_start(m: i64, d: i64) -> i64 {
    let mut start = m.div_euclid(60) * 60;
    for _ in 0..24 {
        let before = DateTime::from_timestamp((start - 60) * 60, 0).unwrap_or_default();
        if !is_trading_minute(before) || trade_day(before) != d {
            break;
        }
        start -= 60;
    }
    start
}

/// The seeded minute walk, lazily, from the first minute at or after `from` up to `to`
/// (trading minutes only). Cost: one anchor walk per trade date touched, then O(1) a minute.
struct Minutes {
    seed: u64,
    tick: f64,
    level: f64,
    m: i64,
    end: i64,
    day: i64,
    price: f64,
}

impl Minutes {
    fn new(symbol: &str, from: DateTime<Utc>, to: DateTime<Utc>) -> Self {
        let (tick, level) = contract(symbol);
        Minutes {
            seed: fnv(symbol.as_bytes()),
            tick,
            level,
            m: units_from(from, 60_000),
            end: units_from(to, 60_000),
            day: i64::MIN,
            price: 0.0,
        }
    }

    fn round(&self, p: f64) -> f64 {
        (p / self.tick).round() * self.tick
    }
}

impl Iterator for Minutes {
    type Item = SynthBar;

    fn next(&mut self) -> Option<SynthBar> {
        let seed = self.seed;
        while self.m < self.end {
            let m = self.m;
            self.m += 1;
            let ts = DateTime::from_timestamp(m * 60, 0)?;
            if !is_trading_minute(ts) {
                continue;
            }
            let d = trade_day(ts);
            if d != self.day {
                // Re-anchor at the session's first trading minute, then walk forward to `m`, so
                // a bar does not depend on where the requested range starts.
                self.day = d;
                self.price = self.level * (1.0 + 0.08 * (d as f64 / 23.0 + unit(seed, d)).sin());
                for j in session_start(m, d)..m {
                    self.price *= 1.0 + 0.0006 * unit(seed, j);
                }
            }
            let price = self.price;
            let close = price * (1.0 + 0.0006 * unit(seed, m));
            let wiggle = |n: i64| price * 0.0004 * unit(seed ^ 0x5555, m * 4 + n).abs();
            self.price = close;
            return Some(SynthBar {
                ts,
                open: self.round(price),
                high: self.round(price.max(close) + wiggle(1)),
                low: self.round(price.min(close) - wiggle(2)),
                close: self.round(close),
                // At least one contract a second, so every second of a trading minute trades.
                volume: 60 + mix(seed ^ 0xabcd, m) % 450,
            });
        }
        None
    }
}

/// The 60 one-second bars of a trading minute bar: a seeded Brownian bridge from the minute's
/// open to its close, kept inside its low/high and on the tick. The first second opens at the
/// minute's open, the last closes at its close, the seconds touch exactly the minute's high and
/// low, and their volumes sum to its volume, so aggregating them gives the minute bar back.
fn seconds_of(seed: u64, tick: f64, minute: &SynthBar) -> [SynthBar; 60] {
    let round = |p: f64| ((p / tick).round() * tick).clamp(minute.low, minute.high);
    let m = minute.ts.timestamp().div_euclid(60);
    let (open, close) = (minute.open, minute.close);
    let mut walk = [0.0; 61];
    for k in 1..=60 {
        walk[k] = walk[k - 1] + unit(seed ^ 0x5ec0, m * 61 + k as i64);
    }
    let spread = (minute.high - minute.low) / 6.0;
    let mut path = [0.0; 61];
    for (k, p) in path.iter_mut().enumerate() {
        let t = k as f64 / 60.0;
        *p = round(open + (close - open) * t + spread * (walk[k] - walk[60] * t));
    }
    (path[0], path[60]) = (open, close);
    // Volume: one each, the rest split by seeded weights (cumulative floors sum exactly).
    let weight = |s: i64| 1 + mix(seed ^ 0x7070, m * 60 + s) % 8;
    let total: u64 = (0..60).map(weight).sum();
    let spare = minute.volume.saturating_sub(60);
    let mut cum = 0;
    let mut out = [*minute; 60];
    for (s, bar) in out.iter_mut().enumerate() {
        let (o, c) = (path[s], path[s + 1]);
        let before = spare * cum / total;
        cum += weight(s as i64);
        let pad = |n: i64| tick * (mix(seed ^ 0x1e55, (m * 60 + s as i64) * 2 + n) % 3) as f64;
        *bar = SynthBar {
            ts: minute.ts + Duration::seconds(s as i64),
            open: o,
            high: round(o.max(c) + pad(0)),
            low: round(o.min(c) - pad(1)),
            close: c,
            volume: 1 + spare * cum / total - before,
        };
    }
    // The minute's extremes happen in the seconds nearest to them.
    let top = (0..60).max_by(|&a, &b| out[a].high.total_cmp(&out[b].high));
    let bottom = (0..60).min_by(|&a, &b| out[a].low.total_cmp(&out[b].low));
    if let (Some(top), Some(bottom)) = (top, bottom) {
        out[top].high = minute.high;
        out[bottom].low = minute.low;
    }
    out
}

/// One-second bars in `[from, to)`, lazily: trading seconds only (every second of a trading
/// minute has a bar). A window of n seconds costs O(n) plus the day anchor.
fn seconds(
    symbol: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> impl Iterator<Item = SynthBar> + use<> {
    let (first, end) = (units_from(from, 1000), units_from(to, 1000));
    let minutes = Minutes::new(
        symbol,
        DateTime::from_timestamp(first.div_euclid(60) * 60, 0).unwrap_or(from),
        to,
    );
    let (seed, tick) = (minutes.seed, minutes.tick);
    minutes
        .flat_map(move |minute| seconds_of(seed, tick, &minute))
        .filter(move |b| (first..end).contains(&b.ts.timestamp()))
}

/// One-minute bars in `[from, to)`, trading minutes only, at most `max` bars.
pub fn minute_bars(
    symbol: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    max: usize,
) -> Vec<SynthBar> {
    Minutes::new(symbol, from, to).take(max).collect()
}

/// One-second bars in `[from, to)`, trading seconds only, at most `max` bars.
pub fn second_bars(
    symbol: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    max: usize,
) -> Vec<SynthBar> {
    seconds(symbol, from, to).take(max).collect()
}

/// Bars of `len` seconds in `[from, to)`, at most `max`: 1 is the second walk; other lengths
/// group it (or, for whole minutes, the minute walk) into buckets aligned to multiples of `len`
/// since the epoch, each stamped with its bucket start; 86,400 and longer group by trade date
/// (stamped with the session's first minute in range). Buckets cut by the range edges hold only
/// the part inside it.
pub fn bars(
    symbol: &str,
    len: i64,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    max: usize,
) -> Vec<SynthBar> {
    let len = len.max(1);
    let source: Box<dyn Iterator<Item = SynthBar>> = if len % 60 == 0 {
        Box::new(Minutes::new(symbol, from, to))
    } else {
        Box::new(seconds(symbol, from, to))
    };
    if len == 1 || len == 60 {
        return source.take(max).collect();
    }
    let mut out: Vec<(i64, SynthBar)> = Vec::new();
    for b in source {
        let key = if len >= 86_400 {
            trade_day(b.ts)
        } else {
            b.ts.timestamp().div_euclid(len)
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
                if len < 86_400 {
                    first.ts = DateTime::from_timestamp(key * len, 0).unwrap_or(b.ts);
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
    fn futures_roots_of_listed_continuous_and_parent_symbols() {
        for (symbol, root) in [
            ("ESZ6", Some(Symbol::Es)),
            ("MNQH7", Some(Symbol::Mnq)),
            ("YMU0", Some(Symbol::Ym)),
            ("ES.c.0", Some(Symbol::Es)),
            ("NQ.v.1", Some(Symbol::Nq)),
            ("ES.FUT", Some(Symbol::Es)),
            ("M2KZ6", Some(Symbol::M2k)),
            ("M2K.c.0", Some(Symbol::M2k)),
            ("M2K.FUT", Some(Symbol::M2k)),
            ("MYMH7", Some(Symbol::Mym)),
            ("EMDU6", Some(Symbol::Emd)),
            ("EMD.n.0", Some(Symbol::Emd)),
            ("NKDM7", Some(Symbol::Nkd)),
            ("NKD.c.0", Some(Symbol::Nkd)),
            ("ES", None),
            ("ESZ26", None),
            ("ESF6", None),
            ("ES.x.0", None),
            ("CLZ6", None),
            ("AAPL", None),
            ("", None),
            ("M2K", None),
            ("M2KZ26", None),
            ("M2Z6", None),
            ("NKDF7", None),
            ("NKD.c.", None),
            ("MYM.c.0x", None),
        ] {
            assert_eq!(futures_root(symbol), root, "{symbol}");
        }
        assert_eq!(contract("ESZ6"), contract("ES.c.0"));
        // Each root's own tick: the sandbox's prices are on the grid the product checks.
        assert_eq!(contract("M2KZ6"), (0.1, 2300.0));
        assert_eq!(contract("MYM.c.0").0, 1.0);
        assert_eq!(contract("EMDZ6").0, 0.1);
        assert_eq!(contract("NKDZ6"), (5.0, 48000.0));
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
            3600,
            at("2026-11-24T14:00:00Z"),
            at("2026-11-24T16:00:00Z"),
            10,
        );
        assert_eq!(hours.len(), 2);
        assert_eq!(hours[0].ts, at("2026-11-24T14:00:00Z"));
        let days = bars(
            "ES.c.0",
            86_400,
            at("2026-11-23T00:00:00Z"),
            at("2026-11-26T00:00:00Z"),
            10,
        );
        assert!(days.len() >= 3);
    }

    fn on_tick(p: f64, tick: f64) -> bool {
        ((p / tick).round() * tick - p).abs() < 1e-9
    }

    #[test]
    fn seconds_rebuild_their_minute() {
        let (from, to) = (at("2026-11-24T15:00:00Z"), at("2026-11-24T15:05:00Z"));
        for symbol in ["ES.c.0", "RTY.c.0", "AAPL", "NKDZ6", "M2KZ6", "EMD.c.0"] {
            let tick = contract(symbol).0;
            let minutes = minute_bars(symbol, from, to, 100);
            let secs = second_bars(symbol, from, to, 1000);
            assert_eq!((minutes.len(), secs.len()), (5, 300));
            for (minute, sec) in minutes.iter().zip(secs.chunks(60)) {
                assert!(
                    sec.iter()
                        .all(|b| b.ts.timestamp().div_euclid(60) * 60 == minute.ts.timestamp())
                );
                assert_eq!(sec[0].open, minute.open);
                assert_eq!(sec[59].close, minute.close);
                let high = sec.iter().map(|b| b.high).fold(f64::MIN, f64::max);
                let low = sec.iter().map(|b| b.low).fold(f64::MAX, f64::min);
                assert_eq!((high, low), (minute.high, minute.low));
                assert_eq!(sec.iter().map(|b| b.volume).sum::<u64>(), minute.volume);
                for w in sec.windows(2) {
                    assert_eq!(w[1].open, w[0].close, "continuous");
                    assert_eq!(w[1].ts - w[0].ts, Duration::seconds(1));
                }
                for b in sec {
                    assert!(b.volume >= 1);
                    assert!(b.low <= b.open.min(b.close) && b.high >= b.open.max(b.close));
                    for p in [b.open, b.high, b.low, b.close] {
                        assert!(on_tick(p, tick), "{symbol} {p} on the {tick} tick");
                    }
                }
            }
        }
    }

    #[test]
    fn a_small_second_window_is_the_same_slice_of_a_larger_one() {
        let wide = second_bars(
            "NQ.c.0",
            at("2026-11-24T15:00:00Z"),
            at("2026-11-24T15:10:00Z"),
            10_000,
        );
        assert_eq!(wide.len(), 600);
        // The last 5 seconds, and a window with millisecond edges (seconds starting in it).
        let last = second_bars(
            "NQ.c.0",
            at("2026-11-24T15:09:55Z"),
            at("2026-11-24T15:10:00Z"),
            10,
        );
        assert_eq!(&last[..], &wide[595..]);
        let odd = second_bars(
            "NQ.c.0",
            at("2026-11-24T15:03:19.500Z"),
            at("2026-11-24T15:03:22.001Z"),
            10,
        );
        assert_eq!(&odd[..], &wide[200..203]);
        assert_eq!(
            second_bars(
                "NQ.c.0",
                at("2026-11-24T15:03:19Z"),
                at("2026-11-24T15:09:00Z"),
                3
            ),
            &wide[199..202]
        );
    }

    #[test]
    fn no_seconds_during_the_halt() {
        // Tuesday 2026-11-24: halt 22:00–23:00 UTC.
        let secs = second_bars(
            "ES.c.0",
            at("2026-11-24T21:59:58Z"),
            at("2026-11-24T23:00:02Z"),
            10_000,
        );
        let times: Vec<String> = secs
            .iter()
            .map(|b| b.ts.format("%H:%M:%S").to_string())
            .collect();
        assert_eq!(times, ["21:59:58", "21:59:59", "23:00:00", "23:00:01"]);
    }

    #[test]
    fn multi_minute_and_multi_second_buckets() {
        let (from, to) = (at("2026-11-24T14:00:00Z"), at("2026-11-24T15:00:00Z"));
        let minutes = minute_bars("ES.c.0", from, to, 100);
        for len in [300, 900] {
            let got = bars("ES.c.0", len, from, to, 100);
            let per = (len / 60) as usize;
            assert_eq!(got.len(), 3600 / len as usize);
            for (b, ms) in got.iter().zip(minutes.chunks(per)) {
                assert_eq!(b.ts, ms[0].ts);
                assert_eq!(b.ts.timestamp() % len, 0);
                assert_eq!((b.open, b.close), (ms[0].open, ms[per - 1].close));
                assert_eq!(b.high, ms.iter().map(|m| m.high).fold(f64::MIN, f64::max));
                assert_eq!(b.volume, ms.iter().map(|m| m.volume).sum::<u64>());
            }
        }
        // 15-second buckets from the second walk; a 1-minute bucket from seconds is the minute.
        let fifteen = bars("ES.c.0", 15, from, from + Duration::minutes(1), 100);
        assert_eq!(fifteen.len(), 4);
        assert_eq!(fifteen[0].open, minutes[0].open);
        assert_eq!(fifteen[3].close, minutes[0].close);
        assert_eq!(
            fifteen.iter().map(|b| b.volume).sum::<u64>(),
            minutes[0].volume
        );
        // A bucket cut by the range start holds only its part in range, stamped at its start.
        let cut = bars("ES.c.0", 300, from + Duration::minutes(2), to, 100);
        assert_eq!(cut[0].ts, from);
        assert_eq!(cut[0].open, minutes[2].open);
        // `max` stops early.
        assert_eq!(bars("ES.c.0", 1, from, to, 7).len(), 7);
    }

    #[test]
    fn session_start_matches_a_minute_by_minute_search() {
        // Around both 2026 DST changes and a plain week, every 7th minute.
        for (from, to) in [
            ("2026-03-05T00:00:00Z", "2026-03-12T00:00:00Z"),
            ("2026-10-29T00:00:00Z", "2026-11-05T00:00:00Z"),
            ("2026-11-20T00:00:00Z", "2026-11-26T00:00:00Z"),
        ] {
            let (a, b) = (at(from).timestamp() / 60, at(to).timestamp() / 60);
            for m in (a..b).step_by(7) {
                let ts = DateTime::from_timestamp(m * 60, 0).unwrap();
                if !is_trading_minute(ts) {
                    continue;
                }
                let d = trade_day(ts);
                let mut k = m;
                while is_trading_minute(DateTime::from_timestamp((k - 1) * 60, 0).unwrap())
                    && trade_day(DateTime::from_timestamp((k - 1) * 60, 0).unwrap()) == d
                {
                    k -= 1;
                }
                assert_eq!(session_start(m, d), k, "{ts}");
            }
        }
    }
}
