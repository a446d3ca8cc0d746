//! CME Globex equity-index session calendar, in America/Chicago (DST handled by chrono-tz).
//!
//! Weekly: open Sunday 17:00 CT → Friday 16:00 CT, with a daily halt 16:00–17:00 CT Mon–Thu.
//! A session is named by its *trade date* D: it runs from 17:00 CT on the evening before D to
//! 16:00 CT on D (Sunday evening belongs to Monday). Holidays are data keyed by trade date:
//! `Closed` removes the whole session; `EarlyClose(t)` ends it at `t` CT on D (the next session
//! still opens at 17:00 CT as usual).

use chrono::{
    DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Timelike, Utc,
    Weekday,
};
use chrono_tz::America::Chicago;
use serde::Serialize;
use std::cell::Cell;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

/// CME trade date of `at`: the session that opens 17:00 CT belongs to the next day.
pub fn trade_date(at: DateTime<Utc>) -> NaiveDate {
    (chicago(at) + Duration::hours(7)).date()
}

/// `at` on Chicago's wall clock. Chicago changes its offset only on whole UTC hours, so the
/// local start of the hour last asked for is remembered (per thread: the engines of a sweep's
/// workers each keep their own) and chrono-tz's search and the date arithmetic run once an
/// hour of bars, not per bar. An hour whose two ends have different offsets, or whose local
/// span crosses midnight, is never remembered.
fn chicago(at: DateTime<Utc>) -> NaiveDateTime {
    thread_local! {
        /// (UTC hour, its local date, its local start in seconds from midnight).
        static HOUR: Cell<Option<(i64, NaiveDate, u32)>> = const { Cell::new(None) };
    }
    let secs = at.timestamp();
    let hour = secs.div_euclid(3600);
    let into_hour = (secs - hour * 3600) as u32;
    HOUR.with(|memo| {
        if let Some((h, date, start)) = memo.get()
            && h == hour
            && let Some(time) = NaiveTime::from_num_seconds_from_midnight_opt(
                start + into_hour,
                at.timestamp_subsec_nanos(),
            )
        {
            return NaiveDateTime::new(date, time);
        }
        let local = |t: DateTime<Utc>| t.with_timezone(&Chicago).naive_local();
        let (start, end) = (
            DateTime::from_timestamp(hour * 3600, 0),
            DateTime::from_timestamp(hour * 3600 + 3599, 0),
        );
        if let (Some(start), Some(end)) = (start, end) {
            let (start, end) = (local(start), local(end));
            if end - start == Duration::seconds(3599) && start.date() == end.date() {
                memo.set(Some((
                    hour,
                    start.date(),
                    start.num_seconds_from_midnight(),
                )));
            }
        }
        local(at)
    })
}

