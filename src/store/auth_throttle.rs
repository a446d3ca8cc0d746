//! `auth_throttle`: consecutive failures and the time until the next attempt, per key
//! (`acct:<email>` across every address, `ip:<address>` across every account).

use chrono::{DateTime, Utc};
use sqlx::PgPool;

/// The latest `blocked_until` among `keys` that is still in the future.
pub async fn blocked_until(
    pool: &PgPool,
    keys: &[String],
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT max(blocked_until) FROM auth_throttle WHERE key = ANY($1) AND blocked_until > $2",
    )
    .bind(keys)
    .bind(now)
    .fetch_one(pool)
    .await
}

/// Adds a failure and returns the new consecutive count.
pub async fn add_failure(pool: &PgPool, key: &str, now: DateTime<Utc>) -> Result<i32, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO auth_throttle (key, failures, blocked_until, updated_at) VALUES ($1, 1, $2, $2) \
         ON CONFLICT (key) DO UPDATE SET failures = auth_throttle.failures + 1, updated_at = $2 \
         RETURNING failures",
    )
    .bind(key)
    .bind(now)
    .fetch_one(pool)
    .await
}

pub async fn block(pool: &PgPool, key: &str, until: DateTime<Utc>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE auth_throttle SET blocked_until = GREATEST(blocked_until, $2) WHERE key = $1",
    )
    .bind(key)
    .bind(until)
    .execute(pool)
    .await?;
    Ok(())
}

pub async fn reset(pool: &PgPool, keys: &[String]) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM auth_throttle WHERE key = ANY($1)")
        .bind(keys)
        .execute(pool)
        .await?;
    Ok(())
}

/// Forgets counters untouched since `before` (consecutive failures reset after a quiet spell).
pub async fn purge_stale(pool: &PgPool, before: DateTime<Utc>) -> Result<u64, sqlx::Error> {
    let done =
        sqlx::query("DELETE FROM auth_throttle WHERE updated_at < $1 AND blocked_until < $1")
            .bind(before)
            .execute(pool)
            .await?;
    Ok(done.rows_affected())
}
