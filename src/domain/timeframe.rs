//! Bar timeframes: what a bot trades on, what the scheduler ticks on and what providers serve.

use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// Bar timeframes the clock ticks on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Timeframe {
    #[serde(rename = "1s")]
    S1,
    #[serde(rename = "1m")]
    M1,
    #[serde(rename = "5m")]
    M5,
    #[serde(rename = "15m")]
    M15,
    #[serde(rename = "1h")]
    H1,
    #[serde(rename = "1d")]
    D1,
}

impl Timeframe {
    pub const ALL: [Timeframe; 6] = [
        Timeframe::S1,
        Timeframe::M1,
        Timeframe::M5,
        Timeframe::M15,
        Timeframe::H1,
        Timeframe::D1,
    ];

    pub const fn seconds(self) -> u64 {
        match self {
            Timeframe::S1 => 1,
            Timeframe::M1 => 60,
            Timeframe::M5 => 300,
            Timeframe::M15 => 900,
            Timeframe::H1 => 3600,
            Timeframe::D1 => 86_400,
        }
    }

    /// The bar length as a span of time: the one conversion for bar arithmetic on timestamps
    /// (a bar's end, a lookback window).
    pub fn duration(self) -> chrono::Duration {
        // At most 86,400 s: the cast cannot wrap.
        chrono::Duration::seconds(self.seconds() as i64)
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Timeframe::S1 => "1s",
            Timeframe::M1 => "1m",
            Timeframe::M5 => "5m",
            Timeframe::M15 => "15m",
            Timeframe::H1 => "1h",
            Timeframe::D1 => "1d",
        }
    }

    /// The first bar boundary strictly after `now` (boundaries are multiples of the bar length
    /// since the Unix epoch, UTC: a 1d bar starts at 00:00 UTC).
    pub fn next_boundary(self, now: SystemTime) -> SystemTime {
        let len_ms = u128::from(self.seconds()) * 1000;
        let now_ms = now
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis();
        let next = (now_ms / len_ms + 1) * len_ms;
        UNIX_EPOCH + Duration::from_millis(u64::try_from(next).unwrap_or(u64::MAX))
    }
}

impl FromStr for Timeframe {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Timeframe::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| format!("unknown timeframe `{s}` (1s, 1m, 5m, 15m, 1h, 1d)"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duration_is_the_bar_length() {
        let secs: Vec<i64> = Timeframe::ALL
            .iter()
            .map(|t| t.duration().num_seconds())
            .collect();
        assert_eq!(secs, [1, 60, 300, 900, 3_600, 86_400]);
    }
}
