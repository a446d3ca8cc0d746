//! Contract specifications of the futures the bots trade (CME Group equity index futures on
//! CME Globex). `Symbol::ALL` is the one list of roots: everything that enumerates roots (the
//! API's schema and messages, the web app's choices, the sandbox's vendors) derives from it.
//!
//! Sources of each spec (tick size, tick value, exchange, quarterly months, last trade day,
//! hours), CME Group's contract-specification pages: ES, NQ, MES, MNQ, RTY, YM as before
//! (reference/providers.md §11 for the hours); M2K `…/micro-e-mini-russell-2000_contract_specifications.html`
//! ($5 × Russell 2000, 0.10 = $0.50, five quarters listed, ends 09:30 ET on the 3rd Friday);
//! MYM CME Group's Micro E-mini Dow product page (`activetrader/Products/Microemini?s=MYM`:
//! $0.50 × DJIA, 1.00 point = $0.50, March cycle, 3rd Friday; CBOT like YM: `MYM…:XCBT` in
//! bookmap.com/symbol-table's vendor spellings); EMD
//! `…/e-mini-sandp-midcap-400_contract_specifications.html` ($100 × S&P MidCap 400,
//! 0.10 = $10.00, five quarters, ends 09:30 ET on the 3rd Friday); NKD
//! `…/international-index/nikkei-225-dollar_contract_specifications.html` ($5 × Nikkei Stock
//! Average, 5.00 points = $25.00, March cycle, Globex trading ends on the business day before
//! the 2nd Friday: [`ExpiryRule::BusinessDayBeforeSecondFriday`]). All trade on CME Globex
//! Sunday–Friday 17:00–16:00 CT with the daily 16:00–17:00 CT halt (the M2K, EMD and YM pages;
//! MYM's and CME's Nikkei (JPY) page give the same window; NKD's archived page, from before the
//! 2021 schedule change, 17:00–16:15 CT), so they share the one session calendar.

use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A tradable root symbol with its contract specification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Symbol {
    Es,
    Nq,
    Mes,
    Mnq,
    Rty,
    Ym,
    /// Micro E-mini Russell 2000.
    M2k,
    /// Micro E-mini Dow.
    Mym,
    /// E-mini S&P MidCap 400.
    Emd,
    /// Nikkei/USD: the dollar-denominated Nikkei 225 future.
    Nkd,
}

/// When a root's quarterly contract stops trading (CME's "termination of trading").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpiryRule {
    /// The third Friday of the contract month (trading ends at the open, 08:30 CT, where the
    /// US index's Special Opening Quotation settles it), or the business day before when the
    /// US stock market is closed that Friday.
    ThirdFriday,
    /// The business day before the second Friday of the contract month: Osaka's Special
    /// Quotation of the Nikkei 225, which settles NKD, is taken on the second Friday's open
    /// (Tokyo), before Chicago's Friday begins.
    BusinessDayBeforeSecondFriday,
}

/// Price granularity and value of one contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub struct ContractSpec {
    pub symbol: Symbol,
    pub description: &'static str,
    /// CME exchange code.
    pub exchange: &'static str,
    /// Smallest price increment, in index points.
    #[schema(value_type = String)]
    pub tick_size: Decimal,
    /// USD value of one tick for one contract.
    #[schema(value_type = String)]
    pub tick_value: Decimal,
    /// The continuous front-month symbol data vendors use (Databento `ES.c.0`).
    pub continuous_symbol: &'static str,
    /// Trading hours follow the CME Globex equity calendar (see the session calendar).
    pub session_calendar: &'static str,
}

