//! `/api/runtime/status`: live state of the supervision tree, read from in-memory snapshots
//! (never awaits an actor or Postgres, so it answers even when they are stuck).

use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{ApiOk, ApiResult, AppState, envelope::Envelope};
use crate::runtime::{
    BreakerView, RunnerSnapshot, SchedulerHealth, TelemetryStats, brokers::SessionHealth,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(runtime_status))
        .routes(routes!(broker_sessions))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RuntimeStatus {
    /// The bar clock: `loop_health` is `UNKNOWN` (no tick yet, or no runtime), `OK`,
    /// `LAGGING` or `STALLED`.
    pub scheduler: SchedulerHealth,
    pub runners: Vec<RunnerSnapshot>,
    pub breakers: Vec<BreakerView>,
    pub telemetry: TelemetryStats,
    /// One per configured broker account: login, heartbeats, cancel-on-disconnect hold and
    /// the user stream's status and counts (Tradovate, Ironbeam).
    pub brokers: Vec<SessionHealth>,
}

/// Scheduler health, bot runners, their circuit breakers, the telemetry writer's counters and
/// the broker sessions' health.
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
        brokers: broker_health(&state),
    }))
}

fn broker_health(state: &AppState) -> Vec<SessionHealth> {
    state
        .runtime
        .brokers()
        .map(|b| b.health())
        .unwrap_or_default()
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BrokerSessions {
    /// One per configured broker account on this server (as in `/api/runtime/status`).
    pub sessions: Vec<SessionHealth>,
}

/// This server's broker sessions only: what the Connections page polls, without the runtime
/// status's list of every runner and breaker.
#[utoipa::path(
    get,
    path = "/api/runtime/brokers",
    tag = "runtime",
    responses((status = 200, body = Envelope<BrokerSessions>))
)]
async fn broker_sessions(State(state): State<AppState>) -> ApiResult<BrokerSessions> {
    Ok(ApiOk::new(BrokerSessions {
        sessions: broker_health(&state),
    }))
}
