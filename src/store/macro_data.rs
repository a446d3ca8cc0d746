//! The economic calendar (`economic_events`, `economic_calendar_fetches`) and FRED observations
//! (`fred_observations`) the entry filters read, and their `fred.<SERIES>` profit variables.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{PgPool, Row};
use uuid::Uuid;

use crate::domain::economic_calendar::{CalendarSnapshot, EconomicEvent, MacroReading};
use crate::domain::strategy_filters::{FilterData, MacroSeries};

/// One FRED observation as fetched (`value` `None` where FRED says ".").
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    pub date: NaiveDate,
    pub value: Option<f64>,
}

/// Stores one successful calendar fetch of `[from, to)`: its events (upserted by provider,
/// country, event and time) and the fetch itself (freshness and coverage).
pub async fn store_calendar(
    pool: &PgPool,
    provider: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    events: &[EconomicEvent],
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    let pick = |f: fn(&EconomicEvent) -> &str| -> Vec<&str> { events.iter().map(f).collect() };
    let at: Vec<DateTime<Utc>> = events.iter().map(|e| e.event_at).collect();
    sqlx::query(
        "INSERT INTO economic_events (provider, event, country, impact, event_at, fetched_at) \
         SELECT DISTINCT ON (v.country, v.event, v.at) $1, v.event, v.country, v.impact, v.at, $6 \
         FROM unnest($2::text[], $3::text[], $4::text[], $5::timestamptz[]) \
              AS v(event, country, impact, at) \
         ON CONFLICT (provider, country, event, event_at) DO UPDATE \
           SET impact = EXCLUDED.impact, fetched_at = EXCLUDED.fetched_at",
    )
    .bind(provider)
    .bind(pick(|e| &e.event))
    .bind(pick(|e| &e.country))
    .bind(pick(|e| &e.impact))
    .bind(&at)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    // An event the vendor no longer lists in the range was moved or cancelled.
    sqlx::query(
        "DELETE FROM economic_events WHERE provider = $1 AND event_at >= $2 AND event_at < $3 \
         AND fetched_at < $4",
    )
    .bind(provider)
    .bind(from)
    .bind(to)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO economic_calendar_fetches (id, provider, range_from, range_to, events, fetched_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(Uuid::now_v7())
    .bind(provider)
    .bind(from)
    .bind(to)
    .bind(i32::try_from(events.len()).unwrap_or(i32::MAX))
    .bind(now)
    .execute(&mut *tx)
    .await?;
    tx.commit().await
}

/// The stored calendar: every event from `since` on, the newest fetch time and the ranges
/// the fetches cover, merged (`None` when nothing was fetched).
pub async fn load_calendar(
    pool: &PgPool,
    since: DateTime<Utc>,
) -> Result<Option<CalendarSnapshot>, sqlx::Error> {
    let Some((fetched_at, covers)) = coverage(pool).await? else {
        return Ok(None);
    };
    let events = events_between(pool, since, None).await?;
    Ok(Some(CalendarSnapshot {
        events,
        fetched_at: Some(fetched_at),
        covers,
    }))
}

/// The newest fetch time and the merged ranges of every stored fetch.
async fn coverage(
    pool: &PgPool,
) -> Result<Option<(DateTime<Utc>, Vec<(DateTime<Utc>, DateTime<Utc>)>)>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT range_from, range_to, fetched_at FROM economic_calendar_fetches \
         ORDER BY fetched_at DESC, id DESC",
    )
    .fetch_all(pool)
    .await?;
    let Some(newest) = rows.first() else {
        return Ok(None);
    };
    let ranges: Vec<(DateTime<Utc>, DateTime<Utc>)> = rows
        .iter()
        .map(|r| (r.get("range_from"), r.get("range_to")))
        .collect();
    Ok(Some((newest.get("fetched_at"), merge_ranges(ranges))))
}

