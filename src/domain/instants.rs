//! Whole-second arithmetic on instants for the per-bar hot path (a bar's end, a data age):
//! the figures `chrono`'s `+ Duration` and `(a - b).num_seconds()` give, without their general
//! path (a calendar-date carry and a leap-second check on every call) when both instants lie in
//! one UTC day and neither is a leap second. Anything else is handed to `chrono` itself, so the
//! result is `chrono`'s for every input (tested against it).

use chrono::{DateTime, Datelike, Duration, NaiveTime, Timelike, Utc};

const DAY: i64 = 86_400;

/// The years an instant from outside (a request, a cursor, a vendor's answer) may name. chrono
/// reads years up to ±262,142, where date arithmetic (a roll date, the next trade date) panics,
/// and Postgres stores none before 4713 BC; no market data or order of this product lies
/// outside these.
pub const SUPPORTED_YEARS: std::ops::RangeInclusive<i32> = 1970..=9999;

/// Whether `t` lies in [`SUPPORTED_YEARS`].
pub fn supported(t: DateTime<Utc>) -> bool {
    SUPPORTED_YEARS.contains(&t.year())
}

/// `t + Duration::seconds(secs)`.
pub fn add_seconds(t: DateTime<Utc>, secs: i64) -> DateTime<Utc> {
    let naive = t.naive_utc();
    let time = naive.time();
    let nano = time.nanosecond();
    let sum = i64::from(time.num_seconds_from_midnight()).wrapping_add(secs);
    // A leap second (nano ≥ 10⁹) and a date carry go the general way.
    if nano < 1_000_000_000
        && (0..DAY).contains(&sum)
        && let Some(time) = u32::try_from(sum)
            .ok()
            .and_then(|s| NaiveTime::from_num_seconds_from_midnight_opt(s, nano))
    {
        return naive.date().and_time(time).and_utc();
    }
    t + Duration::seconds(secs)
}

/// `(later - earlier).num_seconds()`: whole seconds, truncated toward zero.
pub fn seconds_between(later: DateTime<Utc>, earlier: DateTime<Utc>) -> i64 {
    let (a, b) = (later.naive_utc(), earlier.naive_utc());
    let (ta, tb) = (a.time(), b.time());
    // Same day and the same sub-second part (whole-second bar stamps): a difference of
    // seconds of the day, exactly.
    if a.date() == b.date() && ta.nanosecond() == tb.nanosecond() && ta.nanosecond() < 1_000_000_000
    {
        return i64::from(ta.num_seconds_from_midnight())
            - i64::from(tb.num_seconds_from_midnight());
    }
    later.signed_duration_since(earlier).num_seconds()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{NaiveDate, TimeZone};

    /// A spread of instants: day edges, whole and fractional seconds, leap seconds, far dates.
    fn instants() -> Vec<DateTime<Utc>> {
        let mut out = Vec::new();
        let days = [
            NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
            NaiveDate::from_ymd_opt(2026, 2, 28).unwrap(),
            NaiveDate::from_ymd_opt(2028, 2, 29).unwrap(),
            NaiveDate::from_ymd_opt(2026, 12, 31).unwrap(),
            NaiveDate::from_ymd_opt(1969, 12, 31).unwrap(),
        ];
        let secs = [0u32, 1, 59, 60, 3_599, 43_200, 86_340, 86_399];
        let nanos = [
            0u32,
            1,
            500_000_000,
            999_999_999,
            1_000_000_000,
            1_999_999_999,
        ];
        for d in days {
            for s in secs {
                for n in nanos {
                    // chrono only takes a leap second's nanos at a minute's 59th second.
                    if let Some(t) = NaiveTime::from_num_seconds_from_midnight_opt(s, n) {
                        out.push(d.and_time(t).and_utc());
                    }
                }
            }
        }
        // Pseudo-random instants over a few years (xorshift, fixed seed).
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let base = Utc.with_ymd_and_hms(2025, 6, 1, 0, 0, 0).unwrap();
        for _ in 0..2_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let secs = (x % (3 * 365 * 86_400)) as i64;
            let nano = if x.is_multiple_of(3) {
                0
            } else {
                (x >> 20) % 1_000_000_000
            } as i64;
            out.push(base + Duration::seconds(secs) + Duration::nanoseconds(nano));
        }
        out
    }

    #[test]
    fn adding_seconds_is_chronos_addition_for_every_instant() {
        let steps = [
            0i64, 1, -1, 59, 60, -60, 300, 900, 3_600, 86_399, 86_400, -86_400, 86_401, 1_000_000,
        ];
        let mut fast_paths = 0;
        for t in instants() {
            for s in steps {
                assert_eq!(add_seconds(t, s), t + Duration::seconds(s), "{t:?} + {s} s");
                let naive = t.naive_utc().time();
                let sum = i64::from(naive.num_seconds_from_midnight()) + s;
                fast_paths += usize::from((0..DAY).contains(&sum));
            }
        }
        // Both paths are exercised.
        assert!(fast_paths > 10_000, "{fast_paths}");
    }

    #[test]
    fn seconds_between_is_chronos_truncated_difference_for_every_pair() {
        let all = instants();
        let mut same_day = 0;
        for (i, a) in all.iter().enumerate() {
            // Each instant against its neighbours, itself, and instants a bar or a day away.
            let others = [
                all[(i + 1) % all.len()],
                all[(i + 7) % all.len()],
                *a,
                *a - Duration::seconds(60),
                *a + Duration::seconds(60),
                *a - Duration::seconds(86_400),
                *a - Duration::nanoseconds(1),
            ];
            for b in others {
                for (x, y) in [(*a, b), (b, *a)] {
                    assert_eq!(
                        seconds_between(x, y),
                        (x - y).num_seconds(),
                        "{x:?} − {y:?}"
                    );
                    same_day += usize::from(x.date_naive() == y.date_naive());
                }
            }
        }
        assert!(same_day > 5_000, "{same_day}");
    }
}
