//! `sessions`: server-side browser sessions. The cookie carries a 256-bit random value; the row
//! stores its SHA-256 only. Idle and absolute expiry are checked against the injected clock.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use sqlx::PgPool;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::domain::access::Role;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Session {
    pub id: Uuid,
    pub user_id: Uuid,
    pub csrf_hash: Vec<u8>,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub step_up_at: Option<DateTime<Utc>>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// A live session joined with the user it belongs to.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LiveSession {
    #[sqlx(flatten)]
    pub session: Session,
    pub email: String,
    pub role: Role,
    pub two_factor_enabled: bool,
    /// When the user was created (the first admin's 2FA grace runs from it).
    pub user_created_at: DateTime<Utc>,
    /// The user is the oldest account (the first admin).
    pub first_user: bool,
}

/// A session as its owner sees it in the list.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SessionView {
    pub id: Uuid,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub step_up_at: Option<DateTime<Utc>>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// The session this request was made with.
    pub current: bool,
}

impl Session {
    pub fn view(&self, current: Uuid) -> SessionView {
        SessionView {
            id: self.id,
            created_at: self.created_at,
            last_seen_at: self.last_seen_at,
            expires_at: self.expires_at,
            step_up_at: self.step_up_at,
            ip: self.ip.clone(),
            user_agent: self.user_agent.clone(),
            current: self.id == current,
        }
    }
}

pub struct NewSession<'a> {
    pub user_id: Uuid,
    pub token_hash: &'a [u8],
    pub csrf_hash: &'a [u8],
    pub now: DateTime<Utc>,
    pub absolute: Duration,
    pub step_up_at: Option<DateTime<Utc>>,
    pub ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
}

pub async fn create<'e, E>(exec: E, new: NewSession<'_>) -> Result<Session, sqlx::Error>
where
    E: sqlx::Executor<'e, Database = sqlx::Postgres>,
{
    sqlx::query_as(
        "INSERT INTO sessions (id, token_hash, csrf_hash, user_id, created_at, last_seen_at, expires_at, step_up_at, ip, user_agent) \
         VALUES ($1, $2, $3, $4, $5, $5, $6, $7, $8, $9) \
         RETURNING id, user_id, csrf_hash, created_at, last_seen_at, expires_at, step_up_at, ip, user_agent",
    )
    .bind(Uuid::now_v7())
    .bind(new.token_hash)
    .bind(new.csrf_hash)
    .bind(new.user_id)
    .bind(new.now)
    .bind(new.now + new.absolute)
    .bind(new.step_up_at)
    .bind(new.ip)
    .bind(new.user_agent.map(|ua| ua.chars().take(300).collect::<String>()))
    .fetch_one(exec)
    .await
}

/// The live session for a cookie value's hash, touching `last_seen_at`. `None` when unknown,
/// idle too long, past its absolute expiry, or its user is disabled.
pub async fn authenticate(
    pool: &PgPool,
    token_hash: &[u8],
    now: DateTime<Utc>,
    idle: Duration,
) -> Result<Option<LiveSession>, sqlx::Error> {
    sqlx::query_as(
        "UPDATE sessions s SET last_seen_at = GREATEST(s.last_seen_at, $2) FROM users u \
         WHERE s.token_hash = $1 AND u.id = s.user_id AND u.disabled_at IS NULL \
         AND s.last_seen_at > $2 - $3::interval AND s.expires_at > $2 \
         RETURNING s.id, s.user_id, s.csrf_hash, s.created_at, s.last_seen_at, s.expires_at, \
                   s.step_up_at, s.ip, s.user_agent, u.email, u.role, u.two_factor_enabled, \
                   u.created_at AS user_created_at, \
                   u.id = (SELECT f.id FROM users f ORDER BY f.created_at, f.id LIMIT 1) AS first_user",
    )
    .bind(token_hash)
    .bind(now)
    .bind(idle)
    .fetch_optional(pool)
    .await
}

/// Gives a session a new cookie value (and CSRF token): the old value stops working at once.
/// With `step_up_at`, records a fresh 2FA step-up.
pub async fn rotate(
    pool: &PgPool,
    id: Uuid,
    token_hash: &[u8],
    csrf_hash: &[u8],
    step_up_at: Option<DateTime<Utc>>,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE sessions SET token_hash = $2, csrf_hash = $3, step_up_at = COALESCE($4, step_up_at) \
         WHERE id = $1",
    )
    .bind(id)
    .bind(token_hash)
    .bind(csrf_hash)
    .bind(step_up_at)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn delete_by_hash(pool: &PgPool, token_hash: &[u8]) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
        .bind(token_hash)
        .execute(pool)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Deletes one of the user's own sessions.
pub async fn delete_own(pool: &PgPool, user_id: Uuid, id: Uuid) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM sessions WHERE id = $1 AND user_id = $2")
        .bind(id)
        .bind(user_id)
        .execute(pool)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Deletes every session of the user except `keep`; returns how many.
pub async fn delete_others(pool: &PgPool, user_id: Uuid, keep: Uuid) -> Result<u64, sqlx::Error> {
    let done = sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND id <> $2")
        .bind(user_id)
        .bind(keep)
        .execute(pool)
        .await?;
    Ok(done.rows_affected())
}

/// The user's sessions that are still live, newest first.
pub async fn list_live(
    pool: &PgPool,
    user_id: Uuid,
    now: DateTime<Utc>,
    idle: Duration,
) -> Result<Vec<Session>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, user_id, csrf_hash, created_at, last_seen_at, expires_at, step_up_at, ip, user_agent \
         FROM sessions WHERE user_id = $1 AND expires_at > $2 AND last_seen_at > $2 - $3::interval \
         ORDER BY created_at DESC, id DESC",
    )
    .bind(user_id)
    .bind(now)
    .bind(idle)
    .fetch_all(pool)
    .await
}

/// Removes dead sessions and login challenges (housekeeping; expiry is enforced on read).
pub async fn purge_expired(
    pool: &PgPool,
    now: DateTime<Utc>,
    idle: Duration,
) -> Result<u64, sqlx::Error> {
    let sessions = sqlx::query(
        "DELETE FROM sessions WHERE expires_at <= $1 OR last_seen_at <= $1 - $2::interval",
    )
    .bind(now)
    .bind(idle)
    .execute(pool)
    .await?;
    let challenges = sqlx::query("DELETE FROM login_challenges WHERE expires_at <= $1")
        .bind(now)
        .execute(pool)
        .await?;
    Ok(sessions.rows_affected() + challenges.rows_affected())
}