/// Disjoint, ordered ranges covering the same time as `ranges` (touching ones joined).
pub fn merge_ranges(
    mut ranges: Vec<(DateTime<Utc>, DateTime<Utc>)>,
) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    ranges.sort();
    let mut out: Vec<(DateTime<Utc>, DateTime<Utc>)> = Vec::new();
    for (a, b) in ranges {
        match out.last_mut() {
            Some(last) if a <= last.1 => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

/// The stored calendar for a historical replay of `[from, to]`: `None` unless the stored
/// fetches cover the whole range.
pub async fn calendar_for_replay(
    pool: &PgPool,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Option<CalendarSnapshot>, sqlx::Error> {
    let Some((_, covers)) = coverage(pool).await? else {
        return Ok(None);
    };
    if !covers.iter().any(|(a, b)| *a <= from && to <= *b) {
        return Ok(None);
    }
    Ok(Some(CalendarSnapshot {
        events: events_between(pool, from - chrono::Duration::days(1), Some(to)).await?,
        fetched_at: None,
        covers,
    }))
}

async fn events_between(
    pool: &PgPool,
    from: DateTime<Utc>,
    to: Option<DateTime<Utc>>,
) -> Result<Vec<EconomicEvent>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT event, country, impact, event_at FROM economic_events \
         WHERE event_at >= $1 AND ($2::timestamptz IS NULL OR event_at <= $2 + interval '1 day') \
         ORDER BY event_at, country, event",
    )
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .iter()
        .map(|r| EconomicEvent {
            event: r.get("event"),
            country: r.get("country"),
            impact: r.get("impact"),
            event_at: r.get("event_at"),
        })
        .collect())
}

/// Upserts FRED observations of `series` and refreshes its `fred.<SERIES>` profit variable
/// (newest non-missing value and its date).
pub async fn store_observations(
    pool: &PgPool,
    series: MacroSeries,
    obs: &[Observation],
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    let dates: Vec<NaiveDate> = obs.iter().map(|o| o.date).collect();
    let values: Vec<Option<f64>> = obs.iter().map(|o| o.value).collect();
    sqlx::query(
        "INSERT INTO fred_observations (series_id, date, value, fetched_at) \
         SELECT DISTINCT ON (v.date) $1, v.date, v.value, $4 \
         FROM unnest($2::date[], $3::float8[]) AS v(date, value) \
         ON CONFLICT (series_id, date) DO UPDATE \
           SET value = EXCLUDED.value, fetched_at = EXCLUDED.fetched_at",
    )
    .bind(series.as_str())
    .bind(&dates)
    .bind(&values)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    let name = variable_name(series);
    sqlx::query(
        "INSERT INTO profit_variables (id, name, category, source_integration, variable_type, \
           description, latest_value, value_as_of, last_updated_at, created_at) \
         SELECT $1, $2, 'macro', 'fred', 'float', $3, o.value, o.date, $5, $5 \
         FROM (SELECT value, date FROM fred_observations \
               WHERE series_id = $4 AND value IS NOT NULL ORDER BY date DESC LIMIT 1) o \
         ON CONFLICT (name) DO UPDATE SET latest_value = EXCLUDED.latest_value, \
           value_as_of = EXCLUDED.value_as_of, source_integration = 'fred', \
           last_updated_at = EXCLUDED.last_updated_at",
    )
    .bind(Uuid::now_v7())
    .bind(&name)
    .bind(description(series))
    .bind(series.as_str())
    .bind(now)
    .execute(&mut *tx)
    .await?;
    tx.commit().await
}

/// `fred.<SERIES>`.
pub fn variable_name(series: MacroSeries) -> String {
    format!("fred.{}", series.as_str())
}

fn description(series: MacroSeries) -> &'static str {
    match series {
        MacroSeries::Dgs10 => {
            "FRED DGS10: 10-year Treasury constant-maturity yield, percent (daily)"
        }
        MacroSeries::Dgs2 => "FRED DGS2: 2-year Treasury constant-maturity yield, percent (daily)",
        MacroSeries::Fedfunds => "FRED FEDFUNDS: effective federal funds rate, percent (monthly)",
        MacroSeries::Vixcls => "FRED VIXCLS: CBOE volatility index close (daily)",
    }
}

