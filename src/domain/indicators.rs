//! Technical indicators over the most recent values of a series (oldest first). Each returns
//! `None` when the series is too short: an indicator is never guessed.

use super::bars::Bar;
use rust_decimal::Decimal;

/// A series of prices (oldest first) with running sums beside it, so the mean and σ of any
/// trailing window cost a few subtractions instead of a pass over the window. The engine keeps
/// one for its closes and appends each bar's once.
///
/// The sums count whole ticks, in integers: exact for every tick size, so a flat window's
/// fast and slow means are equal and its σ is 0, and on a binary tick (0.25, 1) a mean is
/// the very float a direct pass gives. A price off the tick grid (or not finite) is counted
/// apart, and a window holding one is read by a direct pass over its values instead.
#[derive(Debug, Clone)]
pub struct Series {
    tick: f64,
    /// Ticks per unit price (a product per value, not a division); NaN for a tick that is
    /// not positive, so no price is on its grid.
    per_unit: f64,
    values: Vec<f64>,
    /// `running[i]` sums `values[..i]`: one more entry than `values`.
    running: Vec<Running>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Running {
    ticks: i64,
    squares: i128,
    /// Values off the tick grid or not finite, and of those the ones not finite.
    off_grid: u32,
    non_finite: u32,
}

/// Prices up to 2^50 ticks keep every sum below i64's range.
const MAX_TICKS: f64 = (1u64 << 50) as f64;

impl Series {
    /// A series of prices on `tick` (`> 0`; any other tick counts every price off the grid),
    /// with room for `n`.
    pub fn with_capacity(tick: f64, n: usize) -> Series {
        let mut running = Vec::with_capacity(n + 1);
        running.push(Running::default());
        Series {
            tick,
            per_unit: if tick > 0.0 { 1.0 / tick } else { f64::NAN },
            values: Vec::with_capacity(n),
            running,
        }
    }

    /// A series of `values` on `tick`.
    pub fn of(tick: f64, values: impl IntoIterator<Item = f64>) -> Series {
        let mut s = Series::with_capacity(tick, 0);
        for v in values {
            s.push(v);
        }
        s
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    pub fn push(&mut self, v: f64) {
        let next = self.then(self.running[self.values.len()], v);
        self.values.push(v);
        self.running.push(next);
    }

    /// Replaces the value at `i` (a bar received again).
    pub fn set(&mut self, i: usize, v: f64) {
        self.values[i] = v;
        self.sum_from(i);
    }

    /// Inserts `v` before position `i` (a bar received out of order).
    pub fn insert(&mut self, i: usize, v: f64) {
        self.values.insert(i, v);
        self.sum_from(i);
    }

    pub fn truncate(&mut self, len: usize) {
        self.values.truncate(len);
        self.running.truncate(self.values.len() + 1);
    }

    /// Drops the oldest `n` values.
    pub fn drain_front(&mut self, n: usize) {
        self.values.drain(..n.min(self.values.len()));
        self.sum_from(0);
    }

    pub fn clear(&mut self) {
        self.values.clear();
        self.sum_from(0);
    }

    /// The newest `n` values (all of them when fewer).
    pub fn last(&self, n: usize) -> Window<'_> {
        let from = self.values.len().saturating_sub(n);
        Window {
            tick: self.tick,
            values: &self.values[from..],
            running: &self.running[from..],
        }
    }

    /// `r` with `v` added.
    fn then(&self, r: Running, v: f64) -> Running {
        // Half away from zero like `f64::round`, without its library call; a NaN or
        // infinite price saturates and fails the range check below.
        let x = v * self.per_unit;
        let t = (x + 0.5f64.copysign(x)) as i64 as f64;
        // On the grid within the float's own precision (0.1 ticks are not exact floats).
        if t.abs() < MAX_TICKS && (t * self.tick - v).abs() <= v.abs() * 1e-12 {
            let t = t as i64;
            Running {
                ticks: r.ticks + t,
                squares: r.squares + i128::from(t) * i128::from(t),
                ..r
            }
        } else {
            Running {
                off_grid: r.off_grid + 1,
                non_finite: r.non_finite + u32::from(!v.is_finite()),
                ..r
            }
        }
    }

