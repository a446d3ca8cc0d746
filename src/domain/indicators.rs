//! Technical indicators over the most recent values of a series (oldest first). Each returns
//! `None` when the series is too short: an indicator is never guessed.

use super::bars::Bar;
use rust_decimal::Decimal;

/// Simple moving average of the last `period` values.
pub fn sma(values: &[f64], period: usize) -> Option<f64> {
    if period == 0 || values.len() < period {
        return None;
    }
    let window = &values[values.len() - period..];
    Some(window.iter().sum::<f64>() / period as f64)
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
    let mean = sma(values, period)?;
    let window = &values[values.len() - period..];
    let var = window.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / period as f64;
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
