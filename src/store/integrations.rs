//! Integration state: the latest verify per provider, the usage rollups behind the status
//! endpoint (maintained by a trigger on `integration_usage_events`) and usage-event pages.

use std::collections::HashMap;

use chrono::{DateTime, DurationRound, Utc};
use serde::Serialize;
use sqlx::{PgPool, Postgres, QueryBuilder};
use utoipa::ToSchema;

use super::{
    page::{Cursor, Page, TimeRange, push_window},
    usage_events::UsageEvent,
};
use crate::domain::provider::Outcome;

#[derive(Debug, Clone, Serialize, sqlx::FromRow, ToSchema)]
pub struct Verification {
    pub provider_id: String,
    pub outcome: Outcome,
    pub error_code: Option<String>,
    pub message: String,
    /// `scheme://host:port` of the endpoint verified.
    pub endpoint: String,
    pub sandbox: bool,
    pub latency_ms: i32,
    pub verified_at: DateTime<Utc>,
    pub trace_id: String,
}

pub async fn upsert_verification(pool: &PgPool, v: &Verification) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO integration_verifications \
         (provider_id, outcome, error_code, message, endpoint, sandbox, latency_ms, verified_at, trace_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
         ON CONFLICT (provider_id) DO UPDATE SET outcome = EXCLUDED.outcome, error_code = EXCLUDED.error_code, \
         message = EXCLUDED.message, endpoint = EXCLUDED.endpoint, sandbox = EXCLUDED.sandbox, \
         latency_ms = EXCLUDED.latency_ms, verified_at = EXCLUDED.verified_at, trace_id = EXCLUDED.trace_id",
    )
    .bind(&v.provider_id)
    .bind(v.outcome)
    .bind(&v.error_code)
    .bind(&v.message)
    .bind(&v.endpoint)
    .bind(v.sandbox)
    .bind(v.latency_ms)
    .bind(v.verified_at)
    .bind(&v.trace_id)
    .execute(pool)
    .await?;
    Ok(())
}

pub async fn verifications(pool: &PgPool) -> Result<HashMap<String, Verification>, sqlx::Error> {
    let rows: Vec<Verification> = sqlx::query_as("SELECT * FROM integration_verifications")
        .fetch_all(pool)
        .await?;
    Ok(rows
        .into_iter()
        .map(|v| (v.provider_id.clone(), v))
        .collect())
}

/// Usage per provider for the status endpoint.
#[derive(Debug, Clone, Default)]
pub struct UsageSummary {
    pub last_used_at: Option<DateTime<Utc>>,
    /// Successful calls in the last 24 h (minute resolution).
    pub ok_count_24h: i64,
    /// The latest error code, if it happened in the last 24 h.
    pub last_error_code_24h: Option<String>,
}

/// provider_id, last_used_at, ok count in 24 h, last error code in 24 h.
type SummaryRow = (String, Option<DateTime<Utc>>, Option<i64>, Option<String>);

/// Reads the rollups only: per provider at most 24 hourly rows, 60 minute rows (the partial
/// first hour of the window) and one latest row,
/// whatever the size of the event table. The window is the 24 h before `now`.
pub async fn usage_summaries(
    pool: &PgPool,
    now: DateTime<Utc>,
) -> Result<HashMap<String, UsageSummary>, sqlx::Error> {
    let rows: Vec<SummaryRow> = sqlx::query_as(
        "WITH edge AS (SELECT $1::timestamptz - interval '24 hours' AS since, \
                              date_trunc('hour', $1::timestamptz - interval '24 hours') + interval '1 hour' AS full_hours), \
         counts AS ( \
             SELECT h.provider_id, h.ok_count FROM integration_usage_hourly h, edge \
             WHERE h.bucket >= edge.full_hours \
             UNION ALL \
             SELECT m.provider_id, m.ok_count FROM integration_usage_minutely m, edge \
             WHERE m.bucket >= date_trunc('minute', edge.since) AND m.bucket < edge.full_hours), \
         totals AS (SELECT provider_id, sum(ok_count)::bigint AS ok_24h FROM counts GROUP BY provider_id) \
         SELECT l.provider_id, l.last_used_at, t.ok_24h, \
                CASE WHEN l.last_error_at >= $1::timestamptz - interval '24 hours' THEN l.last_error_code END \
         FROM integration_usage_latest l LEFT JOIN totals t USING (provider_id)",
    )
    .bind(now)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, last_used_at, ok, code)| {
            (
                id,
                UsageSummary {
                    last_used_at,
                    ok_count_24h: ok.unwrap_or(0),
                    last_error_code_24h: code,
                },
            )
        })
        .collect())
}

/// One hour of a provider's calls, for the uptime bar: ERROR events count refused calls too.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct UptimeBucket {
    /// Start of the hour (UTC).
    pub start: DateTime<Utc>,
    pub ok: i64,
    pub errors: i64,
}

/// How many hourly buckets the uptime bar shows (the current, partial hour last).
pub const UPTIME_HOURS: i64 = 24;

/// Per provider with any usage in the last [`UPTIME_HOURS`] hours, one bucket per hour, oldest
/// first, empty hours included: at most 24 rollup rows per provider.
pub async fn uptime_buckets(
    pool: &PgPool,
    now: DateTime<Utc>,
) -> Result<HashMap<String, Vec<UptimeBucket>>, sqlx::Error> {
    let hour = now
        .duration_trunc(chrono::TimeDelta::hours(1))
        .unwrap_or(now);
    let first = hour - chrono::TimeDelta::hours(UPTIME_HOURS - 1);
    let rows: Vec<(String, DateTime<Utc>, i64, i64)> = sqlx::query_as(
        "SELECT provider_id, bucket, ok_count, error_count FROM integration_usage_hourly \
         WHERE bucket >= $1 AND bucket <= $2",
    )
    .bind(first)
    .bind(hour)
    .fetch_all(pool)
    .await?;
    let mut out: HashMap<String, Vec<UptimeBucket>> = HashMap::new();
    for (provider, bucket, ok, errors) in rows {
        let hours = out.entry(provider).or_insert_with(|| {
            (0..UPTIME_HOURS)
                .map(|i| UptimeBucket {
                    start: first + chrono::TimeDelta::hours(i),
                    ok: 0,
                    errors: 0,
                })
                .collect()
        });
        if let Some(b) = hours.iter_mut().find(|b| b.start == bucket) {
            b.ok = ok;
            b.errors = errors;
        }
    }
    Ok(out)
}

/// One provider's usage events, newest first, keyset-paginated.
pub async fn usage_events_page(
    pool: &PgPool,
    provider_id: &str,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    after: Option<Cursor>,
    limit: i64,
) -> Result<Page<UsageEvent>, sqlx::Error> {
    let mut q = QueryBuilder::<Postgres>::new(
        "SELECT * FROM integration_usage_events WHERE provider_id = ",
    );
    q.push_bind(provider_id.to_owned());
    push_window(&mut q, TimeRange { from, to }, after, limit);
    let rows: Vec<UsageEvent> = q.build_query_as().fetch_all(pool).await?;
    Ok(Page::from_rows(rows, limit, |e| Cursor {
        created_at: e.created_at,
        id: e.id,
    }))
}
