//! Futures contracts and the roll: which quarterly contract of a root is the front one on a
//! trade date, and how each vendor spells it.
//!
//! **The one roll convention** (used by the bar fetcher, the feed, the store and the API), the
//! same for every root: CME's equity-index roll date, 8 calendar days before the last trade day
//! (the Thursday of the week before expiry; a Wednesday when a holiday moved the expiry to the
//! Thursday, and for NKD, whose contracts end on a Thursday). From the trade date that *is* the
//! roll date (which opens at 17:00 CT the evening before) the next quarterly contract is the
//! front one.
//!
//! The last trade day follows the root's [`ExpiryRule`]. The US indexes' futures (all but NKD)
//! end on the third Friday of the contract month, moved to the business day before when the
//! cash index is not published that Friday (a US stock-market holiday by
//! `holiday_rules::index_holiday`: Good Friday 2008, Juneteenth 2026 and 2027, …), as CME's
//! equity-index rule sets the final settlement on the first preceding business day. NKD ends on
//! the business day before the second Friday (CME's Nikkei/USD spec; Osaka's Special Quotation
//! on that Friday's Tokyo open settles it): the Thursday, or earlier when it is no business day.
//! Business days here skip weekends and the US closures above; Japan's national holidays never
//! fall on the 7th–14th of March, June, September or December (the spring and autumn equinoxes
//! are the 20th–23rd, Respect for the Aged Day the 15th–21st), so the Osaka side adds no other
//! day. Vendors' own continuous symbols
//! (Databento `ES.c.0` rolls on its calendar rule, `ES.v.0` on volume) are not used: every vendor
//! is asked for the contract this module resolves, so two vendors can never disagree about the
//! roll and each bar names the contract it came from.
//!
//! Prices are unadjusted. A roll does not make a fake jump in indicators because the engine's
//! window holds one contract's bars (`domain::engine`: a bar of another contract starts a new
//! window) and every driver hands it the new contract's own history first (it trades for months
//! before it becomes the front one): the feed keeps one window per contract and runners read the
//! new contract's at the roll; a backtest feeds the new contract's bars from before the roll.

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc, Weekday};

use super::calendar::{trade_date, trade_date_start};
use super::holiday_rules::index_holiday;
use super::instruments::{ExpiryRule, Symbol};

/// A quarterly expiry month of the equity-index futures (CME month codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ContractMonth {
    /// March.
    H,
    /// June.
    M,
    /// September.
    U,
    /// December.
    Z,
}

impl ContractMonth {
    pub const ALL: [ContractMonth; 4] = [
        ContractMonth::H,
        ContractMonth::M,
        ContractMonth::U,
        ContractMonth::Z,
    ];

    pub const fn number(self) -> u32 {
        match self {
            ContractMonth::H => 3,
            ContractMonth::M => 6,
            ContractMonth::U => 9,
            ContractMonth::Z => 12,
        }
    }

    pub const fn code(self) -> char {
        match self {
            ContractMonth::H => 'H',
            ContractMonth::M => 'M',
            ContractMonth::U => 'U',
            ContractMonth::Z => 'Z',
        }
    }

    fn from_code(c: char) -> Option<ContractMonth> {
        Self::ALL.into_iter().find(|m| m.code() == c)
    }
}

/// One listed contract: a root and its expiry (year and quarterly month).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Contract {
    pub root: Symbol,
    pub year: i32,
    pub month: ContractMonth,
}

/// The vendors that name contracts, each with its own spelling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vendor {
    /// Databento `GLBX.MDP3` raw symbol (`stype_in=raw_symbol`): `ESZ6`.
    Databento,
    /// Massive (ex-Polygon) futures ticker (`/futures/v1/aggs/{ticker}`): `ESZ6`.
    Massive,
    /// Ironbeam `exchSym`: `XCME:ES.Z26`.
    Ironbeam,
    /// Tradovate contract name: `ESZ6`.
    Tradovate,
}

impl Contract {
    pub const fn new(root: Symbol, year: i32, month: ContractMonth) -> Contract {
        Contract { root, year, month }
    }

    /// The canonical code, unambiguous within the century: root, month code, two-digit year
    /// (`ESZ26`). Stored in `market_bars.contract` and shown by the API.
    pub fn code(&self) -> String {
        format!(
            "{}{}{:02}",
            self.root.as_str(),
            self.month.code(),
            self.year.rem_euclid(100)
        )
    }

    /// Parses a canonical code (`ESZ26`, case-insensitive); years are 2000–2099.
    pub fn parse(raw: &str) -> Option<Contract> {
        let raw = raw.trim().to_ascii_uppercase();
        if raw.len() < 4 || !raw.is_ascii() {
            return None;
        }
        let (head, yy) = raw.split_at(raw.len() - 2);
        let (root, month) = head.split_at(head.len() - 1);
        if !yy.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some(Contract {
            root: Symbol::parse(root)?,
            year: 2000 + yy.parse::<i32>().ok()?,
            month: ContractMonth::from_code(month.chars().next()?)?,
        })
    }

