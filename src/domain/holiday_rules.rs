//! CME Globex equity-index holiday rules, so the calendar does not end with its table: the
//! `cme_holidays` rows (from CME's notices) are the verified data; years past them are
//! generated from these rules and flagged as unverified until someone checks CME's notice.
//!
//! The rules (reference/providers.md §11, the same ones the 2026–2027 seed follows):
//! - closed: New Year's Day (Sunday → Monday), Good Friday (CME sometimes opens an abbreviated
//!   session; closed fails safe), Christmas (Saturday → Friday, Sunday → Monday);
//! - 12:00 CT early halt: MLK Day, Presidents' Day, Memorial Day, Juneteenth, Independence Day
//!   (Saturday → Friday, Sunday → Monday), Labor Day, Thanksgiving (Juneteenth from 2022);
//! - 12:15 CT early close: the day after Thanksgiving, Christmas Eve (on a weekday that is not
//!   the observed Christmas).
//!
//! The closed days and the 12:00 CT halts are the US stock market's holidays (NYSE closed, so
//! no S&P 500 / Nasdaq-100 opening quotation); the 12:15 CT closes are its half days (the
//! index is published). [`index_holiday`] tells them apart for the contracts' expiry.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use chrono::{Datelike, Duration, NaiveDate, NaiveTime, Weekday};

use super::calendar::{Holiday, HolidayKind};

fn nth(year: i32, month: u32, weekday: Weekday, n: u8) -> Option<NaiveDate> {
    NaiveDate::from_weekday_of_month_opt(year, month, weekday, n)
}

fn last(year: i32, month: u32, weekday: Weekday) -> Option<NaiveDate> {
    nth(year, month, weekday, 5).or_else(|| nth(year, month, weekday, 4))
}

/// Western Easter Sunday (anonymous Gregorian algorithm).
pub fn easter(year: i32) -> Option<NaiveDate> {
    let a = year % 19;
    let b = year / 100;
    let c = year % 100;
    let d = b / 4;
    let e = b % 4;
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15) % 30;
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k) % 7;
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    NaiveDate::from_ymd_opt(year, u32::try_from(month).ok()?, u32::try_from(day).ok()?)
}

/// A fixed-date holiday moved off the weekend (Saturday → Friday, Sunday → Monday).
fn observed(date: NaiveDate) -> NaiveDate {
    match date.weekday() {
        Weekday::Sat => date - Duration::days(1),
        Weekday::Sun => date + Duration::days(1),
        _ => date,
    }
}

fn t(h: u32, m: u32) -> NaiveTime {
    NaiveTime::from_hms_opt(h, m, 0).unwrap_or(NaiveTime::MIN)
}

/// The rule-generated holidays of `year`, by trade date, oldest first.
pub fn cme_equity_holidays(year: i32) -> Vec<Holiday> {
    rules(year).into_iter().map(|(h, _)| h).collect()
}

/// Whether `date` is a US stock-market holiday by these rules (the cash index the
/// equity-index futures settle on is not published that day): a CME full closure or 12:00 CT
/// halt, not a 12:15 CT half day. Weekends are not holidays here.
pub fn index_holiday(date: NaiveDate) -> bool {
    index_closed_dates(date.year()).contains(&date)
}

/// The index-closed dates of `year`, generated once per year: the front contract (which asks
/// this for each expiry it considers) is resolved at every bar read of every runner.
fn index_closed_dates(year: i32) -> Arc<[NaiveDate]> {
    static YEARS: OnceLock<Mutex<HashMap<i32, Arc<[NaiveDate]>>>> = OnceLock::new();
    let mut years = YEARS
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    years
        .entry(year)
        .or_insert_with(|| {
            rules(year)
                .into_iter()
                .filter(|(_, index_closed)| *index_closed)
                .map(|(h, _)| h.date)
                .collect()
        })
        .clone()
}

