//! `GET|POST /api/system/kill-switch`: the global kill switch. Parses, calls the runtime's
//! lifecycle (`Lifecycle::set_kill_switch`: activation kills every running bot and removes the
//! risk of every bot through `runtime::safety`), audits. It latches until an admin releases it
//! explicitly (with a recent 2FA step-up); starts are refused while it is active
//! (`KILL_SWITCH_ACTIVE`).

use axum::extract::State;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::{
    ApiJson, ApiOk, ApiResult, AppState,
    auth::{ClientIp, CurrentUser, audit, require_recent_step_up},
    envelope::{Envelope, ErrorEnvelope},
};
use crate::store::{
    audit_log::{NewAuditEntry, Outcome},
    settings::{self, KillSwitch},
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_kill_switch, set_kill_switch))
}

/// The reason recorded for an activation that gave none.
const NO_REASON: &str = "no reason given";

#[derive(Debug, Deserialize, ToSchema)]
pub struct KillSwitchRequest {
    pub active: bool,
    /// Why, when activating (recorded with the latch; "no reason given" when absent).
    pub reason: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct KillSwitchBody {
    pub kill_switch: KillSwitch,
    /// Bots killed by this activation (empty otherwise).
    pub killed_bot_ids: Vec<Uuid>,
    /// Working orders cancelled by this activation (empty otherwise).
    pub cancelled_order_ids: Vec<Uuid>,
}

/// The kill switch's state.
#[utoipa::path(
    get,
    path = "/api/system/kill-switch",
    tag = "system",
    responses((status = 200, body = Envelope<KillSwitchBody>))
)]
async fn get_kill_switch(State(state): State<AppState>) -> ApiResult<KillSwitchBody> {
    Ok(ApiOk::new(KillSwitchBody {
        kill_switch: settings::kill_switch(&state.pool).await?,
        killed_bot_ids: Vec::new(),
        cancelled_order_ids: Vec::new(),
    }))
}

/// Activates (kills every running bot; SEV-1) or releases the global kill switch.
#[utoipa::path(
    post,
    path = "/api/system/kill-switch",
    tag = "system",
    security(("session" = ["admin"])),
    request_body = KillSwitchRequest,
    responses(
        (status = 200, body = Envelope<KillSwitchBody>),
        (status = 401, description = "`TWO_FACTOR_REQUIRED`: a release without a 2FA verification within the step-up window (POST /api/auth/step-up first), or 2FA not enrolled", body = ErrorEnvelope),
        (status = 403, description = "`FORBIDDEN`", body = ErrorEnvelope),
        (status = 422, description = "`VALIDATION_FAILED`: `active` missing or not a boolean", body = ErrorEnvelope),
    )
)]
async fn set_kill_switch(
    State(state): State<AppState>,
    CurrentUser(me): CurrentUser,
    ip: ClientIp,
    ApiJson(body): ApiJson<KillSwitchRequest>,
) -> ApiResult<KillSwitchBody> {
    let reason = body
        .reason
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(|r| r.chars().take(500).collect::<String>());
    // Pulling the emergency stop is never made harder than the risk it stops: an admin may
    // activate it without a step-up or a reason (SPEC's body is `{active}`). Releasing it lets
    // bots trade again: that needs a recent 2FA verification.
    if !body.active {
        require_recent_step_up(&state, &me)?;
    }
    let reason = body
        .active
        .then(|| reason.unwrap_or_else(|| NO_REASON.to_owned()));
    let change = state
        .lifecycle()
        .set_kill_switch(body.active, reason.as_deref(), &me.email)
        .await?;
    let cancelled = change.cancelled();
    audit(
        &state,
        NewAuditEntry::new(
            me.actor(),
            "system.kill_switch",
            Outcome::Success,
            state.clock.now(),
        )
        .target("settings.kill_switch_active")
        .ip(Some(ip.0))
        .metadata(json!({
            "from": change.before.active, "to": change.after.active,
            "reason": change.after.reason, "killed_bots": change.killed.len(),
            "cancelled_orders": cancelled.len(),
        })),
    )
    .await;
    Ok(ApiOk::new(KillSwitchBody {
        kill_switch: change.after,
        killed_bot_ids: change.killed,
        cancelled_order_ids: cancelled,
    }))
}
