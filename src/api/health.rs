//! `/healthz` (the process is up) and `/readyz` (it can do its job: database reachable and
//! every migration applied).

use std::time::Duration;

use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{ApiError, ApiOk, ApiResult, AppState, envelope::Envelope};
use crate::{
    error_code::ErrorCode,
    store::{self, MigrationState},
};

/// A readiness probe gives up on the database after this long.
const DB_PROBE_TIMEOUT: Duration = Duration::from_secs(2);

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
}

#[derive(Serialize, ToSchema)]
pub struct Health {
    /// Always `up`: answering at all is the proof.
    pub status: &'static str,
    pub version: &'static str,
    pub started_at: DateTime<Utc>,
}

/// Liveness: the process is up and serving HTTP.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, body = Envelope<Health>)))]
async fn healthz(State(state): State<AppState>) -> ApiOk<Health> {
    ApiOk::new(Health {
        status: "up",
        version: env!("CARGO_PKG_VERSION"),
        started_at: state.started_at,
    })
}

#[derive(Serialize, ToSchema)]
pub struct Readiness {
    pub ready: bool,
    /// `ok` when reachable.
    pub database: &'static str,
    /// `current` when every migration is applied.
    pub migrations: &'static str,
}

/// Readiness: the database answers within 2 s and every migration is applied.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, body = Envelope<Readiness>),
        (status = 503, description = "Database unreachable or migrations pending (`DATABASE_UNAVAILABLE`)",
            body = super::envelope::ErrorEnvelope),
    ))]
async fn readyz(State(state): State<AppState>) -> ApiResult<Readiness> {
    let probe = tokio::time::timeout(DB_PROBE_TIMEOUT, store::migration_state(&state.pool)).await;
    match probe {
        Ok(Ok(MigrationState::Current)) => Ok(ApiOk::new(Readiness {
            ready: true,
            database: "ok",
            migrations: "current",
        })),
        Ok(Ok(MigrationState::Pending(versions))) => Err(ApiError::new(
            ErrorCode::DatabaseUnavailable,
        )
        .message("The database schema is not up to date.")
        .fix("Run `tradeplane migrate` (serve runs it on start).")
        .details(serde_json::json!({ "database": "ok", "pending_migrations": versions }))),
        Ok(Err(err)) => Err(ApiError::new(ErrorCode::DatabaseUnavailable)
            .details(serde_json::json!({ "database": "error", "reason": err.to_string() }))),
        Err(_) => Err(ApiError::new(ErrorCode::DatabaseUnavailable).details(
            serde_json::json!({ "database": "timeout", "timeout_ms": DB_PROBE_TIMEOUT.as_millis() }),
        )),
    }
}
