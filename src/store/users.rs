//! `users`: accounts, roles and their TOTP/backup-code state.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgPool, Postgres, Transaction, types::Json};
use std::collections::BTreeMap;
use utoipa::ToSchema;
use uuid::Uuid;

use super::page::{Cursor, Page};
use crate::domain::access::Role;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct User {
    pub id: Uuid,
    pub email: String,
    pub password_hash: String,
    pub role: Role,
    pub created_at: DateTime<Utc>,
    pub disabled_at: Option<DateTime<Utc>>,
    pub two_factor_enabled: bool,
    pub two_factor_secret_encrypted: Option<Vec<u8>>,
    pub two_factor_method: Option<String>,
    pub two_factor_backup_codes_hash: Json<BTreeMap<String, String>>,
    pub two_factor_enrolled_at: Option<DateTime<Utc>>,
    pub two_factor_last_verified_at: Option<DateTime<Utc>>,
    pub two_factor_last_step: Option<i64>,
    pub two_factor_pending_secret_encrypted: Option<Vec<u8>>,
}

impl User {
    pub fn view(&self) -> UserView {
        UserView {
            id: self.id,
            email: self.email.clone(),
            role: self.role,
            created_at: self.created_at,
            disabled: self.disabled_at.is_some(),
            disabled_at: self.disabled_at,
            two_factor_enabled: self.two_factor_enabled,
            two_factor_method: self.two_factor_method.clone(),
            two_factor_enrolled_at: self.two_factor_enrolled_at,
            two_factor_last_verified_at: self.two_factor_last_verified_at,
            backup_codes_remaining: self.two_factor_backup_codes_hash.0.len(),
        }
    }
}

/// A user as the API shows it: never a hash or a secret.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UserView {
    pub id: Uuid,
    pub email: String,
    pub role: Role,
    pub created_at: DateTime<Utc>,
    pub disabled: bool,
    pub disabled_at: Option<DateTime<Utc>>,
    pub two_factor_enabled: bool,
    /// `TOTP` once enrolled.
    pub two_factor_method: Option<String>,
    pub two_factor_enrolled_at: Option<DateTime<Utc>>,
    pub two_factor_last_verified_at: Option<DateTime<Utc>>,
    pub backup_codes_remaining: usize,
}

pub async fn by_email(pool: &PgPool, email: &str) -> Result<Option<User>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM users WHERE lower(email) = lower($1)")
        .bind(email.trim())
        .fetch_optional(pool)
        .await
}

pub async fn by_id(pool: &PgPool, id: Uuid) -> Result<Option<User>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM users WHERE id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await
}

/// Newest first; `after` continues from a previous page's cursor.
/// Users newest first, created in `[from, to)` when given.
pub async fn list(
    pool: &PgPool,
    after: Option<Cursor>,
    limit: i64,
    (from, to): (Option<DateTime<Utc>>, Option<DateTime<Utc>>),
) -> Result<Page<User>, sqlx::Error> {
    let rows: Vec<User> = sqlx::query_as(
        "SELECT * FROM users WHERE ($1::timestamptz IS NULL OR (created_at, id) < ($1, $2)) \
         AND ($4::timestamptz IS NULL OR created_at >= $4) \
         AND ($5::timestamptz IS NULL OR created_at < $5) \
         ORDER BY created_at DESC, id DESC LIMIT $3",
    )
    .bind(after.map(|c| c.created_at))
    .bind(after.map(|c| c.id))
    .bind(limit + 1)
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await?;
    Ok(Page::from_rows(rows, limit, |u| Cursor {
        created_at: u.created_at,
        id: u.id,
    }))
}

#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    #[error("a user with this email exists")]
    EmailTaken,
    #[error("users already exist")]
    NotFirst,
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

async fn insert(
    tx: &mut Transaction<'_, Postgres>,
    email: &str,
    password_hash: &str,
    role: Role,
    now: DateTime<Utc>,
) -> Result<User, CreateError> {
    let result = sqlx::query_as(
        "INSERT INTO users (id, email, password_hash, role, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING *",
    )
    .bind(Uuid::now_v7())
    .bind(email.trim())
    .bind(password_hash)
    .bind(role.as_str())
    .bind(now)
    .fetch_one(&mut **tx)
    .await;
    match result {
        Ok(user) => Ok(user),
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("23505") => {
            Err(CreateError::EmailTaken)
        }
        Err(e) => Err(e.into()),
    }
}

/// Lock key serializing first-user creation (no two "first admins" under concurrency).
const FIRST_USER_LOCK: i64 = 0x7470_6175_7468_0001;

/// Creates a user; with `only_if_first`, only when no user exists yet (atomically).
pub async fn create(
    pool: &PgPool,
    email: &str,
    password_hash: &str,
    role: Role,
    now: DateTime<Utc>,
    only_if_first: bool,
) -> Result<User, CreateError> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(FIRST_USER_LOCK)
        .execute(&mut *tx)
        .await?;
    if only_if_first {
        let any: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM users)")
            .fetch_one(&mut *tx)
            .await?;
        if any {
            return Err(CreateError::NotFirst);
        }
    }
    let user = insert(&mut tx, email, password_hash, role, now).await?;
    tx.commit().await?;
    Ok(user)
}