/// The holidays of `year`, each with whether the stock market is closed that day.
fn rules(year: i32) -> Vec<(Holiday, bool)> {
    let noon = HolidayKind::EarlyClose(t(12, 0));
    let quarter_past = HolidayKind::EarlyClose(t(12, 15));
    let mut out: Vec<(Option<NaiveDate>, String, HolidayKind)> = Vec::new();
    let fixed = |m: u32, d: u32| NaiveDate::from_ymd_opt(year, m, d);
    let name = |base: &str, date: Option<NaiveDate>, actual: Option<NaiveDate>| {
        if date == actual {
            base.to_owned()
        } else {
            format!("{base} (observed)")
        }
    };

    // New Year's Day on a Saturday has no weekday holiday; on a Sunday, Monday is closed.
    if let Some(ny) = fixed(1, 1).filter(|d| d.weekday() != Weekday::Sat) {
        let day = observed(ny);
        out.push((
            Some(day),
            name("New Year's Day", Some(day), Some(ny)),
            HolidayKind::Closed,
        ));
    }
    out.push((
        nth(year, 1, Weekday::Mon, 3),
        "Martin Luther King Jr. Day".into(),
        noon,
    ));
    out.push((
        nth(year, 2, Weekday::Mon, 3),
        "Presidents' Day".into(),
        noon,
    ));
    out.push((
        easter(year).map(|e| e - Duration::days(2)),
        "Good Friday".into(),
        HolidayKind::Closed,
    ));
    out.push((last(year, 5, Weekday::Mon), "Memorial Day".into(), noon));
    // A US market holiday since 2022.
    let june19 = fixed(6, 19).filter(|_| year >= 2022);
    let j = june19.map(observed);
    out.push((j, name("Juneteenth", j, june19), noon));
    let july4 = fixed(7, 4);
    let i = july4.map(observed);
    out.push((i, name("Independence Day", i, july4), noon));
    out.push((nth(year, 9, Weekday::Mon, 1), "Labor Day".into(), noon));
    let thanksgiving = nth(year, 11, Weekday::Thu, 4);
    out.push((thanksgiving, "Thanksgiving Day".into(), noon));
    out.push((
        thanksgiving.map(|d| d + Duration::days(1)),
        "Day after Thanksgiving".into(),
        quarter_past,
    ));
    let christmas = fixed(12, 25);
    let observed_christmas = christmas.map(observed);
    if let Some(eve) = fixed(12, 24).filter(|d| {
        !matches!(d.weekday(), Weekday::Sat | Weekday::Sun) && Some(*d) != observed_christmas
    }) {
        out.push((Some(eve), "Christmas Eve".into(), quarter_past));
    }
    out.push((
        observed_christmas,
        name("Christmas Day", observed_christmas, christmas),
        HolidayKind::Closed,
    ));
    let mut holidays: Vec<(Holiday, bool)> = out
        .into_iter()
        .filter_map(|(date, name, kind)| {
            Some((
                Holiday {
                    date: date?,
                    name,
                    kind,
                },
                kind != quarter_past,
            ))
        })
        .collect();
    holidays.sort_by_key(|(h, _)| h.date);
    holidays
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::calendar::CME_EQUITY_FIXTURE_2026_2027;

    #[test]
    fn easter_dates() {
        for (year, date) in [
            (2024, "2024-03-31"),
            (2026, "2026-04-05"),
            (2027, "2027-03-28"),
            (2030, "2030-04-21"),
            (2038, "2038-04-25"),
        ] {
            assert_eq!(easter(year), Some(date.parse().unwrap()), "{year}");
        }
    }

    #[test]
    fn the_rules_reproduce_the_verified_years() {
        let generated: Vec<(NaiveDate, String, HolidayKind)> = [2026, 2027]
            .into_iter()
            .flat_map(cme_equity_holidays)
            .map(|h| (h.date, h.name, h.kind))
            .collect();
        let verified: Vec<(NaiveDate, String, HolidayKind)> = CME_EQUITY_FIXTURE_2026_2027
            .iter()
            .map(|&(y, m, d, name, early)| {
                (
                    NaiveDate::from_ymd_opt(y, m, d).unwrap(),
                    name.to_owned(),
                    early.map_or(HolidayKind::Closed, |(h, mi)| {
                        HolidayKind::EarlyClose(t(h, mi))
                    }),
                )
            })
            .collect();
        assert_eq!(generated, verified);
    }

    #[test]
    fn index_holidays_are_the_closures_and_noon_halts_not_the_half_days() {
        let d = |s: &str| s.parse::<NaiveDate>().unwrap();
        for closed in [
            "2026-06-19", // Juneteenth (a Friday)
            "2027-06-18", // Juneteenth observed (Saturday → Friday)
            "2026-04-03", // Good Friday
            "2026-11-26", // Thanksgiving
            "2026-12-25",
            "2027-01-01",
        ] {
            assert!(index_holiday(d(closed)), "{closed}");
        }
        for open in [
            "2026-11-27", // day after Thanksgiving: 12:15 CT half day
            "2026-12-24", // Christmas Eve: half day
            "2026-06-18",
            "2026-03-20",
            "2015-06-19", // a Friday before Juneteenth was a market holiday
        ] {
            assert!(!index_holiday(d(open)), "{open}");
        }
    }

    #[test]
    fn future_years_follow_the_weekend_rules() {
        // 2028: Christmas on a Monday, Christmas Eve a Sunday (no early close), July 4 a Tuesday.
        let y2028 = cme_equity_holidays(2028);
        let find =
            |hs: &[Holiday], n: &str| hs.iter().find(|h| h.name.starts_with(n)).map(|h| h.date);
        assert_eq!(
            find(&y2028, "Christmas Day"),
            Some("2028-12-25".parse().unwrap())
        );
        assert_eq!(find(&y2028, "Christmas Eve"), None);
        assert_eq!(
            find(&y2028, "Good Friday"),
            Some("2028-04-14".parse().unwrap())
        );
        // 2033: New Year's Day on a Saturday: no weekday holiday; 2034 on a Sunday: Monday.
        assert_eq!(find(&cme_equity_holidays(2033), "New Year"), None);
        assert_eq!(
            find(&cme_equity_holidays(2034), "New Year"),
            Some("2034-01-02".parse().unwrap())
        );
        // 2032: Christmas on a Saturday → Friday the 24th closed, no early close that day.
        let y2032 = cme_equity_holidays(2032);
        assert_eq!(
            find(&y2032, "Christmas Day"),
            Some("2032-12-24".parse().unwrap())
        );
        assert_eq!(find(&y2032, "Christmas Eve"), None);
        // Never on a weekend, one rule per date, every year.
        for year in 2026..2060 {
            let hs = cme_equity_holidays(year);
            assert!(
                hs.iter()
                    .all(|h| !matches!(h.date.weekday(), Weekday::Sat | Weekday::Sun)),
                "{year}"
            );
            assert!(hs.windows(2).all(|w| w[0].date < w[1].date), "{year}");
            assert!(hs.len() >= 10, "{year}");
        }
    }
}