/// The instant trade date `date` begins: 17:00 CT on the evening before (never in a DST gap,
/// which CME places at 02:00).
pub fn trade_date_start(date: NaiveDate) -> DateTime<Utc> {
    let evening = (date - Duration::days(1)).and_time(hm(DAILY_OPEN.0, DAILY_OPEN.1));
    Chicago
        .from_local_datetime(&evening)
        .earliest()
        .map_or_else(|| evening.and_utc(), |t| t.with_timezone(&Utc))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(
    tag = "kind",
    content = "close_time_ct",
    rename_all = "SCREAMING_SNAKE_CASE"
)]
pub enum HolidayKind {
    Closed,
    EarlyClose(NaiveTime),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Holiday {
    /// Trade date the rule applies to.
    pub date: NaiveDate,
    pub name: String,
    pub kind: HolidayKind,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(
    tag = "state",
    content = "holiday",
    rename_all = "SCREAMING_SNAKE_CASE"
)]
pub enum SessionState {
    Open,
    DailyHalt,
    WeekendClosed,
    Holiday(String),
    EarlyClosed(String),
}

impl SessionState {
    pub fn is_open(&self) -> bool {
        matches!(self, SessionState::Open)
    }
}

/// Holiday closures and early halts, built from data (the app reads them from `cme_holidays`).
#[derive(Debug, Clone, Default)]
pub struct HolidayCalendar {
    /// Sorted by trade date, one per date (looked up by binary search on every evaluation:
    /// cheaper than hashing a date).
    by_trade_date: Vec<Holiday>,
    /// Names these holidays for the remembered session state (see [`HolidayCalendar::is_open`]):
    /// unique per [`HolidayCalendar::new`], shared by clones (same rows); 0 is the empty
    /// default calendar.
    id: u64,
}

fn hm(h: u32, m: u32) -> NaiveTime {
    NaiveTime::from_hms_opt(h, m, 0).unwrap_or(NaiveTime::MIN)
}

/// (year, month, day, name, None = closed | Some((h, m)) = early close CT).
type HolidayRow = (i32, u32, u32, &'static str, Option<(u32, u32)>);

/// Test and bench fixture: the CME equity-index holidays for 2026–2027, the same rows migration
/// `20261126500000_cme_holidays_seed.sql` seeds (an integration test keeps the two equal; the
/// rules and sources are in that migration). The product reads the `cme_holidays` table
/// through `store::cme_holidays::load_calendar`, never this list.
pub const CME_EQUITY_FIXTURE_2026_2027: &[HolidayRow] = &[
    (2026, 1, 1, "New Year's Day", None),
    (2026, 1, 19, "Martin Luther King Jr. Day", Some((12, 0))),
    (2026, 2, 16, "Presidents' Day", Some((12, 0))),
    (2026, 4, 3, "Good Friday", None),
    (2026, 5, 25, "Memorial Day", Some((12, 0))),
    (2026, 6, 19, "Juneteenth", Some((12, 0))),
    (2026, 7, 3, "Independence Day (observed)", Some((12, 0))),
    (2026, 9, 7, "Labor Day", Some((12, 0))),
    (2026, 11, 26, "Thanksgiving Day", Some((12, 0))),
    (2026, 11, 27, "Day after Thanksgiving", Some((12, 15))),
    (2026, 12, 24, "Christmas Eve", Some((12, 15))),
    (2026, 12, 25, "Christmas Day", None),
    (2027, 1, 1, "New Year's Day", None),
    (2027, 1, 18, "Martin Luther King Jr. Day", Some((12, 0))),
    (2027, 2, 15, "Presidents' Day", Some((12, 0))),
    (2027, 3, 26, "Good Friday", None),
    (2027, 5, 31, "Memorial Day", Some((12, 0))),
    (2027, 6, 18, "Juneteenth (observed)", Some((12, 0))),
    (2027, 7, 5, "Independence Day (observed)", Some((12, 0))),
    (2027, 9, 6, "Labor Day", Some((12, 0))),
    (2027, 11, 25, "Thanksgiving Day", Some((12, 0))),
    (2027, 11, 26, "Day after Thanksgiving", Some((12, 15))),
    (2027, 12, 24, "Christmas Day (observed)", None),
];

/// A [`SessionState`] naming its holiday by its index in the calendar's rows: `Copy`, so the
/// remembered answer is read without a clone or a borrow (its name is cloned only when a
/// holiday is the answer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Session {
    Open,
    DailyHalt,
    WeekendClosed,
    Holiday(usize),
    EarlyClosed(usize),
}

/// The span `[from, until)` of one calendar's latest answer, all of it in `session`.
#[derive(Clone, Copy)]
struct SessionSpan {
    calendar: u64,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
    session: Session,
}

thread_local! {
    /// What [`HolidayCalendar::is_open`] answered last on this thread, and for how long.
    static SESSION_SPAN: Cell<Option<SessionSpan>> = const { Cell::new(None) };
}

const DAILY_CLOSE: (u32, u32) = (16, 0);
const DAILY_OPEN: (u32, u32) = (17, 0);

impl HolidayCalendar {
    pub fn new(holidays: impl IntoIterator<Item = Holiday>) -> Self {
        // The last row for a date wins, as it did when they were keyed by date.
        let by_date: BTreeMap<NaiveDate, Holiday> =
            holidays.into_iter().map(|h| (h.date, h)).collect();
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        HolidayCalendar {
            by_trade_date: by_date.into_values().collect(),
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// A calendar of [`CME_EQUITY_FIXTURE_2026_2027`], for tests and benches.
    pub fn cme_equity_fixture() -> Self {
        Self::new(
            CME_EQUITY_FIXTURE_2026_2027
                .iter()
                .filter_map(|&(y, m, d, name, early)| {
                    Some(Holiday {
                        date: NaiveDate::from_ymd_opt(y, m, d)?,
                        name: name.to_string(),
                        kind: match early {
                            None => HolidayKind::Closed,
                            Some((h, mi)) => HolidayKind::EarlyClose(hm(h, mi)),
                        },
                    })
                }),
        )
    }

    /// Every holiday, oldest first.
    pub fn holidays(&self) -> Vec<&Holiday> {
        self.by_trade_date.iter().collect()
    }

    pub fn holiday(&self, trade_date: NaiveDate) -> Option<&Holiday> {
        self.holiday_index(trade_date)
            .map(|i| &self.by_trade_date[i])
    }

    fn holiday_index(&self, trade_date: NaiveDate) -> Option<usize> {
        self.by_trade_date
            .binary_search_by_key(&trade_date, |h| h.date)
            .ok()
    }

    /// Session state at `at`. The state holds between rule changes (the daily close and open,
    /// an early close, local midnight), so the span around the latest answer is remembered
    /// (per thread, like [`chicago`]) and the bars of a run inside it skip the wall clock: the
    /// check is inlined and compares times as they are (no Unix seconds per call).
    #[inline]
    pub fn is_open(&self, at: DateTime<Utc>) -> SessionState {
        let session = match SESSION_SPAN.get() {
            Some(span) if span.calendar == self.id && span.from <= at && at < span.until => {
                span.session
            }
            _ => self.session_afresh(at),
        };
        self.state(session)
    }

    fn state(&self, session: Session) -> SessionState {
        let name = |i: usize| self.by_trade_date[i].name.clone();
        match session {
            Session::Open => SessionState::Open,
            Session::DailyHalt => SessionState::DailyHalt,
            Session::WeekendClosed => SessionState::WeekendClosed,
            Session::Holiday(i) => SessionState::Holiday(name(i)),
            Session::EarlyClosed(i) => SessionState::EarlyClosed(name(i)),
        }
    }

    /// [`HolidayCalendar::is_open`] outside the remembered span: computes the state and the
    /// span it holds for, and remembers them.
    #[inline(never)]
    fn session_afresh(&self, at: DateTime<Utc>) -> Session {
        let secs = at.timestamp();
        let local = chicago(at);
        let session = self.session_at(local);
        // The next rule change in UTC, if Chicago's offset holds until then: it does when the
        // offset just before it is today's (a change of offset is months from the next one).
        // Otherwise the span ends with the UTC hour, within which the offset never changes.
        let into_day = i64::from(local.num_seconds_from_midnight());
        let rule_change = secs + self.next_change(local) - into_day;
        let hour_end = (secs.div_euclid(3600) + 1) * 3600;
        let offset = |t: i64| {
            DateTime::from_timestamp(t, 0)
                .map(|u| (u.with_timezone(&Chicago).naive_local() - u.naive_utc()).num_seconds())
        };
        let until = if rule_change > hour_end && offset(rule_change - 1) == offset(secs) {
            rule_change
        } else {
            hour_end.min(rule_change)
        };
        if let Some(until) = DateTime::from_timestamp(until, 0) {
            SESSION_SPAN.set(Some(SessionSpan {
                calendar: self.id,
                from: at,
                until,
                session,
            }));
        }
        session
    }

    /// Seconds from local midnight of the first instant after `local` that a rule of
    /// [`HolidayCalendar::session_at`] can change its answer: the daily close, the open, an early
    /// close of the day's trade date, or the next midnight (86,400).
    fn next_change(&self, local: NaiveDateTime) -> i64 {
        let now = local.num_seconds_from_midnight();
        let early = self.holiday(local.date()).and_then(|h| match h.kind {
            HolidayKind::EarlyClose(t) => Some(t.num_seconds_from_midnight()),
            HolidayKind::Closed => None,
        });
        let close = DAILY_CLOSE.0 * 3600 + DAILY_CLOSE.1 * 60;
        let open = DAILY_OPEN.0 * 3600 + DAILY_OPEN.1 * 60;
        [Some(close), Some(open), early]
            .into_iter()
            .flatten()
            .filter(|t| *t > now)
            .min()
            .map_or(86_400, i64::from)
    }

    /// Session state at `local`, Chicago's wall clock (what [`HolidayCalendar::is_open`]
    /// remembers).
    fn session_at(&self, local: NaiveDateTime) -> Session {
        let (date, time) = (local.date(), local.time());
        let close = hm(DAILY_CLOSE.0, DAILY_CLOSE.1);
        let open = hm(DAILY_OPEN.0, DAILY_OPEN.1);
        let evening = time >= open;
        match local.weekday() {
            Weekday::Sat => return Session::WeekendClosed,
            Weekday::Sun if !evening => return Session::WeekendClosed,
            Weekday::Fri if time >= close => return Session::WeekendClosed,
            Weekday::Mon | Weekday::Tue | Weekday::Wed | Weekday::Thu
                if time >= close && !evening =>
            {
                return Session::DailyHalt;
            }
            _ => {}
        }
        let trade_date = if evening {
            date + Duration::days(1)
        } else {
            date
        };
        let Some(i) = self.holiday_index(trade_date) else {
            return Session::Open;
        };
        match self.by_trade_date[i].kind {
            HolidayKind::Closed => Session::Holiday(i),
            HolidayKind::EarlyClose(t) if !evening && time >= t => Session::EarlyClosed(i),
            HolidayKind::EarlyClose(_) => Session::Open,
        }
    }

    /// `at` itself when open, else the next session open (17:00 CT on a Sun–Thu whose next
    /// trade date is not closed). `None` only if nothing opens within 30 days.
    pub fn next_open(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if self.is_open(at).is_open() {
            return Some(at);
        }
        let start = at.with_timezone(&Chicago).date_naive();
        (0..30).find_map(|i| {
            let day = start + Duration::days(i);
            if matches!(day.weekday(), Weekday::Fri | Weekday::Sat) {
                return None;
            }
            let trade_date = day + Duration::days(1);
            if self
                .holiday(trade_date)
                .is_some_and(|h| h.kind == HolidayKind::Closed)
            {
                return None;
            }
            let open = Chicago
                .from_local_datetime(&day.and_time(hm(DAILY_OPEN.0, DAILY_OPEN.1)))
                .earliest()?
                .with_timezone(&Utc);
            (open > at).then_some(open)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ct(y: i32, m: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
        Chicago
            .with_ymd_and_hms(y, m, d, h, mi, s)
            .single()
            .unwrap()
            .with_timezone(&Utc)
    }

    fn utc(y: i32, m: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, mi, 0).unwrap()
    }

    #[test]
    fn the_remembered_offset_is_chrono_tzs_through_both_dst_changes() {
        // Every 37 s around the 2026 changes, forwards and back in time (a replayed tick).
        for (from, to) in [
            (utc(2026, 3, 7, 0, 0), utc(2026, 3, 9, 0, 0)),
            (utc(2026, 10, 31, 0, 0), utc(2026, 11, 2, 0, 0)),
        ] {
            let mut at = from;
            while at < to {
                for t in [at, at - Duration::hours(5)] {
                    assert_eq!(chicago(t), t.with_timezone(&Chicago).naive_local(), "{t}");
                }
                at += Duration::seconds(37);
            }
        }
    }

    /// The remembered span against the wall clock asked afresh, over two years every 53 s (and
    /// an earlier instant between, as a replayed tick asks), with the fixture's holidays and an
    /// early close off the quarter hours.
    #[test]
    fn the_remembered_session_is_the_one_asked_afresh() {
        let odd = Holiday {
            date: NaiveDate::from_ymd_opt(2026, 8, 12).unwrap(),
            name: "odd early close".into(),
            kind: HolidayKind::EarlyClose(NaiveTime::from_hms_opt(11, 7, 13).unwrap()),
        };
        let fixture = HolidayCalendar::cme_equity_fixture();
        let with_odd = HolidayCalendar::new(fixture.holidays().into_iter().cloned().chain([odd]));
        let fresh = |cal: &HolidayCalendar, t: DateTime<Utc>| {
            cal.state(cal.session_at(t.with_timezone(&Chicago).naive_local()))
        };
        let (from, end) = (utc(2026, 1, 1, 0, 0), utc(2028, 1, 1, 0, 0));
        let mut changes = 0;
        for cal in [&fixture, &with_odd] {
            // Forwards, one calendar at a time (the remembered span answers most of these).
            let (mut at, mut last) = (from, None);
            while at < end {
                let state = cal.is_open(at);
                assert_eq!(state, fresh(cal, at), "{at}");
                changes += usize::from(last.as_ref().is_some_and(|l| *l != state));
                last = Some(state);
                at += Duration::seconds(53);
            }
            // Back and forth, and the two calendars in turn.
            let mut at = from;
            while at < end {
                for t in [at, at - Duration::seconds(4111), at + Duration::seconds(7)] {
                    assert_eq!(cal.is_open(t), fresh(cal, t), "{t}");
                    assert_eq!(fixture.is_open(t), fresh(&fixture, t), "{t}");
                }
                at += Duration::seconds(601);
            }
        }
        // Weekly close and open, daily halts, holidays: the states did change all along.
        assert!(changes > 1000, "{changes}");
        // Two calendars on one thread never answer for each other.
        let thanksgiving = ct(2026, 11, 26, 13, 0, 0);
        assert!(fixture.is_open(thanksgiving) != SessionState::Open);
        assert_eq!(
            HolidayCalendar::default().is_open(thanksgiving),
            SessionState::Open
        );
    }

    #[test]
    fn trade_dates_roll_at_17_ct_across_dst() {
        // Winter (CST, UTC-6) and summer (CDT, UTC-5).
        for (y, m, d) in [(2026, 1, 14), (2026, 7, 15)] {
            let date = NaiveDate::from_ymd_opt(y, m, d).unwrap();
            let start = trade_date_start(date);
            assert_eq!(start, ct(y, m, d - 1, 17, 0, 0));
            assert_eq!(trade_date(start), date);
            assert_eq!(
                trade_date(start - Duration::seconds(1)),
                date - Duration::days(1)
            );
            assert_eq!(trade_date(ct(y, m, d, 16, 59, 59)), date);
        }
        // Monday's session opens Sunday evening.
        let monday = NaiveDate::from_ymd_opt(2026, 3, 9).unwrap();
        assert_eq!(trade_date_start(monday), ct(2026, 3, 8, 17, 0, 0));
    }

    #[test]
    fn shipped_dates_fall_on_the_documented_weekdays() {
        use Weekday::*;
        let expected = [
            Thu, Mon, Mon, Fri, Mon, Fri, Fri, Mon, Thu, Fri, Thu, Fri, Fri, Mon, Mon, Fri, Mon,
            Fri, Mon, Mon, Thu, Fri, Fri,
        ];
        let rows = CME_EQUITY_FIXTURE_2026_2027;
        assert_eq!(rows.len(), expected.len());
        for (row, wd) in rows.iter().zip(expected) {
            let d = NaiveDate::from_ymd_opt(row.0, row.1, row.2).unwrap();
            assert_eq!(d.weekday(), wd, "{}", row.3);
        }
    }

    #[test]
    fn daily_halt_edges() {
        let cal = HolidayCalendar::cme_equity_fixture();
        // Tuesday 2026-11-24.
        assert_eq!(
            cal.is_open(ct(2026, 11, 24, 15, 59, 59)),
            SessionState::Open
        );
        assert_eq!(
            cal.is_open(ct(2026, 11, 24, 16, 0, 0)),
            SessionState::DailyHalt
        );
        assert_eq!(
            cal.is_open(ct(2026, 11, 24, 16, 59, 59)),
            SessionState::DailyHalt
        );
        assert_eq!(cal.is_open(ct(2026, 11, 24, 17, 0, 0)), SessionState::Open);
        assert_eq!(
            cal.next_open(ct(2026, 11, 24, 16, 30, 0)),
            Some(ct(2026, 11, 24, 17, 0, 0))
        );
    }

    #[test]
    fn friday_close_and_sunday_open() {
        let cal = HolidayCalendar::cme_equity_fixture();
        // Friday 2026-10-16 / Sunday 2026-10-18 (no holidays).
        assert_eq!(
            cal.is_open(ct(2026, 10, 16, 15, 59, 59)),
            SessionState::Open
        );
        assert_eq!(
            cal.is_open(ct(2026, 10, 16, 16, 0, 0)),
            SessionState::WeekendClosed
        );
        assert_eq!(
            cal.is_open(ct(2026, 10, 17, 12, 0, 0)),
            SessionState::WeekendClosed
        );
        assert_eq!(
            cal.is_open(ct(2026, 10, 18, 16, 59, 59)),
            SessionState::WeekendClosed
        );
        assert_eq!(cal.is_open(ct(2026, 10, 18, 17, 0, 0)), SessionState::Open);
        assert_eq!(
            cal.next_open(ct(2026, 10, 16, 16, 0, 0)),
            Some(ct(2026, 10, 18, 17, 0, 0))
        );
    }

    #[test]
    fn dst_switches_move_the_utc_hours() {
        let cal = HolidayCalendar::cme_equity_fixture();
        // DST starts Sunday 2026-03-08: the Friday before, 16:00 CST = 22:00 UTC; Sunday's open
        // 17:00 CDT = 22:00 UTC; Monday's halt starts 16:00 CDT = 21:00 UTC.
        assert_eq!(cal.is_open(utc(2026, 3, 6, 21, 59)), SessionState::Open);
        assert_eq!(
            cal.is_open(utc(2026, 3, 6, 22, 0)),
            SessionState::WeekendClosed
        );
        assert_eq!(
            cal.is_open(utc(2026, 3, 8, 21, 59)),
            SessionState::WeekendClosed
        );
        assert_eq!(cal.is_open(utc(2026, 3, 8, 22, 0)), SessionState::Open);
        assert_eq!(cal.is_open(utc(2026, 3, 9, 21, 0)), SessionState::DailyHalt);
        assert_eq!(
            cal.next_open(utc(2026, 3, 7, 0, 0)),
            Some(utc(2026, 3, 8, 22, 0))
        );
        // DST ends Sunday 2026-11-01: Friday 16:00 CDT = 21:00 UTC; Sunday 17:00 CST = 23:00 UTC;
        // Monday's halt 16:00 CST = 22:00 UTC (21:30 UTC is open again).
        assert_eq!(
            cal.is_open(utc(2026, 10, 30, 21, 0)),
            SessionState::WeekendClosed
        );
        assert_eq!(
            cal.is_open(utc(2026, 11, 1, 22, 30)),
            SessionState::WeekendClosed
        );
        assert_eq!(cal.is_open(utc(2026, 11, 1, 23, 0)), SessionState::Open);
        assert_eq!(cal.is_open(utc(2026, 11, 2, 21, 30)), SessionState::Open);
        assert_eq!(
            cal.is_open(utc(2026, 11, 2, 22, 0)),
            SessionState::DailyHalt
        );
        assert_eq!(
            cal.next_open(utc(2026, 10, 31, 0, 0)),
            Some(utc(2026, 11, 1, 23, 0))
        );
    }

    #[test]
    fn closed_holiday_removes_the_whole_session() {
        let cal = HolidayCalendar::cme_equity_fixture();
        let xmas = || SessionState::Holiday("Christmas Day".into());
        // Christmas Eve ends 12:15 CT; the evening of the 24th belongs to the closed 25th.
        assert_eq!(
            cal.is_open(ct(2026, 12, 24, 12, 14, 59)),
            SessionState::Open
        );
        assert_eq!(
            cal.is_open(ct(2026, 12, 24, 12, 15, 0)),
            SessionState::EarlyClosed("Christmas Eve".into())
        );
        assert_eq!(cal.is_open(ct(2026, 12, 24, 17, 30, 0)), xmas());
        assert_eq!(cal.is_open(ct(2026, 12, 25, 10, 0, 0)), xmas());
        assert_eq!(
            cal.next_open(ct(2026, 12, 24, 13, 0, 0)),
            Some(ct(2026, 12, 27, 17, 0, 0))
        );
        // Good Friday 2026: Thursday evening closed, Sunday opens.
        assert_eq!(
            cal.is_open(ct(2026, 4, 2, 18, 0, 0)),
            SessionState::Holiday("Good Friday".into())
        );
        assert_eq!(
            cal.next_open(ct(2026, 4, 3, 9, 0, 0)),
            Some(ct(2026, 4, 5, 17, 0, 0))
        );
    }

    #[test]
    fn early_close_on_thanksgiving_then_normal_reopen() {
        let cal = HolidayCalendar::cme_equity_fixture();
        let tg = || SessionState::EarlyClosed("Thanksgiving Day".into());
        assert_eq!(
            cal.is_open(ct(2026, 11, 26, 11, 59, 59)),
            SessionState::Open
        );
        assert_eq!(cal.is_open(ct(2026, 11, 26, 12, 0, 0)), tg());
        assert_eq!(
            cal.is_open(ct(2026, 11, 26, 16, 30, 0)),
            SessionState::DailyHalt
        );
        assert_eq!(
            cal.next_open(ct(2026, 11, 26, 12, 0, 0)),
            Some(ct(2026, 11, 26, 17, 0, 0))
        );
        assert_eq!(cal.is_open(ct(2026, 11, 26, 17, 0, 0)), SessionState::Open);
        // Friday after: ends 12:15 CT, then the weekend.
        assert_eq!(
            cal.is_open(ct(2026, 11, 27, 12, 15, 0)),
            SessionState::EarlyClosed("Day after Thanksgiving".into())
        );
        assert_eq!(
            cal.next_open(ct(2026, 11, 27, 13, 0, 0)),
            Some(ct(2026, 11, 29, 17, 0, 0))
        );
    }

    #[test]
    fn calendar_from_data_only() {
        let day = NaiveDate::from_ymd_opt(2026, 10, 14).unwrap(); // a Wednesday
        let cal = HolidayCalendar::new([Holiday {
            date: day,
            name: "Test".into(),
            kind: HolidayKind::Closed,
        }]);
        assert_eq!(
            cal.is_open(ct(2026, 10, 14, 10, 0, 0)),
            SessionState::Holiday("Test".into())
        );
        assert_eq!(
            HolidayCalendar::default().is_open(ct(2026, 10, 14, 10, 0, 0)),
            SessionState::Open
        );
    }
}
