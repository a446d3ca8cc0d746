//! Order side, and the direction of a position it opens.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Side {
    Buy,
    Sell,
}

impl Side {
    pub const ALL: [Side; 2] = [Side::Buy, Side::Sell];

    pub const fn as_str(self) -> &'static str {
        match self {
            Side::Buy => "BUY",
            Side::Sell => "SELL",
        }
    }

    /// +1 for a buy, -1 for a sell.
    pub fn sign(self) -> i64 {
        match self {
            Side::Buy => 1,
            Side::Sell => -1,
        }
    }
}

/// The direction of a round trip (a trade): the sign of the position it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TradeSide {
    Long,
    Short,
}

impl TradeSide {
    pub const ALL: [TradeSide; 2] = [TradeSide::Long, TradeSide::Short];

    pub const fn as_str(self) -> &'static str {
        match self {
            TradeSide::Long => "LONG",
            TradeSide::Short => "SHORT",
        }
    }

    /// LONG for a positive signed quantity, SHORT otherwise.
    pub const fn of(signed_quantity: i64) -> Self {
        if signed_quantity > 0 {
            TradeSide::Long
        } else {
            TradeSide::Short
        }
    }
}
