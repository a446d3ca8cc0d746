//! `cme_holidays`: CME Globex closures and early halts (America/Chicago local dates/times),
//! read by the session-calendar gate.

use chrono::{NaiveDate, NaiveTime};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use utoipa::ToSchema;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow, ToSchema)]
pub struct CmeHoliday {
    pub date: NaiveDate,
    /// `CLOSED` or `EARLY_CLOSE`.
    pub kind: String,
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
    .bind(&h.kind)
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
