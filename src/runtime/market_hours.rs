//! Market hours from the calendar: the verified `cme_holidays` rows, and the rules for years
//! past them. A date past the verified data is answered from the rules *and* raises a SEV-2
//! `CALENDAR_UNVERIFIED` system event (once per year per process) naming the fix, so nobody
//! trades on a generated calendar without being told.

use std::collections::HashSet;
use std::sync::{Mutex, OnceLock};

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use serde_json::json;
use sqlx::PgPool;

use crate::bus::EventBus;
use crate::domain::{
    instruments::Symbol,
    market_hours::{HoursSource, MarketHours, VerifiedHolidays, market_hours},
};
use crate::error_code::ErrorCode;
use crate::store::{
    cme_holidays,
    system_events::{NewSystemEvent, Severity},
};

/// Why a date's hours must not be relied on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blocker {
    pub message: String,
}

/// Years already reported in this process (one SEV-2 per year, not one per request).
fn reported() -> &'static Mutex<HashSet<i32>> {
    static REPORTED: OnceLock<Mutex<HashSet<i32>>> = OnceLock::new();
    REPORTED.get_or_init(Mutex::default)
}

/// At runtime start: when today's trade date is past the verified holiday data, the SEV-2
/// `CALENDAR_UNVERIFIED` event (the runtime trades on the rule-generated calendar meanwhile).
pub async fn check_today(
    pool: &PgPool,
    bus: &EventBus,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let today = crate::domain::calendar::trade_date(now);
    for_trade_date(pool, bus, now, Symbol::Es, today)
        .await
        .map(drop)
}

/// The session of `date` for `symbol`, and a blocker when its year has no verified rows.
pub async fn for_trade_date(
    pool: &PgPool,
    bus: &EventBus,
    now: DateTime<Utc>,
    symbol: Symbol,
    date: NaiveDate,
) -> Result<(MarketHours, Option<Blocker>), sqlx::Error> {
    let verified = VerifiedHolidays::new(
        cme_holidays::load_calendar(pool)
            .await?
            .holidays()
            .into_iter()
            .cloned()
            .collect(),
    );
    let hours = market_hours(&verified, date);
    if hours.source == HoursSource::Verified {
        return Ok((hours, None));
    }
    let last = verified
        .last_year()
        .map_or_else(|| "none".to_owned(), |y| y.to_string());
    let message = format!(
        "{symbol} hours for {date} come from the holiday rules: the verified CME holiday data \
         (cme_holidays) ends with {last}."
    );
    let first_time = reported()
        .lock()
        .map(|mut years| years.insert(date.year()))
        .unwrap_or(true);
    if first_time {
        let mut event = NewSystemEvent::new(
            Severity::Sev2,
            ErrorCode::CalendarUnverified.as_str(),
            format!(
                "{message} {}",
                ErrorCode::CalendarUnverified.suggested_fix()
            ),
        );
        event.metadata = json!({"year": date.year(), "last_verified_year": verified.last_year()});
        crate::runtime::lifecycle::record_event(pool, bus, event, now).await;
    }
    Ok((hours, Some(Blocker { message })))
}
