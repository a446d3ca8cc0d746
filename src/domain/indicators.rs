//! Technical indicators over the most recent values of a series (oldest first). Each returns
//! `None` when the series is too short: an indicator is never guessed.

use super::bars::Bar;
use rust_decimal::Decimal;

/// Simple moving average of the last `period` values.
pub fn sma(values: &[f64], period: usize) -> Option<f64> {
    if period == 0 || values.len() < period {
        return None;
    }
    Some(sum(&values[values.len() - period..]) / period as f64)
}

/// Sum in four lanes added pairwise at the end: independent additions the CPU overlaps (and
/// vectorises), where one running total waits on each addition in turn. Exact, like the one
/// running total, whenever the values and their sums are representable (prices on a binary
/// tick such as 0.25 are); else within a rounding of it.
fn sum(values: &[f64]) -> f64 {
    lanes(values, |v| v)
}

/// Four-lane sum of `f(value)` (see [`sum`]).
#[inline(always)]
fn lanes(values: &[f64], f: impl Fn(f64) -> f64) -> f64 {
    let mut acc = [0.0f64; 4];
    let chunks = values.chunks_exact(4);
    let rest = chunks.remainder();
    for c in chunks {
        for (a, v) in acc.iter_mut().zip(c) {
            *a += f(*v);
        }
    }
    let mut total = (acc[0] + acc[1]) + (acc[2] + acc[3]);
    for v in rest {
        total += f(*v);
    }
    total
}

/// Exponential moving average (alpha = 2/(period+1)), seeded with the SMA of the first
/// `period` values, then run over the rest of the series.
pub fn ema(values: &[f64], period: usize) -> Option<f64> {
    let seed = sma(values.get(..period)?, period)?;
    let alpha = 2.0 / (period as f64 + 1.0);
    Some(
        values[period..]
            .iter()
            .fold(seed, |acc, v| acc + alpha * (v - acc)),
    )
}

/// Population standard deviation of the last `period` values.
pub fn stdev(values: &[f64], period: usize) -> Option<f64> {
    stdev_about(values, period, sma(values, period)?)
}

/// [`stdev`] given the mean of the last `period` values (`sma(values, period)`, which a
/// caller often has already).
pub fn stdev_about(values: &[f64], period: usize, mean: f64) -> Option<f64> {
    if period == 0 || values.len() < period {
        return None;
    }
    let window = &values[values.len() - period..];
    let var = lanes(window, |v| (v - mean) * (v - mean)) / period as f64;
    Some(var.sqrt())
}

/// Wilder's RSI: the first average gain/loss is the plain mean of the first `period` changes,
/// each later one `avg = (avg*(period-1) + x) / period`. Needs `period + 1` values.
/// No movement at all gives 50; no losses gives 100.
pub fn rsi_wilder(values: &[f64], period: usize) -> Option<f64> {
    if period == 0 || values.len() < period + 1 {
        return None;
    }
    let change = |i: usize| values[i] - values[i - 1];
    let (mut gain, mut loss) = (1..=period).fold((0.0, 0.0), |(g, l), i| {
        let c = change(i);
        (g + c.max(0.0), l + (-c).max(0.0))
    });
    gain /= period as f64;
    loss /= period as f64;
    let p = period as f64;
    for i in period + 1..values.len() {
        let c = change(i);
        gain = (gain * (p - 1.0) + c.max(0.0)) / p;
        loss = (loss * (p - 1.0) + (-c).max(0.0)) / p;
    }
    Some(if loss == 0.0 {
        if gain == 0.0 { 50.0 } else { 100.0 }
    } else {
        100.0 - 100.0 / (1.0 + gain / loss)
    })
}

