//! `GET|POST /api/system/trading-switch`: the global trading switch (SPEC §1: no order reaches a
//! real broker while it is off). Changing it is admin only; turning it on also needs a recent
//! 2FA step-up (turning it off never does: stopping risk is never made harder); audited
//! and recorded as a system event. The rules are the runtime's (`safety::set_trading_switch`):
//! the runners see it at their next evaluation (gate `LIVE_TRADING_DISABLED`), and turning it
//! off cancels working LIVE orders when `TRADEPLANE_TRADING_OFF_CANCELS` is on (default).

use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    ApiJson, ApiOk, ApiResult, AppState,
    auth::{ClientIp, CurrentUser, audit, require_recent_step_up},
    envelope::{Envelope, ErrorEnvelope},
};
use crate::runtime::safety;
use crate::store::{
    audit_log::{NewAuditEntry, Outcome},
    settings::{self, Settings},
    system_events::{NewSystemEvent, Severity},
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_trading_switch, set_trading_switch))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct TradingSwitch {
    pub enabled: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SettingsBody {
    pub settings: Settings,
    /// Whether turning trading off cancels every working LIVE order (the server's
    /// `TRADEPLANE_TRADING_OFF_CANCELS`, default true); new LIVE orders stop at each bot's next
    /// evaluation either way.
    pub off_cancels_working_orders: bool,
    /// LIVE orders this change cancelled (turning off; empty otherwise and on reads).
    pub cancelled_order_ids: Vec<uuid::Uuid>,
}

/// The trading switch's state (who changed it last, and when).
#[utoipa::path(
    get,
    path = "/api/system/trading-switch",
    tag = "system",
    responses(
        (status = 200, body = Envelope<SettingsBody>),
        (status = 503, description = "`DATABASE_UNAVAILABLE`", body = ErrorEnvelope),
    )
)]
async fn get_trading_switch(State(state): State<AppState>) -> ApiResult<SettingsBody> {
    Ok(ApiOk::new(SettingsBody {
        settings: settings::get(&state.pool).await?,
        off_cancels_working_orders: state.runtime.trading_off_cancels(),
        cancelled_order_ids: Vec::new(),
    }))
}

/// Turns live trading on or off globally.
#[utoipa::path(
    post,
    path = "/api/system/trading-switch",
    tag = "system",
    security(("session" = ["admin"])),
    request_body = TradingSwitch,
    responses(
        (status = 200, body = Envelope<SettingsBody>),
        (status = 401, description = "`TWO_FACTOR_REQUIRED`: turning it on without a 2FA verification within the step-up window (POST /api/auth/step-up first), or 2FA not enrolled", body = ErrorEnvelope),
        (status = 403, description = "`FORBIDDEN`", body = ErrorEnvelope),
    )
)]
async fn set_trading_switch(
    State(state): State<AppState>,
    CurrentUser(me): CurrentUser,
    ip: ClientIp,
    ApiJson(body): ApiJson<TradingSwitch>,
) -> ApiResult<SettingsBody> {
    if body.enabled {
        require_recent_step_up(&state, &me)?;
    }
    let switched =
        safety::set_trading_switch(&state.runtime, &state.pool, body.enabled, &me.email).await?;
    let (before, after) = (&switched.before, &switched.after);
    let cancelled: Vec<uuid::Uuid> = switched
        .off
        .removals
        .iter()
        .flat_map(|r| r.cancelled.iter().map(|o| o.id))
        .collect();
    audit(
        &state,
        NewAuditEntry::new(
            me.actor(),
            "system.trading_switch",
            Outcome::Success,
            state.clock.now(),
        )
        .target("settings.trading_enabled")
        .ip(Some(ip.0))
        .metadata(serde_json::json!({
            "from": before.trading_enabled, "to": after.trading_enabled,
            "cancelled_orders": cancelled.len(),
        })),
    )
    .await;
    let state_word = if after.trading_enabled { "ON" } else { "OFF" };
    let event = NewSystemEvent::new(
        Severity::Info,
        "TRADING_SWITCH_CHANGED",
        format!("Global trading switch turned {state_word} by {}", me.email),
    )
    .metadata(serde_json::json!({
        "enabled": after.trading_enabled, "by": me.email, "cancelled_order_ids": &cancelled,
    }));
    state.record_event(event).await;
    Ok(ApiOk::new(SettingsBody {
        settings: switched.after,
        off_cancels_working_orders: state.runtime.trading_off_cancels(),
        cancelled_order_ids: cancelled,
    }))
}
