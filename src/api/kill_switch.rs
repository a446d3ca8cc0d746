//! `GET|POST /api/system/kill-switch`: the global kill switch. Activation kills every running
//! runner, marks those bots KILLED and cancels every working order; it latches until an admin releases it explicitly.
//! Starts are refused while it is active (`KILL_SWITCH_ACTIVE`).

use axum::extract::State;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::{
    ApiError, ApiJson, ApiOk, ApiResult, AppState,
    auth::{ClientIp, CurrentUser, audit},
    envelope::{Envelope, ErrorEnvelope},
};
use crate::store::{
    audit_log::{NewAuditEntry, Outcome},
    bots, orders,
    settings::{self, KillSwitch},
    system_events::{NewSystemEvent, Severity},
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_kill_switch, set_kill_switch))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct KillSwitchRequest {
    pub active: bool,
    /// Required when activating.
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
        (status = 401, description = "`TWO_FACTOR_REQUIRED`: no 2FA verification within the step-up window (POST /api/auth/step-up first), or 2FA not enrolled", body = ErrorEnvelope),
        (status = 403, description = "`FORBIDDEN`", body = ErrorEnvelope),
        (status = 422, description = "`VALIDATION_FAILED`: activation without a reason", body = ErrorEnvelope),
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
    if body.active && reason.is_none() {
        return Err(ApiError::validation(
            "reason",
            "is required to activate the kill switch",
        ));
    }
    let before = settings::kill_switch(&state.pool).await?;
    let now = state.clock.now();
    let after = settings::set_kill_switch(
        &state.pool,
        body.active,
        if body.active { reason.as_deref() } else { None },
        &me.email,
        now,
    )
    .await?;
    state.runtime.set_kill_switch(after.active);
    let mut killed = Vec::new();
    let mut cancelled = Vec::new();
    if body.active {
        // Every bot with a runner in the DB's view, plus any runner the runtime holds.
        let mut ids = bots::active_ids(&state.pool).await?;
        for r in state.runtime.runners() {
            if r.status.is_live() && !ids.contains(&r.bot_id) {
                ids.push(r.bot_id);
            }
        }
        let why = format!("kill switch: {}", reason.as_deref().unwrap_or_default());
        for id in &ids {
            state.runtime.kill(*id, &why);
        }
        {
            let _turn = state.runtime.status_turn().await;
            bots::mark_killed(&state.pool, &ids, now).await?;
        }
        killed = ids;
        cancelled = orders::cancel_all_working(&state.pool, &why, now).await?;
    }
    audit(
        &state,
        NewAuditEntry::new(me.actor(), "system.kill_switch", Outcome::Success, now)
            .target("settings.kill_switch_active")
            .ip(Some(ip.0))
            .metadata(json!({
                "from": before.active, "to": after.active,
                "reason": after.reason, "killed_bots": killed.len(),
                "cancelled_orders": cancelled.len(),
            })),
    )
    .await;
    let event = if body.active {
        NewSystemEvent::new(
            Severity::Sev1,
            "KILL_SWITCH_ACTIVATED",
            format!(
                "Kill switch activated by {}: {} ({} bots killed)",
                me.email,
                reason.as_deref().unwrap_or_default(),
                killed.len()
            ),
        )
    } else {
        NewSystemEvent::new(
            Severity::Info,
            "KILL_SWITCH_RELEASED",
            format!("Kill switch released by {}", me.email),
        )
    }
    .metadata(json!({ "by": me.email, "reason": after.reason, "killed_bot_ids": killed, "cancelled_order_ids": cancelled }));
    state.record_event(event).await;
    Ok(ApiOk::new(KillSwitchBody {
        kill_switch: after,
        killed_bot_ids: killed,
        cancelled_order_ids: cancelled,
    }))
}