    /// Recomputes the running sums from position `i` on.
    fn sum_from(&mut self, i: usize) {
        self.running.truncate(i + 1);
        let mut r = self.running[i];
        for k in i..self.values.len() {
            r = self.then(r, self.values[k]);
            self.running.push(r);
        }
    }
}

/// Trailing values of a [`Series`], oldest first, with their running sums.
#[derive(Debug, Clone, Copy)]
pub struct Window<'a> {
    tick: f64,
    values: &'a [f64],
    /// One more entry than `values`: `running[0]` is the sum before the first value.
    running: &'a [Running],
}

impl<'a> Window<'a> {
    pub fn values(&self) -> &'a [f64] {
        self.values
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Whether every value of the window is finite.
    pub fn all_finite(&self) -> bool {
        let n = self.values.len();
        self.running[n].non_finite == self.running[0].non_finite
    }

    /// The running sums before and after the last `period` values, and those values.
    #[inline]
    fn tail(&self, period: usize) -> Option<(&'a Running, &'a Running, &'a [f64])> {
        let n = self.values.len();
        if period == 0 || n < period {
            return None;
        }
        Some((
            &self.running[n - period],
            &self.running[n],
            &self.values[n - period..],
        ))
    }

    /// Simple moving average of the last `period` values.
    pub fn sma(&self, period: usize) -> Option<f64> {
        let (from, to, values) = self.tail(period)?;
        let n = period as f64;
        Some(if from.off_grid == to.off_grid {
            (to.ticks - from.ticks) as f64 / n * self.tick
        } else {
            values.iter().sum::<f64>() / n
        })
    }

    /// Population standard deviation of the last `period` values; on the grid
    /// √(n·Σt² − (Σt)²) / n ticks, whose numerator is an exact integer.
    pub fn stdev(&self, period: usize) -> Option<f64> {
        let (from, to, values) = self.tail(period)?;
        let n = period as f64;
        Some(if from.off_grid == to.off_grid {
            let (ticks, squares) = (to.ticks - from.ticks, to.squares - from.squares);
            let num = period as i128 * squares - i128::from(ticks) * i128::from(ticks);
            // Through i64 when it fits: a cheaper conversion than i128's (a library call the
            // compiler would otherwise make on every window, fitting or not).
            let num = match i64::try_from(num.max(0)) {
                Ok(n) => n as f64,
                Err(_) => wide_f64(num),
            };
            num.sqrt() / n * self.tick
        } else {
            let mean = values.iter().sum::<f64>() / n;
            (values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n).sqrt()
        })
    }
}

#[cold]
#[inline(never)]
fn wide_f64(n: i128) -> f64 {
    n as f64
}

