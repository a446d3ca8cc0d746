//! The economic-calendar and macro gates (issue 19 §3), pure: time and stored data passed in.
//! Both fail closed: a missing or stale calendar/series blocks new entries rather than letting
//! a bot trade blind into a CPI print.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::Serialize;

use super::strategy_filters::{EconomicCalendarFilter, MacroFilter, MacroSeries};
use crate::error_code::ErrorCode;

/// One scheduled event as stored (`economic_events`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EconomicEvent {
    pub event: String,
    pub country: String,
    /// `Low`, `Medium`, `High` (as the vendor says; compared case-insensitively).
    pub impact: String,
    pub event_at: DateTime<Utc>,
}

/// The stored calendar as the gates see it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CalendarSnapshot {
    /// Ordered by `event_at`.
    pub events: Vec<EconomicEvent>,
    /// Last successful fetch; `None` = a historical replay (a backtest), where age does not
    /// apply and only coverage does.
    pub fetched_at: Option<DateTime<Utc>>,
    /// The time ranges the stored fetches cover, merged (an event outside them is unknown).
    pub covers: Vec<(DateTime<Utc>, DateTime<Utc>)>,
}

/// The newest stored observation of a FRED series.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MacroReading {
    pub series_id: MacroSeries,
    /// The observation's date (the period it is for).
    pub date: NaiveDate,
    pub value: f64,
}

fn matches(list: &[String], v: &str) -> bool {
    list.iter().any(|x| x.eq_ignore_ascii_case(v))
}

fn hm(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// The events of `cal` whose no-entry window `[event − before, event + after]` (inclusive)
/// contains `now`, for the filter's impacts and countries. `cal.events` is ordered by time, so
/// only the events within `[now − after, now + before]` are looked at (two binary searches:
/// the cost does not grow with the stored calendar).
pub fn events_in_window<'a>(
    f: &EconomicCalendarFilter,
    cal: &'a CalendarSnapshot,
    now: DateTime<Utc>,
) -> Vec<&'a EconomicEvent> {
    let before = Duration::minutes(i64::from(f.minutes_before));
    let after = Duration::minutes(i64::from(f.minutes_after));
    let lo = cal.events.partition_point(|e| e.event_at < now - after);
    let hi = cal.events.partition_point(|e| e.event_at <= now + before);
    cal.events[lo..hi.max(lo)]
        .iter()
        .filter(|e| matches(&f.impacts, &e.impact) && matches(&f.countries, &e.country))
        .collect()
}

