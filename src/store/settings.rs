//! The global settings row (trading switch, kill switch, alert routing).

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::domain::alert_routing::AlertRouting;

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

/// The global kill switch (latching: stays active until explicitly released).
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize, utoipa::ToSchema)]
pub struct KillSwitch {
    pub active: bool,
    pub reason: Option<String>,
    pub changed_at: Option<DateTime<Utc>>,
    pub changed_by: Option<String>,
}

pub async fn kill_switch(pool: &PgPool) -> Result<KillSwitch, sqlx::Error> {
    sqlx::query_as(
        "SELECT kill_switch_active AS active, kill_switch_reason AS reason, \
         kill_switch_changed_at AS changed_at, kill_switch_changed_by AS changed_by \
         FROM settings WHERE id",
    )
    .fetch_one(pool)
    .await
}

pub async fn set_kill_switch(
    pool: &PgPool,
    active: bool,
    reason: Option<&str>,
    by: &str,
    at: DateTime<Utc>,
) -> Result<KillSwitch, sqlx::Error> {
    sqlx::query_as(
        "UPDATE settings SET kill_switch_active = $1, kill_switch_reason = $2, \
         kill_switch_changed_at = $3, kill_switch_changed_by = $4 WHERE id \
         RETURNING kill_switch_active AS active, kill_switch_reason AS reason, \
         kill_switch_changed_at AS changed_at, kill_switch_changed_by AS changed_by",
    )
    .bind(active)
    .bind(reason)
    .bind(at)
    .bind(by)
    .fetch_one(pool)
    .await
}

/// The stored alert routing (`domain::alert_routing`) and who changed it last.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct StoredAlertRouting {
    #[serde(flatten)]
    pub routing: AlertRouting,
    pub updated_at: Option<DateTime<Utc>>,
    pub updated_by: Option<String>,
}

type RoutingRow = (Vec<String>, bool, Option<DateTime<Utc>>, Option<String>);

fn stored(row: RoutingRow) -> StoredAlertRouting {
    let (severities, kills, updated_at, updated_by) = row;
    StoredAlertRouting {
        routing: AlertRouting { severities, kills },
        updated_at,
        updated_by,
    }
}

pub async fn alert_routing(pool: &PgPool) -> Result<StoredAlertRouting, sqlx::Error> {
    let row: RoutingRow = sqlx::query_as(
        "SELECT alert_severities, alert_kills, alerts_updated_at, alerts_updated_by \
         FROM settings WHERE id",
    )
    .fetch_one(pool)
    .await?;
    Ok(stored(row))
}

pub async fn set_alert_routing(
    pool: &PgPool,
    routing: &AlertRouting,
    by: &str,
    at: DateTime<Utc>,
) -> Result<StoredAlertRouting, sqlx::Error> {
    let row: RoutingRow = sqlx::query_as(
        "UPDATE settings SET alert_severities = $1, alert_kills = $2, alerts_updated_at = $3, \
         alerts_updated_by = $4 WHERE id \
         RETURNING alert_severities, alert_kills, alerts_updated_at, alerts_updated_by",
    )
    .bind(&routing.severities)
    .bind(routing.kills)
    .bind(at)
    .bind(by)
    .fetch_one(pool)
    .await?;
    Ok(stored(row))
}