    /// The contract as `vendor` spells it. The one-digit year of the exchange symbols is
    /// unambiguous for listed contracts (the equity-index cycle lists about two years ahead).
    pub fn spelled_for(&self, vendor: Vendor) -> String {
        let (root, m) = (self.root.as_str(), self.month.code());
        match vendor {
            Vendor::Databento | Vendor::Massive | Vendor::Tradovate => {
                format!("{root}{m}{}", self.year.rem_euclid(10))
            }
            Vendor::Ironbeam => {
                // The exchange's MIC: CBOT lists the Dow futures, CME the others.
                let exchange = match self.root.spec().exchange {
                    "CBOT" => "XCBT",
                    _ => "XCME",
                };
                format!("{exchange}:{root}.{m}{:02}", self.year.rem_euclid(100))
            }
        }
    }

    /// Last trade day, by the root's [`ExpiryRule`]: the third Friday of the contract month
    /// (trading ends 08:30 CT), or the business day before it when the stock market is closed
    /// that Friday (the index has no opening quotation: a holiday of `holiday_rules`, weekends
    /// skipped too); for NKD the business day before the second Friday.
    pub fn last_trade_date(&self) -> NaiveDate {
        let friday = |n| {
            NaiveDate::from_weekday_of_month_opt(self.year, self.month.number(), Weekday::Fri, n)
                .unwrap_or(NaiveDate::MIN)
        };
        match self.root.expiry_rule() {
            ExpiryRule::ThirdFriday => business_day_on_or_before(friday(3), closed),
            ExpiryRule::BusinessDayBeforeSecondFriday => match friday(2).pred_opt() {
                Some(before) => business_day_on_or_before(before, closed),
                None => NaiveDate::MIN,
            },
        }
    }

    /// The roll date: 8 calendar days before the last trade day (a Thursday for a Friday
    /// expiry; a Wednesday when the expiry is a Thursday, NKD's or a holiday-moved one). From
    /// this trade date on, [`Contract::next`] is the front contract.
    pub fn roll_date(&self) -> NaiveDate {
        self.last_trade_date() - Duration::days(8)
    }

    /// The instant the roll happens: the start of the roll date's trade date (17:00 CT the
    /// evening before).
    pub fn rolls_at(&self) -> DateTime<Utc> {
        trade_date_start(self.roll_date())
    }

    /// The next quarterly contract of the same root.
    pub fn next(&self) -> Contract {
        match self.month {
            ContractMonth::H => Contract::new(self.root, self.year, ContractMonth::M),
            ContractMonth::M => Contract::new(self.root, self.year, ContractMonth::U),
            ContractMonth::U => Contract::new(self.root, self.year, ContractMonth::Z),
            ContractMonth::Z => Contract::new(self.root, self.year + 1, ContractMonth::H),
        }
    }

    /// The front contract of `root` on trade date `date`: the first quarterly contract whose
    /// roll date is after `date`.
    pub fn front(root: Symbol, date: NaiveDate) -> Contract {
        let month = ContractMonth::ALL
            .into_iter()
            .find(|m| m.number() >= date.month())
            .unwrap_or(ContractMonth::Z);
        let mut c = Contract::new(root, date.year(), month);
        while date >= c.roll_date() {
            c = c.next();
        }
        c
    }

    /// The front contract of `root` at instant `at` (by its CME trade date).
    pub fn front_at(root: Symbol, at: DateTime<Utc>) -> Contract {
        Contract::front(root, trade_date(at))
    }
}

/// Whether `day` is no business day for the expiry rules: a weekend or a US stock-market
/// closure (`holiday_rules::index_holiday`).
fn closed(day: NaiveDate) -> bool {
    index_holiday(day) || matches!(day.weekday(), Weekday::Sat | Weekday::Sun)
}

/// `day`, or the nearest day before it that `is_closed` does not refuse.
fn business_day_on_or_before(
    mut day: NaiveDate,
    is_closed: impl Fn(NaiveDate) -> bool,
) -> NaiveDate {
    while is_closed(day) {
        match day.pred_opt() {
            Some(before) => day = before,
            None => break,
        }
    }
    day
}

impl std::fmt::Display for Contract {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.code())
    }
}

/// A piece of a time range served by one contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    pub contract: Contract,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

/// `[from, to)` cut at each roll into the front contract of each piece, oldest first: the
/// front-month series of `root` is these contracts' bars, each over its own piece. Empty when
/// `from >= to`.
pub fn front_segments(root: Symbol, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<Segment> {
    let mut out = Vec::new();
    let mut start = from;
    let mut contract = Contract::front_at(root, from);
    while start < to {
        let end = contract.rolls_at().min(to);
        out.push(Segment {
            contract,
            from: start,
            to: end,
        });
        start = end;
        contract = contract.next();
    }
    out
}

#[cfg(test)]
#[path = "contracts_tests.rs"]
mod tests;
