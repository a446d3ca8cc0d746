//! `cme_holidays`: CME Globex closures and early halts (America/Chicago local dates/times),
//! read by the session-calendar gate. The table is the source of truth; migration
//! `20261126500000_cme_holidays_seed.sql` seeds 2026–2027.

use chrono::{NaiveDate, NaiveTime};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use utoipa::ToSchema;

use crate::domain::calendar::{Holiday, HolidayCalendar, HolidayKind};

/// What a holiday row does to the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DayKind {
    Closed,
    EarlyClose,
}

impl DayKind {
    pub const ALL: [DayKind; 2] = [DayKind::Closed, DayKind::EarlyClose];

    pub const fn as_str(self) -> &'static str {
        match self {
            DayKind::Closed => "CLOSED",
            DayKind::EarlyClose => "EARLY_CLOSE",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow, ToSchema)]
pub struct CmeHoliday {
    pub date: NaiveDate,
    pub kind: DayKind,
    /// Chicago time of the early halt (`EARLY_CLOSE` only).
    pub early_close_time: Option<NaiveTime>,
    pub name: String,
}

/// Inserts or replaces one calendar day.
pub async fn upsert(pool: &PgPool, h: &CmeHoliday) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO cme_holidays (date, kind, early_close_time, name) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (date) DO UPDATE SET kind = EXCLUDED.kind, \
         early_close_time = EXCLUDED.early_close_time, name = EXCLUDED.name",
    )
    .bind(h.date)
    .bind(h.kind)
    .bind(h.early_close_time)
    .bind(&h.name)
    .execute(pool)
    .await?;
    Ok(())
}

/// Days in `[from, to]`, oldest first (primary-key range scan).
pub async fn between(
    pool: &PgPool,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<CmeHoliday>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM cme_holidays WHERE date BETWEEN $1 AND $2 ORDER BY date")
        .bind(from)
        .bind(to)
        .fetch_all(pool)
        .await
}

impl CmeHoliday {
    /// The domain rule this row stands for; `Err` says why the row is unusable.
    pub fn to_domain(&self) -> Result<Holiday, String> {
        let kind = match (self.kind, self.early_close_time) {
            (DayKind::Closed, None) => HolidayKind::Closed,
            (DayKind::EarlyClose, Some(t)) => HolidayKind::EarlyClose(t),
            (kind, t) => {
                return Err(format!(
                    "kind {} with early_close_time {t:?} is not CLOSED without a time \
                     or EARLY_CLOSE with one",
                    kind.as_str()
                ));
            }
        };
        Ok(Holiday {
            date: self.date,
            name: self.name.clone(),
            kind,
        })
    }
}

/// The whole table as the session calendar. A row that does not make sense is skipped with a
/// warning (the table's CHECKs should make that impossible; a hand edit may not).
pub async fn load_calendar(pool: &PgPool) -> Result<HolidayCalendar, sqlx::Error> {
    let rows: Vec<CmeHoliday> = sqlx::query_as("SELECT * FROM cme_holidays ORDER BY date")
        .fetch_all(pool)
        .await?;
    Ok(HolidayCalendar::new(rows.iter().filter_map(|row| {
        row.to_domain()
            .map_err(|problem| {
                tracing::warn!(date = %row.date, %problem, "cme_holidays row skipped");
            })
            .ok()
    })))
}

/// How many years past the last verified one the trading calendar generates from the rules.
pub const RULE_YEARS_AHEAD: i32 = 10;

/// The calendar the runtime trades on: the table's rows, plus the rule-generated holidays
/// (`domain::holiday_rules`) of the [`RULE_YEARS_AHEAD`] years after the last year the table
/// covers, so the sessions do not end with the table. Those years are unverified: the runtime
/// raises a SEV-2 `CALENDAR_UNVERIFIED` when it trades in one (`runtime::market_hours`).
pub async fn load_trading_calendar(pool: &PgPool) -> Result<HolidayCalendar, sqlx::Error> {
    use chrono::Datelike;
    let verified = load_calendar(pool).await?;
    let rows: Vec<Holiday> = verified.holidays().into_iter().cloned().collect();
    let Some(last) = rows.iter().map(|h| h.date.year()).max() else {
        return Ok(verified);
    };
    let generated = (last + 1..=last + RULE_YEARS_AHEAD)
        .flat_map(crate::domain::holiday_rules::cme_equity_holidays);
    Ok(HolidayCalendar::new(rows.into_iter().chain(generated)))
}
