//! The session of one CME trade date (`GET /api/market-hours`): open, close, the daily halt,
//! holiday or early close, and whether the holiday data for that year is verified (rows from
//! CME's notices) or generated from the rules (`holiday_rules`). A date past the verified data
//! is answered from the rules with a blocker naming the fix, never silently.

use std::collections::BTreeSet;

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::America::Chicago;

use super::calendar::{Holiday, HolidayKind, trade_date_start};
use super::holiday_rules::cme_equity_holidays;

/// What kind of session a trade date has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionKind {
    /// 17:00 CT the evening before to 16:00 CT.
    Regular,
    /// Ends early (a holiday's early close or halt).
    EarlyClose,
    /// No session: a holiday closure.
    Holiday,
    /// No session: Saturday and Sunday are not trade dates.
    Weekend,
}

impl SessionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionKind::Regular => "REGULAR",
            SessionKind::EarlyClose => "EARLY_CLOSE",
            SessionKind::Holiday => "HOLIDAY",
            SessionKind::Weekend => "WEEKEND",
        }
    }
}

/// Where a date's holiday data comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoursSource {
    /// The `cme_holidays` rows for that year (from CME's notices).
    Verified,
    /// Generated from the rules: no verified row exists for that year.
    Rules,
}

impl HoursSource {
    pub fn as_str(self) -> &'static str {
        match self {
            HoursSource::Verified => "VERIFIED",
            HoursSource::Rules => "RULES",
        }
    }
}

/// A window of time, `[from, to)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

/// One trade date's session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarketHours {
    pub trade_date: NaiveDate,
    pub kind: SessionKind,
    /// The session, `None` when there is none.
    pub session: Option<Window>,
    /// The halt after the session until the next one opens (Mon–Thu 16:00–17:00 CT, or from an
    /// early close to 17:00 CT); `None` before a weekend or a closed day.
    pub halt: Option<Window>,
    pub holiday: Option<Holiday>,
    pub source: HoursSource,
}

/// The verified holiday rows and the years they cover.
#[derive(Debug, Clone, Default)]
pub struct VerifiedHolidays {
    rows: Vec<Holiday>,
    years: BTreeSet<i32>,
}

impl VerifiedHolidays {
    pub fn new(rows: Vec<Holiday>) -> Self {
        let years = rows.iter().map(|h| h.date.year()).collect();
        VerifiedHolidays { rows, years }
    }

    /// Whether `year` has verified rows.
    pub fn covers(&self, year: i32) -> bool {
        self.years.contains(&year)
    }

    /// The last verified year.
    pub fn last_year(&self) -> Option<i32> {
        self.years.last().copied()
    }

    /// The holiday of `date` and where it comes from: the verified rows for a verified year,
    /// else the rules.
    pub fn holiday(&self, date: NaiveDate) -> (Option<Holiday>, HoursSource) {
        if self.covers(date.year()) {
            let h = self.rows.iter().find(|h| h.date == date).cloned();
            (h, HoursSource::Verified)
        } else {
            let h = cme_equity_holidays(date.year())
                .into_iter()
                .find(|h| h.date == date);
            (h, HoursSource::Rules)
        }
    }
}

fn ct(date: NaiveDate, time: NaiveTime) -> DateTime<Utc> {
    let local = date.and_time(time);
    Chicago
        .from_local_datetime(&local)
        .earliest()
        .map_or_else(|| local.and_utc(), |t| t.with_timezone(&Utc))
}

fn hm(h: u32, m: u32) -> NaiveTime {
    NaiveTime::from_hms_opt(h, m, 0).unwrap_or(NaiveTime::MIN)
}