/// The newest non-missing observation of every series stored.
pub async fn latest_readings(pool: &PgPool) -> Result<Vec<MacroReading>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT DISTINCT ON (series_id) series_id, date, value FROM fred_observations \
         WHERE value IS NOT NULL ORDER BY series_id, date DESC",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .iter()
        .filter_map(|r| {
            Some(MacroReading {
                series_id: MacroSeries::parse(r.get::<&str, _>("series_id"))?,
                date: r.get("date"),
                value: r.get("value"),
            })
        })
        .collect())
}

/// How far back the runners' copy of the calendar reaches: a late or replayed evaluation
/// still finds the events of its time (the table keeps every fetched event).
pub const CALENDAR_LOOKBACK_DAYS: i64 = 45;

/// What the runners' filters read: the stored calendar (events from
/// [`CALENDAR_LOOKBACK_DAYS`] before `now` on) and the newest reading of each series.
pub async fn load_filter_data(
    pool: &PgPool,
    now: DateTime<Utc>,
) -> Result<FilterData, sqlx::Error> {
    let since = now - chrono::Duration::days(CALENDAR_LOOKBACK_DAYS);
    let calendar = load_calendar(pool, since).await?;
    let macro_series = latest_readings(pool)
        .await?
        .into_iter()
        .map(|r| (r.series_id, r))
        .collect();
    Ok(FilterData {
        calendar,
        macro_series,
    })
}

/// Records which bots use `fred.<SERIES>` (their macro filter), like `profit_variables::sync_bot`
/// does for strategy variables: `bot_id` is in the used-by list of its series' row only.
pub async fn sync_bot_series<'a, A>(
    db: A,
    bot_id: Uuid,
    series: Option<MacroSeries>,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error>
where
    A: sqlx::Acquire<'a, Database = sqlx::Postgres>,
{
    let bot = bot_id.to_string();
    let keep = series.map(variable_name);
    let mut tx = db.begin().await?;
    sqlx::query(
        "UPDATE profit_variables SET used_by_bot_ids = used_by_bot_ids - $1::text, \
         last_updated_at = $2 \
         WHERE name LIKE 'fred.%' AND used_by_bot_ids ? $1::text \
           AND ($3::text IS NULL OR name <> $3)",
    )
    .bind(&bot)
    .bind(now)
    .bind(&keep)
    .execute(&mut *tx)
    .await?;
    if let Some(series) = series {
        sqlx::query(
            "INSERT INTO profit_variables (id, name, category, source_integration, variable_type, \
               description, used_by_bot_ids, last_updated_at, created_at) \
             VALUES ($1, $2, 'macro', 'fred', 'float', $3, jsonb_build_array($4::text), $5, $5) \
             ON CONFLICT (name) DO UPDATE SET used_by_bot_ids = CASE \
               WHEN profit_variables.used_by_bot_ids ? $4::text THEN profit_variables.used_by_bot_ids \
               ELSE profit_variables.used_by_bot_ids || EXCLUDED.used_by_bot_ids END, \
               last_updated_at = EXCLUDED.last_updated_at",
        )
        .bind(Uuid::now_v7())
        .bind(variable_name(series))
        .bind(description(series))
        .bind(&bot)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    #[test]
    fn ranges_merge_when_they_overlap_or_touch() {
        let r = vec![
            (t("2027-02-01T00:00:00Z"), t("2027-02-14T00:00:00Z")),
            (t("2026-12-15T00:00:00Z"), t("2026-12-29T00:00:00Z")),
            (t("2026-12-01T00:00:00Z"), t("2026-12-15T00:00:00Z")),
            (t("2026-12-03T00:00:00Z"), t("2026-12-05T00:00:00Z")),
        ];
        assert_eq!(
            merge_ranges(r),
            vec![
                (t("2026-12-01T00:00:00Z"), t("2026-12-29T00:00:00Z")),
                (t("2027-02-01T00:00:00Z"), t("2027-02-14T00:00:00Z")),
            ]
        );
    }
}
