//! OHLCV bars as the market-data providers deliver them; prices stay exact (`Decimal`).

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
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
}
