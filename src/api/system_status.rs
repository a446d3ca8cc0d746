//! `GET /api/system/status` (SPEC §5): the runtime's system status (`runtime::system_status`)
//! in the envelope. The route is public (it must answer with Postgres down, when no session can
//! be checked); a caller not known to be signed in gets it redacted.

use std::time::Duration;

use axum::{extract::State, http::HeaderMap};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{ApiOk, ApiResult, AppState, auth::guard::known_caller, envelope::Envelope};
use crate::{runtime::system_status::SystemStatus, trace::TraceId};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(system_status))
}

/// How long the status waits for the session check before answering redacted (Postgres slow
/// or down must not slow the one answer that reports it).
const CALLER_CHECK: Duration = Duration::from_millis(300);

/// System status, blockers with severity and fix, tier counts, scheduler and breakers. Without
/// a live session or service token (or while it cannot be checked) the blockers' messages and
/// fixes are their codes' catalog texts (`redacted: true`): the specific ones name bots, broker
/// accounts and amounts.
#[utoipa::path(
    get,
    path = "/api/system/status",
    tag = "system",
    responses((status = 200, body = Envelope<SystemStatus>))
)]
async fn system_status(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> ApiResult<SystemStatus> {
    let known = known_caller(&state, &headers, CALLER_CHECK).await;
    let status = state.runtime.system_status(&TraceId::current());
    Ok(ApiOk::new(if known { status } else { status.redacted() }))
}
