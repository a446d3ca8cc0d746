//! `service_tokens`: credentials of internal writers (e.g. the runner's trace writers).
//! 256-bit random values, stored hashed, scoped, expiring, revocable.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use utoipa::ToSchema;
use uuid::Uuid;

use super::page::{Cursor, Page};

#[derive(Debug, Clone, sqlx::FromRow, Serialize, ToSchema)]
pub struct ServiceToken {
    pub id: Uuid,
    pub name: String,
    pub scopes: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub created_by: Option<Uuid>,
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str =
    "id, name, scopes, created_at, created_by, expires_at, revoked_at, last_used_at";

pub async fn create(
    pool: &PgPool,
    name: &str,
    token_hash: &[u8],
    scopes: &[String],
    created_by: Uuid,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<ServiceToken, sqlx::Error> {
    sqlx::query_as(&format!(
        "INSERT INTO service_tokens (id, name, token_hash, scopes, created_at, created_by, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {COLUMNS}"
    ))
    .bind(Uuid::now_v7())
    .bind(name)
    .bind(token_hash)
    .bind(scopes)
    .bind(now)
    .bind(created_by)
    .bind(expires_at)
    .fetch_one(pool)
    .await
}

/// The usable token with this hash (not revoked, not expired), recording its use.
pub async fn authenticate(
    pool: &PgPool,
    token_hash: &[u8],
    now: DateTime<Utc>,
) -> Result<Option<ServiceToken>, sqlx::Error> {
    sqlx::query_as(&format!(
        "UPDATE service_tokens SET last_used_at = $2 \
         WHERE token_hash = $1 AND revoked_at IS NULL AND expires_at > $2 RETURNING {COLUMNS}"
    ))
    .bind(token_hash)
    .bind(now)
    .fetch_optional(pool)
    .await
}

pub async fn revoke(
    pool: &PgPool,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<Option<ServiceToken>, sqlx::Error> {
    sqlx::query_as(&format!(
        "UPDATE service_tokens SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1 RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(now)
    .fetch_optional(pool)
    .await
}

/// Tokens newest first, created in `[from, to)` when given.
pub async fn list(
    pool: &PgPool,
    after: Option<Cursor>,
    limit: i64,
    (from, to): (Option<DateTime<Utc>>, Option<DateTime<Utc>>),
) -> Result<Page<ServiceToken>, sqlx::Error> {
    let rows: Vec<ServiceToken> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM service_tokens \
         WHERE ($1::timestamptz IS NULL OR (created_at, id) < ($1, $2)) \
         AND ($4::timestamptz IS NULL OR created_at >= $4) \
         AND ($5::timestamptz IS NULL OR created_at < $5) \
         ORDER BY created_at DESC, id DESC LIMIT $3"
    ))
    .bind(after.map(|c| c.created_at))
    .bind(after.map(|c| c.id))
    .bind(limit + 1)
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await?;
    Ok(Page::from_rows(rows, limit, |t| Cursor {
        created_at: t.created_at,
        id: t.id,
    }))
}
