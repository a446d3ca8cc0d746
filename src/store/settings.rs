//! The global settings row (trading switch).

use chrono::{DateTime, Utc};
use sqlx::PgPool;

#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize, utoipa::ToSchema)]
pub struct Settings {
    pub trading_enabled: bool,
    pub updated_at: DateTime<Utc>,
    pub updated_by: Option<String>,
}

pub async fn get(pool: &PgPool) -> Result<Settings, sqlx::Error> {
    sqlx::query_as("SELECT trading_enabled, updated_at, updated_by FROM settings WHERE id")
        .fetch_one(pool)
        .await
}

pub async fn set_trading_enabled(
    pool: &PgPool,
    enabled: bool,
    by: &str,
) -> Result<Settings, sqlx::Error> {
    sqlx::query_as(
        "UPDATE settings SET trading_enabled = $1, updated_at = now(), updated_by = $2 WHERE id \
         RETURNING trading_enabled, updated_at, updated_by",
    )
    .bind(enabled)
    .bind(by)
    .fetch_one(pool)
    .await
}
