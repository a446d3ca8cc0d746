//! `auth_throttle`: per key, consecutive failures (attempts count as failures from the moment
//! they are admitted), the time until the next attempt, the global key's window start and, on
//! pair keys, the last full sign-in. The policy is `auth::throttle`; this file only locks, reads
//! and writes rows.

use chrono::{DateTime, Utc};
use sqlx::{PgPool, Postgres, Transaction};

#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct Row {
    pub key: String,
    pub failures: i32,
    pub blocked_until: DateTime<Utc>,
    pub window_start: Option<DateTime<Utc>>,
    pub last_success_at: Option<DateTime<Utc>>,
}

/// Creates missing rows and locks all of `keys` (sorted, so concurrent attempts always lock in
/// the same order and never deadlock), returning them in key order. One statement: the rows
/// stay locked until the transaction ends.
pub async fn lock(
    tx: &mut Transaction<'_, Postgres>,
    keys: &[String],
    now: DateTime<Utc>,
) -> Result<Vec<Row>, sqlx::Error> {
    let mut sorted = keys.to_vec();
    sorted.sort();
    sorted.dedup();
    let mut rows: Vec<Row> = sqlx::query_as(
        "INSERT INTO auth_throttle (key, failures, blocked_until, updated_at) \
         SELECT k, 0, $2, $2 FROM unnest($1::text[]) AS k ORDER BY k \
         ON CONFLICT (key) DO UPDATE SET key = EXCLUDED.key \
         RETURNING key, failures, blocked_until, window_start, last_success_at",
    )
    .bind(&sorted)
    .bind(now)
    .fetch_all(&mut **tx)
    .await?;
    rows.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(rows)
}

/// Writes the new state of locked rows (one statement).
pub async fn write(
    tx: &mut Transaction<'_, Postgres>,
    rows: &[Row],
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let keys: Vec<&str> = rows.iter().map(|r| r.key.as_str()).collect();
    let failures: Vec<i32> = rows.iter().map(|r| r.failures).collect();
    let blocked: Vec<DateTime<Utc>> = rows.iter().map(|r| r.blocked_until).collect();
    let windows: Vec<Option<DateTime<Utc>>> = rows.iter().map(|r| r.window_start).collect();
    let successes: Vec<Option<DateTime<Utc>>> = rows.iter().map(|r| r.last_success_at).collect();
    sqlx::query(
        "UPDATE auth_throttle t SET failures = v.failures, blocked_until = v.blocked_until, \
         window_start = v.window_start, last_success_at = v.last_success_at, updated_at = $6 \
         FROM unnest($1::text[], $2::int4[], $3::timestamptz[], $4::timestamptz[], $5::timestamptz[]) \
           AS v(key, failures, blocked_until, window_start, last_success_at) \
         WHERE t.key = v.key",
    )
    .bind(&keys)
    .bind(&failures)
    .bind(&blocked)
    .bind(&windows)
    .bind(&successes)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Forgets counters untouched since `before` (consecutive failures reset after a quiet spell),
/// keeping pairs that signed in since `known_since`.
pub async fn purge_stale(
    pool: &PgPool,
    before: DateTime<Utc>,
    known_since: DateTime<Utc>,
) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "DELETE FROM auth_throttle WHERE updated_at < $1 AND blocked_until < $1 \
         AND (last_success_at IS NULL OR last_success_at < $2)",
    )
    .bind(before)
    .bind(known_since)
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}
