//! Exact comparisons of `Decimal` amounts for the per-bar hot path (the equity peak, the loss
//! and drawdown gates, a run's drawdowns): the answer `Decimal`'s own `cmp` and `max` give,
//! read from the integer mantissas. A `Decimal` is `mantissa × 10^-scale` with |mantissa| <
//! 2^96, so bringing the smaller scale up by at most 10^9 (< 2^30) stays below 2^126 and the
//! comparison of two `i128`s is exact; a wider scale gap goes to `Decimal` itself. (A USD
//! figure at scale 2 against a limit at scale 0 is the usual case: `Decimal` rescales in 96-bit
//! pieces, this in one multiplication.)

use std::cmp::Ordering;

use rust_decimal::Decimal;

const POW10: [i128; 10] = [
    1,
    10,
    100,
    1_000,
    10_000,
    100_000,
    1_000_000,
    10_000_000,
    100_000_000,
    1_000_000_000,
];

/// `a.cmp(b)`.
#[inline]
pub fn cmp(a: &Decimal, b: &Decimal) -> Ordering {
    let (sa, sb) = (a.scale(), b.scale());
    let (ma, mb) = (a.mantissa(), b.mantissa());
    if sa == sb {
        return ma.cmp(&mb);
    }
    let gap = sa.abs_diff(sb) as usize;
    match POW10.get(gap) {
        Some(p) if sa < sb => (ma * p).cmp(&mb),
        Some(p) => ma.cmp(&(mb * p)),
        None => a.cmp(b),
    }
}

/// `a.max(b)` (`Decimal::max`: `b` only when `a < b`, so of two equal amounts written at
/// different scales, `a`'s writing is kept).
#[inline]
pub fn max(a: Decimal, b: Decimal) -> Decimal {
    if cmp(&a, &b) == Ordering::Less { b } else { a }
}

/// `(a - b).cmp(c)` without building `a - b` (the drawdown and daily-loss gates: a
/// difference of two amounts against a limit): from the mantissas at the largest scale when
/// every gap is at most 9, else from `Decimal`'s difference (a difference beyond its range is
/// larger in size than any `c`). The same answer as `Decimal` wherever `a - b` is exact at the
/// larger of their scales, as every money amount is; beyond that `Decimal` rounds the
/// difference and this may be the exact one.
#[inline]
pub fn cmp_diff(a: &Decimal, b: &Decimal, c: &Decimal) -> Ordering {
    let scale = a.scale().max(b.scale()).max(c.scale());
    let at = |x: &Decimal| {
        POW10
            .get((scale - x.scale()) as usize)
            .map(|p| x.mantissa() * p)
    };
    if let (Some(ma), Some(mb), Some(mc)) = (at(a), at(b), at(c))
        && let Some(d) = ma.checked_sub(mb)
    {
        return d.cmp(&mc);
    }
    match a.checked_sub(*b) {
        Some(d) => d.cmp(c),
        None => a.cmp(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn amounts() -> Vec<Decimal> {
        let mut out = vec![
            Decimal::ZERO,
            -Decimal::ZERO,
            Decimal::new(0, 2),
            Decimal::new(0, 28),
            dec!(1),
            dec!(-1),
            dec!(1.00),
            dec!(0.01),
            dec!(-0.01),
            dec!(33357.50),
            dec!(33357.5),
            dec!(-196858.75),
            dec!(100000000),
            dec!(-100000000),
            dec!(12.5),
            dec!(12.50),
            dec!(0.0000000001),
            dec!(0.0000000000000000000000000001),
            Decimal::MAX,
            Decimal::MIN,
            Decimal::from_i128_with_scale((1 << 96) - 1, 0),
            Decimal::from_i128_with_scale((1 << 96) - 1, 9),
            Decimal::from_i128_with_scale(-((1 << 96) - 1), 10),
            Decimal::from_i128_with_scale((1 << 96) - 1, 28),
        ];
        // Pseudo-random amounts at every scale 0–12 (xorshift, fixed seed), some near each
        // other after rescaling.
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        for _ in 0..400 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let m = (x >> 16) as i64 % 10_000_000;
            let m = if x & 1 == 0 { m } else { -m };
            let scale = (x % 13) as u32;
            out.push(Decimal::new(m, scale));
            // The same amount one and two scales up, and one unit beside it.
            let m = i128::from(m);
            out.push(Decimal::from_i128_with_scale(m * 10, scale + 1));
            out.push(Decimal::from_i128_with_scale(m * 100 + 1, scale + 2));
        }
        out
    }

    #[test]
    fn comparing_is_decimals_comparison_for_every_pair() {
        let all = amounts();
        let mut rescaled = 0;
        for a in &all {
            for b in &all {
                assert_eq!(cmp(a, b), a.cmp(b), "{a:?} vs {b:?}");
                rescaled +=
                    usize::from(a.scale() != b.scale() && a.scale().abs_diff(b.scale()) <= 9);
            }
        }
        assert!(rescaled > 100_000, "{rescaled}");
    }

    #[test]
    fn a_difference_against_a_limit_is_decimals_answer() {
        let all = amounts();
        // Every extreme and a spread of the rest for a and b, every amount for c.
        let some: Vec<Decimal> = all
            .iter()
            .enumerate()
            .filter(|(i, _)| *i < 24 || i % 23 == 0)
            .map(|(_, d)| *d)
            .collect();
        let mut checked = 0;
        for a in &some {
            for b in &some {
                // `Decimal`'s difference is exact when it keeps the larger scale.
                let exact = match a.checked_sub(*b) {
                    Some(d) if d.scale() == a.scale().max(b.scale()) => Some(d),
                    Some(_) => continue,
                    None => None,
                };
                for c in &all {
                    let want = exact.map_or_else(|| a.cmp(b), |d| d.cmp(c));
                    assert_eq!(cmp_diff(a, b, c), want, "({a:?} - {b:?}) vs {c:?}");
                    checked += 1;
                }
            }
        }
        assert!(checked > 1_000_000, "{checked}");
        // A daily loss at its limit, a drawdown one cent short of it.
        assert!(cmp_diff(&Decimal::ZERO, &dec!(-250.00), &dec!(250)).is_eq());
        assert!(cmp_diff(&dec!(10500.00), &dec!(10000.01), &dec!(500)).is_lt());
    }

    #[test]
    fn the_larger_is_decimals_max_to_the_digit() {
        let all = amounts();
        for a in &all {
            for b in &all {
                let (fast, slow) = (max(*a, *b), Decimal::max(*a, *b));
                assert_eq!(fast, slow);
                assert_eq!(fast.to_string(), slow.to_string(), "{a} max {b}");
                assert_eq!(fast.scale(), slow.scale());
            }
        }
        // Of two equal amounts the first's writing stays.
        assert_eq!(max(dec!(12.50), dec!(12.5)).to_string(), "12.50");
        assert_eq!(max(dec!(12.5), dec!(12.50)).to_string(), "12.5");
    }
}