impl Symbol {
    pub const ALL: &'static [Symbol] = &[
        Symbol::Es,
        Symbol::Nq,
        Symbol::Mes,
        Symbol::Mnq,
        Symbol::Rty,
        Symbol::Ym,
        Symbol::M2k,
        Symbol::Mym,
        Symbol::Emd,
        Symbol::Nkd,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Symbol::Es => "ES",
            Symbol::Nq => "NQ",
            Symbol::Mes => "MES",
            Symbol::Mnq => "MNQ",
            Symbol::Rty => "RTY",
            Symbol::Ym => "YM",
            Symbol::M2k => "M2K",
            Symbol::Mym => "MYM",
            Symbol::Emd => "EMD",
            Symbol::Nkd => "NKD",
        }
    }

    /// The roots as a list for messages: `ES, NQ, …`.
    pub fn names() -> String {
        Symbol::ALL
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The rule that sets the last trade day of this root's contracts.
    pub const fn expiry_rule(self) -> ExpiryRule {
        match self {
            Symbol::Nkd => ExpiryRule::BusinessDayBeforeSecondFriday,
            Symbol::Es
            | Symbol::Nq
            | Symbol::Mes
            | Symbol::Mnq
            | Symbol::Rty
            | Symbol::Ym
            | Symbol::M2k
            | Symbol::Mym
            | Symbol::Emd => ExpiryRule::ThirdFriday,
        }
    }

    pub fn parse(raw: &str) -> Option<Symbol> {
        Symbol::ALL
            .iter()
            .copied()
            .find(|s| s.as_str().eq_ignore_ascii_case(raw.trim()))
    }

    /// CME's published contract specifications.
    pub fn spec(self) -> ContractSpec {
        let (description, tick_size, tick_value, continuous_symbol) = match self {
            Symbol::Es => ("E-mini S&P 500", dec!(0.25), dec!(12.50), "ES.c.0"),
            Symbol::Nq => ("E-mini Nasdaq-100", dec!(0.25), dec!(5.00), "NQ.c.0"),
            Symbol::Mes => ("Micro E-mini S&P 500", dec!(0.25), dec!(1.25), "MES.c.0"),
            Symbol::Mnq => ("Micro E-mini Nasdaq-100", dec!(0.25), dec!(0.50), "MNQ.c.0"),
            Symbol::Rty => ("E-mini Russell 2000", dec!(0.10), dec!(5.00), "RTY.c.0"),
            Symbol::Ym => ("E-mini Dow ($5)", dec!(1), dec!(5.00), "YM.c.0"),
            Symbol::M2k => (
                "Micro E-mini Russell 2000",
                dec!(0.10),
                dec!(0.50),
                "M2K.c.0",
            ),
            Symbol::Mym => ("Micro E-mini Dow", dec!(1), dec!(0.50), "MYM.c.0"),
            Symbol::Emd => ("E-mini S&P MidCap 400", dec!(0.10), dec!(10.00), "EMD.c.0"),
            Symbol::Nkd => (
                "Nikkei/USD (Nikkei 225, $5)",
                dec!(5),
                dec!(25.00),
                "NKD.c.0",
            ),
        };
        ContractSpec {
            symbol: self,
            description,
            // The Dow futures are CBOT's; the others CME's.
            exchange: if matches!(self, Symbol::Ym | Symbol::Mym) {
                "CBOT"
            } else {
                "CME"
            },
            tick_size,
            tick_value,
            continuous_symbol,
            session_calendar: "CME_GLOBEX_EQUITY",
        }
    }
}

impl std::fmt::Display for Symbol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Symbol {
    /// USD value of a one-point move for one contract: the spec's tick value over its tick
    /// size, as a constant (a test keeps the two equal), so marking a position to the price on
    /// every bar divides nothing.
    pub const fn point_value(self) -> Decimal {
        match self {
            Symbol::Es | Symbol::Rty => Decimal::from_parts(50, 0, 0, false, 0),
            Symbol::Nq => Decimal::from_parts(20, 0, 0, false, 0),
            Symbol::Mes => Decimal::from_parts(5, 0, 0, false, 0),
            // 5.00 / 1: the division keeps scale 2, and the figure reaches stored PnL text.
            Symbol::Ym => Decimal::from_parts(500, 0, 0, false, 2),
            Symbol::Mnq => Decimal::from_parts(2, 0, 0, false, 0),
            Symbol::M2k => Decimal::from_parts(5, 0, 0, false, 0),
            // 0.50 / 1 and 25.00 / 5 keep scale 2, like YM's.
            Symbol::Mym => Decimal::from_parts(50, 0, 0, false, 2),
            Symbol::Nkd => Decimal::from_parts(500, 0, 0, false, 2),
            Symbol::Emd => Decimal::from_parts(100, 0, 0, false, 0),
        }
    }
}

