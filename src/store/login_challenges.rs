//! `login_challenges`: the temp token between a correct password and the second factor.
//! 256-bit random, stored hashed, single use, 5-minute TTL, revoked after 5 bad codes.

use chrono::{DateTime, Duration, Utc};
use sqlx::PgPool;
use uuid::Uuid;

pub const TTL_MINUTES: i64 = 5;
pub const MAX_FAILURES: i32 = 5;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Challenge {
    pub id: Uuid,
    pub user_id: Uuid,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub failures: i32,
    pub consumed_at: Option<DateTime<Utc>>,
}

pub async fn create(
    pool: &PgPool,
    user_id: Uuid,
    token_hash: &[u8],
    now: DateTime<Utc>,
) -> Result<Challenge, sqlx::Error> {
    sqlx::query_as(
        "INSERT INTO login_challenges (id, token_hash, user_id, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5) RETURNING id, user_id, created_at, expires_at, failures, consumed_at",
    )
    .bind(Uuid::now_v7())
    .bind(token_hash)
    .bind(user_id)
    .bind(now)
    .bind(now + Duration::minutes(TTL_MINUTES))
    .fetch_one(pool)
    .await
}

/// Claims the usable challenge for this token (not used, expired or revoked) for one
/// verification attempt, atomically: of concurrent attempts with one token only one gets it.
/// The claim is final on success; a failed attempt hands it back with [`fail`].
pub async fn claim(
    pool: &PgPool,
    token_hash: &[u8],
    now: DateTime<Utc>,
) -> Result<Option<Challenge>, sqlx::Error> {
    sqlx::query_as(
        "UPDATE login_challenges SET consumed_at = $2 \
         WHERE token_hash = $1 AND consumed_at IS NULL AND expires_at > $2 AND failures < $3 \
         RETURNING id, user_id, created_at, expires_at, failures, consumed_at",
    )
    .bind(token_hash)
    .bind(now)
    .bind(MAX_FAILURES)
    .fetch_optional(pool)
    .await
}

/// Hands a claimed challenge back without using it (the attempt was refused before any code
/// was checked, e.g. throttled).
pub async fn release(pool: &PgPool, id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE login_challenges SET consumed_at = NULL WHERE id = $1")
        .bind(id)
        .execute(pool)
        .await?;
    Ok(())
}

/// Counts a bad code and hands the challenge back; returns the failures so far (at
/// MAX_FAILURES the token is dead).
pub async fn fail(pool: &PgPool, id: Uuid) -> Result<i32, sqlx::Error> {
    sqlx::query_scalar(
        "UPDATE login_challenges SET failures = failures + 1, consumed_at = NULL WHERE id = $1 \
         RETURNING failures",
    )
    .bind(id)
    .fetch_one(pool)
    .await
}
