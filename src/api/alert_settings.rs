//! Alert routing (issue 20 part 3): `GET|PUT /api/settings/alerts` (which severities go to
//! Discord; the alerts task reads it at every poll) and `POST /api/settings/alerts/test` (one
//! test message through the Discord call path).

use axum::extract::State;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use crate::runtime::alerts::AlertStats;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    ApiError, ApiJson, ApiOk, ApiResult, AppState,
    auth::{CurrentUser, audit},
    envelope::{Envelope, ErrorEnvelope},
};
use crate::{
    domain::alert_routing::AlertRouting,
    error_code::ErrorCode,
    runtime::alerts::{self, TestAlertError},
    store::{
        audit_log::{NewAuditEntry, Outcome},
        settings::{self, StoredAlertRouting},
    },
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_alert_settings, put_alert_settings))
        .routes(routes!(test_alert))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AlertSettingsBody {
    pub routing: StoredAlertRouting,
    /// `discord` is configured (`DISCORD_WEBHOOK_URL`): without it nothing is posted.
    pub discord_configured: bool,
    /// The alerts task runs (configured, and its webhook not rejected); whether its posts
    /// arrive is in `alerts`.
    pub alerts_enabled: bool,
    /// This server leads the cluster, so its alerts task is the one posting (one node posts
    /// for all): `alerts` counts those posts. On another node `alerts` counts nothing posted.
    pub posts_here: bool,
    /// What this server's alerts task did: posts accepted and failed, failed reads of the
    /// events, the latest post and the latest failure's code.
    pub alerts: AlertStats,
}

fn body(state: &AppState, routing: StoredAlertRouting) -> AlertSettingsBody {
    AlertSettingsBody {
        routing,
        discord_configured: state.integrations.client("discord").is_some(),
        alerts_enabled: state.runtime.alert_stats().enabled,
        posts_here: state.runtime.leadership().is_leader(),
        alerts: state.runtime.alert_stats(),
    }
}

/// The alert routing: which severities are posted to Discord, and whether kills are posted
/// whatever their severity.
#[utoipa::path(
    get,
    path = "/api/settings/alerts",
    tag = "system",
    responses(
        (status = 200, body = Envelope<AlertSettingsBody>),
        (status = 503, description = "`DATABASE_UNAVAILABLE`", body = ErrorEnvelope),
    )
)]
async fn get_alert_settings(State(state): State<AppState>) -> ApiResult<AlertSettingsBody> {
    let routing = settings::alert_routing(&state.pool).await?;
    Ok(ApiOk::new(body(&state, routing)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutAlertSettings {
    /// Severities to post: any of `SEV-1`, `SEV-2`, `SEV-3`, `INFO` (may be empty).
    pub severities: Vec<String>,
    /// Post kills whatever their severity.
    pub kills: bool,
}

/// Sets the alert routing (admin). It holds from the alerts task's next poll (within a second).
#[utoipa::path(
    put,
    path = "/api/settings/alerts",
    tag = "system",
    security(("session" = ["admin"])),
    request_body = PutAlertSettings,
    responses(
        (status = 200, body = Envelope<AlertSettingsBody>),
        (status = 422, description = "`VALIDATION_FAILED`: an unknown severity", body = ErrorEnvelope),
    )
)]
async fn put_alert_settings(
    State(state): State<AppState>,
    CurrentUser(me): CurrentUser,
    ApiJson(req): ApiJson<PutAlertSettings>,
) -> ApiResult<AlertSettingsBody> {
    let routing = AlertRouting::new(&req.severities, req.kills)
        .map_err(|e| ApiError::validation("severities", e))?;
    let before = settings::alert_routing(&state.pool).await?;
    let after =
        settings::set_alert_routing(&state.pool, &routing, &me.email, state.clock.now()).await?;
    audit(
        &state,
        NewAuditEntry::new(
            me.actor(),
            "settings.alerts",
            Outcome::Success,
            state.clock.now(),
        )
        .target("settings:alerts")
        .metadata(json!({ "before": before.routing, "after": after.routing.clone() })),
    )
    .await;
    Ok(ApiOk::new(body(&state, after)))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TestAlertBody {
    /// Discord accepted the message.
    pub sent: bool,
    /// The message posted.
    pub content: String,
}

/// Posts one test message to the Discord webhook (a usage event `alert.post`), naming the
/// current routing. Never retried.
#[utoipa::path(
    post,
    path = "/api/settings/alerts/test",
    tag = "system",
    security(("session" = ["operator"])),
    responses(
        (status = 200, body = Envelope<TestAlertBody>),
        (status = 409, description = "`INTEGRATION_KEY_MISSING`: `DISCORD_WEBHOOK_URL` is not set", body = ErrorEnvelope),
        (status = 502, description = "`INTEGRATION_VERIFY_FAILED`: Discord refused or did not answer (`details` has its code)", body = ErrorEnvelope),
    )
)]
async fn test_alert(
    State(state): State<AppState>,
    CurrentUser(me): CurrentUser,
) -> ApiResult<TestAlertBody> {
    let routing = settings::alert_routing(&state.pool).await?.routing;
    let sent = alerts::send_test(
        state.integrations.client("discord"),
        &routing,
        &me.email,
        state.clock.now(),
    )
    .await;
    let outcome = if sent.is_ok() {
        Outcome::Success
    } else {
        Outcome::Failed
    };
    audit(
        &state,
        NewAuditEntry::new(
            me.actor(),
            "settings.alerts.test",
            outcome,
            state.clock.now(),
        )
        .target("provider:discord"),
    )
    .await;
    match sent {
        Ok(content) => Ok(ApiOk::new(TestAlertBody {
            sent: true,
            content,
        })),
        Err(TestAlertError::NotConfigured) => Err(ApiError::new(ErrorCode::IntegrationKeyMissing)
            .message("Discord is not configured: no alert can be sent.")
            .fix("Set DISCORD_WEBHOOK_URL (a Discord channel webhook) and restart tradeplane.")
            .details(
                json!({ "provider_id": "discord", "missing_env_vars": ["DISCORD_WEBHOOK_URL"] }),
            )),
        Err(TestAlertError::Failed(f)) => Err(ApiError::new(ErrorCode::IntegrationVerifyFailed)
            .message(format!(
                "Discord did not accept the test message: {}",
                f.message
            ))
            .fix(
                "Check DISCORD_WEBHOOK_URL (the webhook may be deleted) and Connections → discord.",
            )
            .details(
                json!({ "provider_id": "discord", "code": f.code, "http_status": f.http_status }),
            )),
    }
}
