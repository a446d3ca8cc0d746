//! `GET /api/system/status` (SPEC §5): the runtime's system status (`runtime::system_status`)
//! in the envelope.

use axum::extract::State;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{ApiOk, ApiResult, AppState, envelope::Envelope};
use crate::{runtime::system_status::SystemStatus, trace::TraceId};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(system_status))
}

/// System status, blockers with severity and fix, tier counts, scheduler and breakers.
#[utoipa::path(
    get,
    path = "/api/system/status",
    tag = "system",
    responses((status = 200, body = Envelope<SystemStatus>))
)]
async fn system_status(State(state): State<AppState>) -> ApiResult<SystemStatus> {
    Ok(ApiOk::new(state.runtime.system_status(&TraceId::current())))
}
