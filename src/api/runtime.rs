//! `/api/runtime/status`: live state of the supervision tree, read from in-memory snapshots
//! (never awaits an actor or Postgres, so it answers even when they are stuck).

use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{ApiOk, ApiResult, AppState, envelope::Envelope};
use crate::runtime::{BreakerView, RunnerSnapshot, SchedulerHealth, TelemetryStats};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(runtime_status))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RuntimeStatus {
    /// The bar clock: `loop_health` is `UNKNOWN` (no tick yet, or no runtime), `OK`,
    /// `LAGGING` or `STALLED`.
    pub scheduler: SchedulerHealth,
    pub runners: Vec<RunnerSnapshot>,
    pub breakers: Vec<BreakerView>,
    pub telemetry: TelemetryStats,
}

/// Scheduler health, bot runners, their circuit breakers and the telemetry writer's counters.
#[utoipa::path(
    get,
    path = "/api/runtime/status",
    tag = "runtime",
    responses((status = 200, body = Envelope<RuntimeStatus>))
)]
async fn runtime_status(State(state): State<AppState>) -> ApiResult<RuntimeStatus> {
    let rt = &state.runtime;
    Ok(ApiOk::new(RuntimeStatus {
        scheduler: rt.scheduler_health(),
        runners: rt.runners(),
        breakers: rt.breakers(),
        telemetry: rt.telemetry_stats(),
    }))
}