pub async fn count(pool: &PgPool) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT count(*) FROM users")
        .fetch_one(pool)
        .await
}

/// Changes role and/or disabled state; disabling also deletes every session of the user, in
/// the same transaction.
pub async fn update(
    pool: &PgPool,
    id: Uuid,
    role: Option<Role>,
    disabled: Option<bool>,
    now: DateTime<Utc>,
) -> Result<Option<User>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let user: Option<User> = sqlx::query_as(
        "UPDATE users SET role = COALESCE($2, role), \
         disabled_at = CASE WHEN $3::boolean IS NULL THEN disabled_at \
                            WHEN $3 THEN COALESCE(disabled_at, $4) ELSE NULL END \
         WHERE id = $1 RETURNING *",
    )
    .bind(id)
    .bind(role.map(Role::as_str))
    .bind(disabled)
    .bind(now)
    .fetch_optional(&mut *tx)
    .await?;
    if disabled == Some(true) {
        sqlx::query("DELETE FROM sessions WHERE user_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM login_challenges WHERE user_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(user)
}

/// Stores a pending enrollment secret; an enabled 2FA is never touched (returns false).
pub async fn set_pending_secret(
    pool: &PgPool,
    id: Uuid,
    sealed: &[u8],
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE users SET two_factor_pending_secret_encrypted = $2 \
         WHERE id = $1 AND NOT two_factor_enabled",
    )
    .bind(id)
    .bind(sealed)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Turns the pending secret into the active one with its first accepted step and a fresh
/// backup-code set, in one statement; false if it was no longer pending (raced or enabled).
pub async fn enable_two_factor(
    pool: &PgPool,
    id: Uuid,
    pending: &[u8],
    step: i64,
    backup_codes: &BTreeMap<String, String>,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE users SET two_factor_enabled = true, two_factor_method = 'TOTP', \
         two_factor_secret_encrypted = two_factor_pending_secret_encrypted, \
         two_factor_pending_secret_encrypted = NULL, two_factor_last_step = $3, \
         two_factor_backup_codes_hash = $4, two_factor_enrolled_at = $5, \
         two_factor_last_verified_at = $5 \
         WHERE id = $1 AND NOT two_factor_enabled AND two_factor_pending_secret_encrypted = $2",
    )
    .bind(id)
    .bind(pending)
    .bind(step)
    .bind(Json(backup_codes))
    .bind(now)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Accepts TOTP step `step` for the user only if it is later than the last accepted one.
/// One statement: of concurrent submissions of one code exactly one sees `true`.
pub async fn consume_totp_step<'e, E>(
    exec: E,
    id: Uuid,
    step: i64,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error>
where
    E: sqlx::Executor<'e, Database = Postgres>,
{
    let done = sqlx::query(
        "UPDATE users SET two_factor_last_step = $2, two_factor_last_verified_at = $3 \
         WHERE id = $1 AND two_factor_enabled \
         AND (two_factor_last_step IS NULL OR two_factor_last_step < $2)",
    )
    .bind(id)
    .bind(step)
    .bind(now)
    .execute(exec)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Removes backup code `code_id` if it still holds `phc` (the hash that was just verified).
/// One statement: of concurrent uses of one code exactly one sees `true`.
pub async fn consume_backup_code<'e, E>(
    exec: E,
    id: Uuid,
    code_id: &str,
    phc: &str,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error>
where
    E: sqlx::Executor<'e, Database = Postgres>,
{
    let done = sqlx::query(
        "UPDATE users SET two_factor_backup_codes_hash = two_factor_backup_codes_hash - $2::text, \
         two_factor_last_verified_at = $4 \
         WHERE id = $1 AND two_factor_enabled AND two_factor_backup_codes_hash ->> $2::text = $3",
    )
    .bind(id)
    .bind(code_id)
    .bind(phc)
    .bind(now)
    .execute(exec)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Replaces the whole backup-code set (old codes void).
pub async fn replace_backup_codes(
    pool: &PgPool,
    id: Uuid,
    backup_codes: &BTreeMap<String, String>,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE users SET two_factor_backup_codes_hash = $2 WHERE id = $1 AND two_factor_enabled",
    )
    .bind(id)
    .bind(Json(backup_codes))
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Removes a user's 2FA (lost device): secret, pending enrollment and backup codes, and ends
/// their sessions and sign-in attempts; they enroll again after their next login.
pub async fn reset_two_factor(pool: &PgPool, id: Uuid) -> Result<Option<User>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let user: Option<User> = sqlx::query_as(
        "UPDATE users SET two_factor_enabled = false, two_factor_secret_encrypted = NULL, \
         two_factor_method = NULL, two_factor_backup_codes_hash = '{}'::jsonb, \
         two_factor_enrolled_at = NULL, two_factor_last_step = NULL, \
         two_factor_pending_secret_encrypted = NULL WHERE id = $1 RETURNING *",
    )
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM sessions WHERE user_id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM login_challenges WHERE user_id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(user)
}