/// The session of trade date `date`.
pub fn market_hours(holidays: &VerifiedHolidays, date: NaiveDate) -> MarketHours {
    let (holiday, source) = holidays.holiday(date);
    let weekend = matches!(date.weekday(), Weekday::Sat | Weekday::Sun);
    let kind = match (&holiday, weekend) {
        (_, true) => SessionKind::Weekend,
        (Some(h), _) if h.kind == HolidayKind::Closed => SessionKind::Holiday,
        (Some(_), _) => SessionKind::EarlyClose,
        (None, _) => SessionKind::Regular,
    };
    let close_time = match holiday.as_ref().map(|h| h.kind) {
        Some(HolidayKind::EarlyClose(t)) => t,
        _ => hm(16, 0),
    };
    let session = matches!(kind, SessionKind::Regular | SessionKind::EarlyClose).then(|| Window {
        from: trade_date_start(date),
        to: ct(date, close_time),
    });
    // The next session opens at 17:00 CT today unless today is Friday or tomorrow is closed.
    let next = date + Duration::days(1);
    let next_closed = matches!(
        holidays.holiday(next).0.map(|h| h.kind),
        Some(HolidayKind::Closed)
    );
    let halt = session
        .filter(|_| date.weekday() != Weekday::Fri && !next_closed)
        .map(|s| Window {
            from: s.to,
            to: trade_date_start(next),
        });
    MarketHours {
        trade_date: date,
        kind,
        session,
        halt,
        holiday: if weekend { None } else { holiday },
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::calendar::HolidayCalendar;

    fn verified() -> VerifiedHolidays {
        let cal = HolidayCalendar::cme_equity_fixture();
        VerifiedHolidays::new(cal.holidays().into_iter().cloned().collect())
    }

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn a_regular_day_an_early_close_a_holiday_and_a_weekend() {
        let v = verified();
        let tue = market_hours(&v, d("2026-12-01"));
        assert_eq!(tue.kind, SessionKind::Regular);
        assert_eq!(tue.source, HoursSource::Verified);
        // Monday 17:00 CST → Tuesday 16:00 CST, halt to 17:00.
        assert_eq!(
            tue.session,
            Some(Window {
                from: at("2026-11-30T23:00:00Z"),
                to: at("2026-12-01T22:00:00Z")
            })
        );
        assert_eq!(
            tue.halt,
            Some(Window {
                from: at("2026-12-01T22:00:00Z"),
                to: at("2026-12-01T23:00:00Z")
            })
        );
        let eve = market_hours(&v, d("2026-12-24"));
        assert_eq!(eve.kind, SessionKind::EarlyClose);
        assert_eq!(eve.session.unwrap().to, at("2026-12-24T18:15:00Z"));
        // Christmas is closed, so no session opens at 17:00 on the 24th.
        assert_eq!(eve.halt, None);
        let xmas = market_hours(&v, d("2026-12-25"));
        assert_eq!((xmas.kind, xmas.session), (SessionKind::Holiday, None));
        assert_eq!(xmas.holiday.unwrap().name, "Christmas Day");
        let sat = market_hours(&v, d("2026-12-26"));
        assert_eq!((sat.kind, sat.session), (SessionKind::Weekend, None));
        // Friday: no halt, the weekend follows.
        assert_eq!(market_hours(&v, d("2026-12-04")).halt, None);
        // Summer: CDT.
        let july = market_hours(&v, d("2026-07-03"));
        assert_eq!(july.kind, SessionKind::EarlyClose);
        assert_eq!(july.session.unwrap().to, at("2026-07-03T17:00:00Z"));
    }

    #[test]
    fn years_past_the_verified_data_come_from_the_rules() {
        let v = verified();
        assert_eq!(v.last_year(), Some(2027));
        let xmas = market_hours(&v, d("2028-12-25"));
        assert_eq!(
            (xmas.kind, xmas.source),
            (SessionKind::Holiday, HoursSource::Rules)
        );
        let tg = market_hours(&v, d("2031-11-27"));
        assert_eq!(tg.kind, SessionKind::EarlyClose);
        assert_eq!(tg.holiday.unwrap().name, "Thanksgiving Day");
        // A verified year never falls back to the rules.
        assert_eq!(
            market_hours(&v, d("2027-12-24")).source,
            HoursSource::Verified
        );
    }
}