impl ContractSpec {
    /// USD value of a one-point move for one contract.
    pub fn point_value(&self) -> Decimal {
        self.symbol.point_value()
    }

    /// Whether `price` lies on the tick grid.
    pub fn is_on_tick(&self, price: Decimal) -> bool {
        (price % self.tick_size).is_zero()
    }

    /// `price` on the tick grid: the nearest tick (a midpoint goes to the even tick), with the
    /// tick's scale. `None` for a negative price (these contracts never trade below zero) or
    /// one too large to divide by the tick. Vendor prices pass through here once, where they
    /// are decoded; everything after holds on-grid prices.
    pub fn snap(&self, price: Decimal) -> Option<Decimal> {
        // No index future trades near a billion: above that a vendor's price is garbled, and
        // position and PnL arithmetic on it could overflow.
        if price < Decimal::ZERO || price > Decimal::from(1_000_000_000) {
            return None;
        }
        price
            .checked_div(self.tick_size)?
            .round()
            .checked_mul(self.tick_size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_garbled_price_does_not_snap() {
        let es = Symbol::Es.spec();
        assert_eq!(
            es.snap(Decimal::new(501_213, 2)),
            Some(Decimal::new(501_225, 2))
        );
        assert_eq!(es.snap(Decimal::new(-1, 0)), None);
        assert_eq!(es.snap(Decimal::from(5_000_000_000_i64)), None);
        assert_eq!(es.snap(Decimal::MAX), None);
    }

    #[test]
    fn point_values_are_tick_value_over_tick_size() {
        for &s in Symbol::ALL {
            let spec = s.spec();
            assert_eq!(spec.point_value(), spec.tick_value / spec.tick_size, "{s}");
            // The same representation too (it reaches stored PnL figures).
            assert_eq!(
                spec.point_value().to_string(),
                (spec.tick_value / spec.tick_size).to_string()
            );
        }
    }

    #[test]
    fn point_values_match_cme() {
        assert_eq!(Symbol::Es.spec().point_value(), dec!(50));
        assert_eq!(Symbol::Nq.spec().point_value(), dec!(20));
        assert_eq!(Symbol::Mes.spec().point_value(), dec!(5));
        assert_eq!(Symbol::Mnq.spec().point_value(), dec!(2));
        assert_eq!(Symbol::Rty.spec().point_value(), dec!(50));
        assert_eq!(Symbol::Ym.spec().point_value(), dec!(5));
        assert_eq!(Symbol::M2k.spec().point_value(), dec!(5));
        assert_eq!(Symbol::Mym.spec().point_value(), dec!(0.5));
        assert_eq!(Symbol::Emd.spec().point_value(), dec!(100));
        assert_eq!(Symbol::Nkd.spec().point_value(), dec!(5));
    }

    #[test]
    fn the_added_roots_carry_cmes_specs() {
        // (root, exchange, tick size, tick value): CME Group's contract specifications.
        for (s, exchange, tick, value) in [
            (Symbol::M2k, "CME", dec!(0.10), dec!(0.50)),
            (Symbol::Mym, "CBOT", dec!(1), dec!(0.50)),
            (Symbol::Emd, "CME", dec!(0.10), dec!(10.00)),
            (Symbol::Nkd, "CME", dec!(5), dec!(25.00)),
            (Symbol::Ym, "CBOT", dec!(1), dec!(5.00)),
            (Symbol::Es, "CME", dec!(0.25), dec!(12.50)),
        ] {
            let spec = s.spec();
            assert_eq!(
                (spec.exchange, spec.tick_size, spec.tick_value),
                (exchange, tick, value),
                "{s}"
            );
            assert_eq!(spec.continuous_symbol, format!("{s}.c.0"));
        }
        assert_eq!(
            Symbol::Nkd.expiry_rule(),
            ExpiryRule::BusinessDayBeforeSecondFriday
        );
        assert!(
            Symbol::ALL
                .iter()
                .filter(|s| **s != Symbol::Nkd)
                .all(|s| s.expiry_rule() == ExpiryRule::ThirdFriday)
        );
        assert_eq!(Symbol::ALL.len(), 10);
        assert_eq!(
            Symbol::names(),
            "ES, NQ, MES, MNQ, RTY, YM, M2K, MYM, EMD, NKD"
        );
    }

    #[test]
    fn parses_case_insensitively_and_refuses_unknowns() {
        assert_eq!(Symbol::parse("es"), Some(Symbol::Es));
        assert_eq!(Symbol::parse(" MNQ "), Some(Symbol::Mnq));
        assert_eq!(Symbol::parse("CL"), None);
        assert_eq!(Symbol::parse("m2k"), Some(Symbol::M2k));
        assert_eq!(Symbol::parse("NKD"), Some(Symbol::Nkd));
        assert_eq!(serde_json::to_string(&Symbol::M2k).unwrap(), "\"M2K\"");
        assert_eq!(
            serde_json::from_str::<Symbol>("\"MES\"").unwrap(),
            Symbol::Mes
        );
    }

    #[test]
    fn tick_grid() {
        let es = Symbol::Es.spec();
        assert!(es.is_on_tick(dec!(5012.75)));
        assert!(!es.is_on_tick(dec!(5012.10)));
    }

    #[test]
    fn snap_rounds_to_the_nearest_tick_and_refuses_negatives() {
        let es = Symbol::Es.spec();
        // DBN fixed point (scale 9) and a float's decimal text both land on the grid.
        assert_eq!(
            es.snap(Decimal::new(5_012_250_000_000, 9)),
            Some(dec!(5012.25))
        );
        assert_eq!(es.snap(dec!(5030.2500001)), Some(dec!(5030.25)));
        assert_eq!(es.snap(dec!(5030.37)), Some(dec!(5030.25)));
        assert_eq!(es.snap(dec!(5030.38)), Some(dec!(5030.50)));
        // Midpoints go to the even tick.
        assert_eq!(es.snap(dec!(5030.125)), Some(dec!(5030.00)));
        assert_eq!(es.snap(dec!(5030.375)), Some(dec!(5030.50)));
        // The tick's scale, whatever the input's.
        assert_eq!(
            es.snap(dec!(5012)).map(|p| p.to_string()),
            Some("5012.00".into())
        );
        let rty = Symbol::Rty.spec();
        assert_eq!(rty.snap(dec!(2310.04)), Some(dec!(2310.0)));
        assert_eq!(rty.snap(dec!(2310.06)), Some(dec!(2310.1)));
        assert_eq!(Symbol::Ym.spec().snap(dec!(44012.6)), Some(dec!(44013)));
        // NKD moves in 5-point ticks.
        let nkd = Symbol::Nkd.spec();
        assert_eq!(nkd.snap(dec!(50012.4)), Some(dec!(50010)));
        assert_eq!(nkd.snap(dec!(50012.6)), Some(dec!(50015)));
        assert!(nkd.is_on_tick(dec!(50015)) && !nkd.is_on_tick(dec!(50012)));
        assert_eq!(es.snap(Decimal::ZERO), Some(dec!(0.00)));
        assert_eq!(es.snap(dec!(-0.25)), None);
        assert_eq!(es.snap(Decimal::MAX), None);
        assert!(Symbol::ALL.iter().all(|s| {
            let spec = s.spec();
            spec.snap(dec!(1234.5678))
                .is_some_and(|p| spec.is_on_tick(p))
        }));
    }
}