/// Exponential moving average (alpha = 2/(period+1)), seeded with the SMA of the first
/// `period` values, then run over the rest of the series.
pub fn ema(values: &[f64], period: usize) -> Option<f64> {
    if period == 0 {
        return None;
    }
    let seed = values.get(..period)?.iter().sum::<f64>() / period as f64;
    let alpha = 2.0 / (period as f64 + 1.0);
    Some(
        values[period..]
            .iter()
            .fold(seed, |acc, v| acc + alpha * (v - acc)),
    )
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

    fn series(v: &[f64]) -> Series {
        Series::of(1.0, v.iter().copied())
    }

    #[test]
    fn sma_of_last_window() {
        let s = series(&[1.0, 2.0, 3.0, 4.0, 5.0]);
        let w = s.last(usize::MAX);
        assert!(close(w.sma(3).unwrap(), 4.0)); // (3+4+5)/3
        assert!(close(w.sma(5).unwrap(), 3.0));
        assert_eq!(w.sma(6), None);
        assert_eq!(w.sma(0), None);
        // A shorter window sees only its own values.
        assert_eq!(s.last(2).sma(3), None);
        assert!(close(s.last(2).sma(2).unwrap(), 4.5));
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
        // 2,4,4,4,5,5,7,9: mean 5, variance 4; on the grid and off it (a 0.3 tick).
        let v = [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0];
        assert_eq!(series(&v).last(8).stdev(8), Some(2.0));
        assert!(close(Series::of(0.3, v).last(8).stdev(8).unwrap(), 2.0));
        assert_eq!(series(&v).last(8).stdev(9), None);
    }

    /// The window's figures against a direct pass over it, as the engine's series is edited:
    /// bars appended, replaced, inserted out of order, the oldest drained, the newest cut.
    #[test]
    fn windows_equal_a_direct_pass_as_the_series_is_edited() {
        let mean = |v: &[f64]| v.iter().fold(0.0, |a, v| a + v) / v.len() as f64;
        let sd = |v: &[f64]| {
            let m = mean(v);
            (v.iter().fold(0.0, |a, x| a + (x - m) * (x - m)) / v.len() as f64).sqrt()
        };
        let check = |s: &Series, copy: &[f64]| {
            for period in 1..=copy.len().min(300) {
                let tail = &copy[copy.len() - period..];
                let w = s.last(usize::MAX);
                // Quarter ticks: every sum is an exact float, so the very same mean.
                assert_eq!(w.sma(period), Some(mean(tail)), "{period}");
                let (a, b) = (w.stdev(period).unwrap(), sd(tail));
                assert!((a - b).abs() <= 1e-9 * b.max(1.0), "{period}: {a} vs {b}");
                assert_eq!(s.last(period).values(), tail);
            }
        };
        // Quarter-tick prices around 5,000 and 20,000 (ES, NQ).
        for base in [5000.0, 20000.0] {
            let mut copy: Vec<f64> = (0..1200u32)
                .map(|i| base + f64::from((i * 7919) % 401) * 0.25)
                .collect();
            let mut s = Series::of(0.25, copy.iter().copied());
            check(&s, &copy);
            s.drain_front(700);
            copy.drain(..700);
            check(&s, &copy);
            s.set(10, base + 1.5);
            copy[10] = base + 1.5;
            s.insert(20, base - 3.75);
            copy.insert(20, base - 3.75);
            check(&s, &copy);
            s.truncate(250);
            copy.truncate(250);
            s.push(base + 0.25);
            copy.push(base + 0.25);
            check(&s, &copy);
            s.clear();
            assert!(s.is_empty() && s.last(5).is_empty());
            assert_eq!(s.last(1).sma(1), None);
        }
    }

    #[test]
    fn a_tenth_tick_is_exact_in_ticks() {
        // RTY's 0.1 is no exact float: a flat window still has equal means and σ 0 (a float
        // sum would round the fast and slow means apart), and others stay within a rounding.
        let flat = Series::of(0.1, [2000.1; 300]);
        let w = flat.last(300);
        assert!((2..=300).all(|p| w.sma(p) == w.sma(1) && w.stdev(p) == Some(0.0)));
        let prices: Vec<f64> = (0..500u32)
            .map(|i| 2000.0 + f64::from(i % 53) * 0.1)
            .collect();
        let s = Series::of(0.1, prices.iter().copied());
        for period in [1, 2, 50, 277, 500] {
            let tail = &prices[prices.len() - period..];
            let direct = tail.iter().sum::<f64>() / period as f64;
            assert!((s.last(500).sma(period).unwrap() - direct).abs() < 1e-9);
        }
    }

    #[test]
    fn a_value_off_the_grid_or_not_finite_is_seen_only_by_the_windows_holding_it() {
        let mut s = Series::of(0.25, [1.0, f64::NAN, 3.0, 4.0]);
        assert!(!s.last(4).all_finite() && !s.last(3).all_finite());
        assert!(s.last(2).all_finite());
        assert_eq!(s.last(2).sma(2), Some(3.5));
        s.set(1, 2.0);
        assert!(s.last(4).all_finite());
        assert_eq!(s.last(4).sma(4), Some(2.5));
        // 2.1 is off a 0.25 grid: windows with it are read directly, others in ticks.
        s.set(1, 2.1);
        assert!(s.last(4).all_finite());
        assert!(close(s.last(4).sma(4).unwrap(), 2.525));
        assert!(close(s.last(3).stdev(3).unwrap(), sd3(2.1, 3.0, 4.0)));
        assert_eq!(s.last(2).sma(2), Some(3.5));
    }

    fn sd3(a: f64, b: f64, c: f64) -> f64 {
        let m = (a + b + c) / 3.0;
        (((a - m).powi(2) + (b - m).powi(2) + (c - m).powi(2)) / 3.0).sqrt()
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