/// `None` = new entries allowed; otherwise the blocking code and the human reason (naming the
/// event: name, country, time).
pub fn calendar_gate(
    f: &EconomicCalendarFilter,
    cal: Option<&CalendarSnapshot>,
    now: DateTime<Utc>,
) -> Option<(ErrorCode, String)> {
    let Some(cal) = cal else {
        return Some((
            ErrorCode::EconomicCalendarStale,
            "No economic calendar is stored: new entries are blocked until one is fetched.".into(),
        ));
    };
    if let Some(fetched) = cal.fetched_at {
        let age = now - fetched;
        if age > Duration::hours(i64::from(f.max_calendar_age_hours)) {
            return Some((
                ErrorCode::EconomicCalendarStale,
                format!(
                    "The economic calendar was last fetched {} ({} h ago; limit {} h): new entries are blocked.",
                    hm(fetched),
                    age.num_hours(),
                    f.max_calendar_age_hours
                ),
            ));
        }
    }
    // The window around `now` must be inside what was fetched, or an event could be missed.
    let need_from = now - Duration::minutes(i64::from(f.minutes_after));
    let need_to = now + Duration::minutes(i64::from(f.minutes_before));
    if !cal
        .covers
        .iter()
        .any(|(from, to)| *from <= need_from && need_to <= *to)
    {
        let have = if cal.covers.is_empty() {
            "nothing".to_string()
        } else {
            cal.covers
                .iter()
                .map(|(a, b)| format!("{} to {}", hm(*a), hm(*b)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        return Some((
            ErrorCode::EconomicCalendarStale,
            format!(
                "The stored economic calendar covers {have}, not {} to {}: new entries are blocked.",
                hm(need_from),
                hm(need_to)
            ),
        ));
    }
    let hits = events_in_window(f, cal, now);
    let first = hits.first()?;
    let named = hits
        .iter()
        .map(|e| {
            format!(
                "{} ({}, {} impact) at {}",
                e.event,
                e.country,
                e.impact,
                hm(e.event_at)
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    Some((
        ErrorCode::EconomicEventWindow,
        format!(
            "Economic event {named}: new entries are blocked from {} to {} ({} min before, {} min after).",
            hm(first.event_at - Duration::minutes(i64::from(f.minutes_before))),
            hm(hits
                .iter()
                .map(|e| e.event_at)
                .max()
                .unwrap_or(first.event_at)
                + Duration::minutes(i64::from(f.minutes_after))),
            f.minutes_before,
            f.minutes_after
        ),
    ))
}

/// `None` = new entries allowed; otherwise the blocking code and reason.
pub fn macro_gate(
    f: &MacroFilter,
    reading: Option<&MacroReading>,
    now: DateTime<Utc>,
) -> Option<(ErrorCode, String)> {
    let series = f.series_id.as_str();
    let Some(r) = reading else {
        return Some((
            ErrorCode::MacroDataStale,
            format!("No FRED observation of {series} is stored: new entries are blocked."),
        ));
    };
    let age = (now.date_naive() - r.date).num_days();
    if age > i64::from(f.max_age_days) {
        return Some((
            ErrorCode::MacroDataStale,
            format!(
                "The newest FRED observation of {series} is for {} ({age} days old; limit {} days): new entries are blocked.",
                r.date, f.max_age_days
            ),
        ));
    }
    if let Some(above) = f.block_above
        && r.value > above
    {
        return Some((
            ErrorCode::MacroFilterBlocked,
            format!(
                "{series} is {} (as of {}), above block_above {above}: new entries are blocked.",
                r.value, r.date
            ),
        ));
    }
    if let Some(below) = f.block_below
        && r.value < below
    {
        return Some((
            ErrorCode::MacroFilterBlocked,
            format!(
                "{series} is {} (as of {}), below block_below {below}: new entries are blocked.",
                r.value, r.date
            ),
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    fn cpi() -> EconomicEvent {
        EconomicEvent {
            event: "CPI (MoM)".into(),
            country: "US".into(),
            impact: "High".into(),
            event_at: t("2026-12-08T13:30:00Z"),
        }
    }

    fn cal(events: Vec<EconomicEvent>) -> CalendarSnapshot {
        CalendarSnapshot {
            events,
            fetched_at: Some(t("2026-12-08T06:00:00Z")),
            covers: vec![(t("2026-12-07T00:00:00Z"), t("2026-12-21T00:00:00Z"))],
        }
    }

    #[test]
    fn window_bounds_are_inclusive() {
        let f = EconomicCalendarFilter::default();
        let c = cal(vec![cpi()]);
        for (now, blocked) in [
            ("2026-12-08T13:14:59Z", false),
            ("2026-12-08T13:15:00Z", true),
            ("2026-12-08T13:30:00Z", true),
            ("2026-12-08T13:45:00Z", true),
            ("2026-12-08T13:45:01Z", false),
        ] {
            let got = calendar_gate(&f, Some(&c), t(now));
            assert_eq!(got.is_some(), blocked, "{now}: {got:?}");
            if let Some((code, reason)) = got {
                assert_eq!(code, ErrorCode::EconomicEventWindow);
                assert!(
                    reason.contains("CPI (MoM)") && reason.contains("US"),
                    "{reason}"
                );
                assert!(reason.contains("2026-12-08 13:30 UTC"), "{reason}");
            }
        }
    }

    #[test]
    fn only_events_near_now_count_among_many() {
        // A month of events every 10 minutes, ordered; the CPI print among them.
        let start = t("2026-12-01T00:00:00Z");
        let mut events: Vec<EconomicEvent> = (0..4_320)
            .map(|i| EconomicEvent {
                event: format!("Filler {i}"),
                country: "JP".into(),
                impact: "High".into(),
                event_at: start + Duration::minutes(10 * i),
            })
            .collect();
        events.push(cpi());
        events.sort_by_key(|e| e.event_at);
        let c = CalendarSnapshot {
            events,
            fetched_at: Some(t("2026-12-08T06:00:00Z")),
            covers: vec![(start, t("2027-01-01T00:00:00Z"))],
        };
        let f = EconomicCalendarFilter::default();
        let hits = events_in_window(&f, &c, t("2026-12-08T13:40:00Z"));
        assert_eq!(hits, vec![&cpi()]);
        let wide = EconomicCalendarFilter {
            countries: vec!["JP".into()],
            minutes_before: 0,
            minutes_after: 0,
            ..Default::default()
        };
        // Exactly on a filler's time: that one event.
        let hits = events_in_window(&wide, &c, t("2026-12-08T13:40:00Z"));
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].event_at, t("2026-12-08T13:40:00Z"));
    }

    #[test]
    fn zero_minutes_blocks_only_the_instant() {
        let f = EconomicCalendarFilter {
            minutes_before: 0,
            minutes_after: 0,
            ..Default::default()
        };
        let c = cal(vec![cpi()]);
        assert!(calendar_gate(&f, Some(&c), t("2026-12-08T13:30:00Z")).is_some());
        assert!(calendar_gate(&f, Some(&c), t("2026-12-08T13:29:59Z")).is_none());
        assert!(calendar_gate(&f, Some(&c), t("2026-12-08T13:30:01Z")).is_none());
    }

    #[test]
    fn impacts_and_countries_filter_events() {
        let mut low = cpi();
        low.impact = "Low".into();
        let mut eu = cpi();
        eu.country = "EU".into();
        let c = cal(vec![low, eu]);
        let f = EconomicCalendarFilter::default();
        assert!(calendar_gate(&f, Some(&c), t("2026-12-08T13:30:00Z")).is_none());
        let wide = EconomicCalendarFilter {
            impacts: vec!["Low".into()],
            countries: vec!["EU".into(), "US".into()],
            ..Default::default()
        };
        let (_, reason) = calendar_gate(&wide, Some(&c), t("2026-12-08T13:30:00Z")).unwrap();
        assert!(reason.contains("(US, Low impact)"), "{reason}");
        // Case-insensitive on the vendor's spelling.
        let mut lower = cpi();
        lower.impact = "high".into();
        let c = cal(vec![lower]);
        assert!(calendar_gate(&f, Some(&c), t("2026-12-08T13:30:00Z")).is_some());
    }

    #[test]
    fn stale_missing_or_uncovered_calendar_fails_closed() {
        let f = EconomicCalendarFilter::default();
        let (code, _) = calendar_gate(&f, None, t("2026-12-08T10:00:00Z")).unwrap();
        assert_eq!(code, ErrorCode::EconomicCalendarStale);
        let c = cal(vec![]);
        // 24 h exactly is still fresh; a second more is not.
        assert!(calendar_gate(&f, Some(&c), t("2026-12-09T06:00:00Z")).is_none());
        let (code, reason) = calendar_gate(&f, Some(&c), t("2026-12-09T06:00:01Z")).unwrap();
        assert_eq!(code, ErrorCode::EconomicCalendarStale);
        assert!(reason.contains("limit 24 h"), "{reason}");
        // Fresh, but the window reaches past what was fetched.
        let mut short = cal(vec![]);
        short.covers = vec![(t("2026-12-07T00:00:00Z"), t("2026-12-08T10:10:00Z"))];
        let (code, _) = calendar_gate(&f, Some(&short), t("2026-12-08T10:00:00Z")).unwrap();
        assert_eq!(code, ErrorCode::EconomicCalendarStale);
        short.covers = vec![];
        assert!(calendar_gate(&f, Some(&short), t("2026-12-08T09:00:00Z")).is_some());
        // A replay (no fetch time) is judged by coverage only.
        let mut replay = cal(vec![]);
        replay.fetched_at = None;
        assert!(calendar_gate(&f, Some(&replay), t("2026-12-15T06:00:00Z")).is_none());
    }

    fn dgs10(value: f64, date: &str) -> MacroReading {
        MacroReading {
            series_id: MacroSeries::Dgs10,
            date: date.parse().unwrap(),
            value,
        }
    }

    #[test]
    fn macro_thresholds_and_age() {
        let f = MacroFilter {
            series_id: MacroSeries::Dgs10,
            block_above: Some(4.5),
            block_below: Some(3.0),
            max_age_days: 7,
        };
        let now = t("2026-12-08T14:00:00Z");
        assert!(macro_gate(&f, Some(&dgs10(4.25, "2026-12-07")), now).is_none());
        assert!(macro_gate(&f, Some(&dgs10(4.5, "2026-12-07")), now).is_none());
        assert!(macro_gate(&f, Some(&dgs10(3.0, "2026-12-07")), now).is_none());
        let (code, reason) = macro_gate(&f, Some(&dgs10(4.51, "2026-12-07")), now).unwrap();
        assert_eq!(code, ErrorCode::MacroFilterBlocked);
        assert!(
            reason.contains("DGS10") && reason.contains("above"),
            "{reason}"
        );
        let (code, reason) = macro_gate(&f, Some(&dgs10(2.9, "2026-12-07")), now).unwrap();
        assert_eq!(code, ErrorCode::MacroFilterBlocked);
        assert!(reason.contains("below"), "{reason}");
        // 7 days old passes, 8 does not; missing fails closed.
        assert!(macro_gate(&f, Some(&dgs10(4.0, "2026-12-01")), now).is_none());
        let (code, _) = macro_gate(&f, Some(&dgs10(4.0, "2026-11-30")), now).unwrap();
        assert_eq!(code, ErrorCode::MacroDataStale);
        let (code, _) = macro_gate(&f, None, now).unwrap();
        assert_eq!(code, ErrorCode::MacroDataStale);
    }
}