/// Donchian channel (highest high, lowest low) of the `lookback` bars BEFORE the last bar, so
/// the last bar can be tested for a breakout against it. Needs `lookback + 1` bars.
pub fn donchian_prior(bars: &[Bar], lookback: usize) -> Option<(Decimal, Decimal)> {
    if lookback == 0 || bars.len() < lookback + 1 {
        return None;
    }
    let window = &bars[bars.len() - 1 - lookback..bars.len() - 1];
    let high = window.iter().map(|b| b.high).max()?;
    let low = window.iter().map(|b| b.low).min()?;
    Some((high, low))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::bars::test_support::bars_from_closes;
    use rust_decimal_macros::dec;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn sma_of_last_window() {
        let v = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert!(close(sma(&v, 3).unwrap(), 4.0)); // (3+4+5)/3
        assert!(close(sma(&v, 5).unwrap(), 3.0));
        assert_eq!(sma(&v, 6), None);
        assert_eq!(sma(&v, 0), None);
    }

    #[test]
    fn ema_seeded_with_sma() {
        // period 3, alpha 0.5: seed (1+2+3)/3 = 2; 4 → 3; 5 → 4; 6 → 5.
        let v = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        assert!(close(ema(&v, 3).unwrap(), 5.0));
        // 10 after seed 2 → 2 + 0.5*8 = 6.
        assert!(close(ema(&[1.0, 2.0, 3.0, 10.0], 3).unwrap(), 6.0));
        assert_eq!(ema(&[1.0, 2.0], 3), None);
    }

    #[test]
    fn stdev_population() {
        // 2,4,4,4,5,5,7,9: mean 5, variance 4.
        let v = [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0];
        assert!(close(stdev(&v, 8).unwrap(), 2.0));
    }

    #[test]
    fn lane_sums_equal_one_running_total_on_tick_prices() {
        // Quarter-tick prices: every partial sum is exact, so the lanes change nothing, for
        // every remainder of the four lanes; on cent prices they stay within rounding.
        let quarters: Vec<f64> = (0..300)
            .map(|i| 5000.0 + f64::from(i % 37) * 0.25)
            .collect();
        let cents: Vec<f64> = (0..300).map(|i| 71.0 + f64::from(i % 53) * 0.01).collect();
        for n in 0..=quarters.len() {
            let one_total = quarters[..n].iter().fold(0.0, |a, v| a + v);
            assert_eq!(sum(&quarters[..n]), one_total, "n = {n}");
            let one_total = cents[..n].iter().fold(0.0, |a, v| a + v);
            assert!((sum(&cents[..n]) - one_total).abs() < 1e-9, "n = {n}");
        }
        let mean = sma(&quarters, 275).unwrap();
        assert_eq!(stdev_about(&quarters, 275, mean), stdev(&quarters, 275));
        assert_eq!(stdev_about(&quarters, 301, mean), None);
    }

    #[test]
    fn rsi_wilder_hand_computed() {
        // changes: +1, -1, +2 (period 2): first avg gain (1+0)/2 = 0.5, loss (0+1)/2 = 0.5;
        // then gain (0.5*1 + 2)/2 = 1.25, loss (0.5*1 + 0)/2 = 0.25 → RS 5 → RSI 100 - 100/6.
        let v = [10.0, 11.0, 10.0, 12.0];
        assert!(close(rsi_wilder(&v, 2).unwrap(), 100.0 - 100.0 / 6.0));
        assert!(close(rsi_wilder(&[1.0, 2.0, 3.0], 2).unwrap(), 100.0));
        assert!(close(rsi_wilder(&[3.0, 2.0, 1.0], 2).unwrap(), 0.0));
        assert!(close(rsi_wilder(&[5.0, 5.0, 5.0], 2).unwrap(), 50.0));
        assert_eq!(rsi_wilder(&[1.0, 2.0], 2), None);
    }

    #[test]
    fn donchian_excludes_the_last_bar() {
        // closes 100, 102, 101, 105: bars built with high=max(prev,c), low=min(prev,c).
        // prior 2 bars (idx 1,2): highs 102,102; lows 100,101 → (102, 100).
        let bars = bars_from_closes(&[dec!(100), dec!(102), dec!(101), dec!(105)]);
        assert_eq!(donchian_prior(&bars, 2), Some((dec!(102), dec!(100))));
        assert_eq!(donchian_prior(&bars, 4), None);
    }
}
