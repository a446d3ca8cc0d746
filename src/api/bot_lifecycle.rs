//! `POST /api/bots/{id}/start|stop|restart|kill|rearm|promote`: parse, run the runtime's bot
//! lifecycle (`runtime::lifecycle`, which owns the rules and safe start), audit the caller,
//! answer the bot.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::{
    ApiError, ApiJson, ApiJsonOrDefault, ApiOk, ApiPath, ApiResult, AppState,
    auth::{AuthUser, CurrentUser, audit, require_recent_step_up},
    bots::{BotBody, not_found, with_complete_limits},
    envelope::{Envelope, ErrorEnvelope},
};
use crate::{
    domain::risk::Stage,
    runtime::{lifecycle::LifecycleError, safety::Removal},
    store::{
        audit_log::{NewAuditEntry, Outcome},
        bots::Bot,
    },
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(start_bot))
        .routes(routes!(stop_bot))
        .routes(routes!(restart_bot))
        .routes(routes!(kill_bot))
        .routes(routes!(acknowledge_exposure))
        .routes(routes!(rearm_bot))
        .routes(routes!(promote_bot))
}

/// A refusal is answered as the lifecycle states it: its code, message, fix and details.
impl From<LifecycleError> for ApiError {
    fn from(err: LifecycleError) -> Self {
        match err {
            LifecycleError::BotNotFound(id) => not_found(id),
            LifecycleError::Database(e) => e.into(),
            LifecycleError::Runtime(e) => ApiError::internal(e),
            refused => {
                let error = ApiError::new(refused.code())
                    .message(refused.message())
                    .fix(refused.suggested_fix());
                match refused.details() {
                    Some(details) => error.details(details),
                    None => error,
                }
            }
        }
    }
}

async fn record(
    state: &AppState,
    me: &AuthUser,
    action: &'static str,
    bot: &Bot,
    meta: serde_json::Value,
) {
    audit(
        state,
        NewAuditEntry::new(me.actor(), action, Outcome::Success, state.clock.now())
            .target(format!("bot:{}", bot.id))
            .metadata(meta),
    )
    .await;
}

/// Starts the bot's runner after safe start (SPEC §7).
#[utoipa::path(
    post,
    path = "/api/bots/{id}/start",
    tag = "bots",
    security(("session" = ["operator"])),
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, body = Envelope<BotBody>),
        (status = 404, description = "`BOT_NOT_FOUND`", body = ErrorEnvelope),
        (status = 409, description = "`KILL_SWITCH_ACTIVE`, `INVALID_STATE_TRANSITION` (running or KILLED), `LIVE_TRADING_DISABLED`, `INTEGRATION_KEY_MISSING`, `CIRCUIT_BREAKER_OPEN`", body = ErrorEnvelope),
        (status = 503, description = "`DATA_UNAVAILABLE`, `EXECUTION_BROKER_UNAVAILABLE`, `RUNTIME_UNAVAILABLE`", body = ErrorEnvelope),
    )
)]
async fn start_bot(
    State(state): State<AppState>,
    CurrentUser(me): CurrentUser,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<BotBody> {
    let bot = state.lifecycle().start(id).await?;
    record(
        &state,
        &me,
        "bot.start",
        &bot,
        json!({ "stage": bot.stage }),
    )
    .await;
    Ok(ApiOk::new(BotBody::of(bot)))
}

/// Stops the bot's runner. A KILLED bot stays KILLED (re-arm it instead).
#[utoipa::path(
    post,
    path = "/api/bots/{id}/stop",
    tag = "bots",
    security(("session" = ["operator"])),
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, body = Envelope<BotBody>),
        (status = 404, description = "`BOT_NOT_FOUND`", body = ErrorEnvelope),
        (status = 409, description = "`INVALID_STATE_TRANSITION` (KILLED)", body = ErrorEnvelope),
    )
)]
async fn stop_bot(
    State(state): State<AppState>,
    CurrentUser(me): CurrentUser,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<BotBody> {
    let bot = state.lifecycle().stop(id).await?;
    record(&state, &me, "bot.stop", &bot, json!({})).await;
    Ok(ApiOk::new(BotBody::of(bot)))
}

/// Stops the runner (if any) and starts it again through safe start.
#[utoipa::path(
    post,
    path = "/api/bots/{id}/restart",
    tag = "bots",
    security(("session" = ["operator"])),
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, body = Envelope<BotBody>),
        (status = 404, description = "`BOT_NOT_FOUND`", body = ErrorEnvelope),
        (status = 409, description = "Safe-start refusals as for start", body = ErrorEnvelope),
        (status = 503, description = "`DATA_UNAVAILABLE`, `EXECUTION_BROKER_UNAVAILABLE`, `RUNTIME_UNAVAILABLE`", body = ErrorEnvelope),
    )
)]
async fn restart_bot(
    State(state): State<AppState>,
    CurrentUser(me): CurrentUser,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<BotBody> {
    let bot = state.lifecycle().restart(id).await?;
    record(
        &state,
        &me,
        "bot.restart",
        &bot,
        json!({ "stage": bot.stage }),
    )
    .await;
    Ok(ApiOk::new(BotBody::of(bot)))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KillBody {
    /// Why (recorded with the latch).
    pub reason: Option<String>,
    /// Also close the position with a market order (default false). PAPER and SHADOW are
    /// filled with the PAPER fill model against the newest stored bar; LIVE needs a recent 2FA
    /// step-up.
    #[serde(default)]
    pub flatten: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct KillResult {
    pub bot: Bot,
    /// What removing the bot's risk did: orders cancelled, the flatten, the position left.
    pub removal: Removal,
}

/// Kills the bot: stops its runner, latches KILLED until an admin re-arms it, cancels its
/// working orders and, with `flatten`, closes its position. A KILLED bot may be killed again
/// (e.g. with `flatten`) to remove what it still holds.
#[utoipa::path(
    post,
    path = "/api/bots/{id}/kill",
    tag = "bots",
    security(("session" = ["admin"])),
    params(("id" = Uuid, Path)),
    request_body = KillBody,
    responses(
        (status = 200, body = Envelope<KillResult>),
        (status = 401, description = "`TWO_FACTOR_REQUIRED`: kill and flatten of a LIVE bot without a recent step-up", body = ErrorEnvelope),
        (status = 404, description = "`BOT_NOT_FOUND`", body = ErrorEnvelope),
        (status = 422, description = "`VALIDATION_FAILED`: e.g. `flatten` not a boolean", body = ErrorEnvelope),
    )
)]
async fn kill_bot(
    State(state): State<AppState>,
    CurrentUser(me): CurrentUser,
    ApiPath(id): ApiPath<Uuid>,
    ApiJsonOrDefault(body): ApiJsonOrDefault<KillBody>,
) -> ApiResult<KillResult> {
    let lifecycle = state.lifecycle();
    if lifecycle.kill_needs_step_up(id, body.flatten).await? {
        require_recent_step_up(&state, &me)?;
    }
    let killed = lifecycle
        .kill_with(id, body.reason.as_deref(), &me.email, body.flatten)
        .await?;
    record(
        &state,
        &me,
        "bot.kill",
        &killed.bot,
        json!({
            "reason": killed.reason, "flatten": body.flatten,
            "cancelled_orders": killed.removal.cancelled.len(),
            "position_after": killed.removal.position_after,
        }),
    )
    .await;
    Ok(ApiOk::new(KillResult {
        bot: killed.bot,
        removal: killed.removal,
    }))
}

/// Acknowledges a KILLED bot's exposure (a position or orders left on purpose): the system
/// status shows it as SEV-2 instead of SEV-1 until it is flat, killed again or re-armed.
#[utoipa::path(
    post,
    path = "/api/bots/{id}/acknowledge-exposure",
    tag = "bots",
    security(("session" = ["admin"])),
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, body = Envelope<BotBody>),
        (status = 404, description = "`BOT_NOT_FOUND`", body = ErrorEnvelope),
        (status = 409, description = "`INVALID_STATE_TRANSITION`: the bot is not KILLED", body = ErrorEnvelope),
    )
)]
async fn acknowledge_exposure(
    State(state): State<AppState>,
    CurrentUser(me): CurrentUser,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<BotBody> {
    let bot = state
        .lifecycle()
        .acknowledge_exposure(id, &me.email)
        .await?;
    record(&state, &me, "bot.acknowledge_exposure", &bot, json!({})).await;
    Ok(ApiOk::new(BotBody::of(bot)))
}

/// Clears a KILLED latch; the bot is left STOPPED.
#[utoipa::path(
    post,
    path = "/api/bots/{id}/rearm",
    tag = "bots",
    security(("session" = ["admin"])),
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, body = Envelope<BotBody>),
        (status = 404, description = "`BOT_NOT_FOUND`", body = ErrorEnvelope),
        (status = 409, description = "`INVALID_STATE_TRANSITION`: not KILLED", body = ErrorEnvelope),
    )
)]
async fn rearm_bot(
    State(state): State<AppState>,
    CurrentUser(me): CurrentUser,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<BotBody> {
    let bot = state.lifecycle().rearm(id, &me.email).await?;
    record(&state, &me, "bot.rearm", &bot, json!({})).await;
    Ok(ApiOk::new(BotBody::of(bot)))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct PromoteBody {
    #[schema(value_type = Stage)]
    pub to_stage: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PromotionBody {
    pub bot: Bot,
    pub from_stage: Stage,
    pub to_stage: Stage,
}

/// Promotes one stage up (gated by the target stage's safe-start prerequisites; LIVE also
/// needs a recent 2FA step-up) or demotes to any lower stage.
#[utoipa::path(
    post,
    path = "/api/bots/{id}/promote",
    tag = "bots",
    security(("session" = ["admin"])),
    params(("id" = Uuid, Path)),
    request_body = PromoteBody,
    responses(
        (status = 200, body = Envelope<PromotionBody>),
        (status = 401, description = "`TWO_FACTOR_REQUIRED` (promotion to LIVE)", body = ErrorEnvelope),
        (status = 404, description = "`BOT_NOT_FOUND`", body = ErrorEnvelope),
        (status = 409, description = "`INVALID_STATE_TRANSITION` (skipping a stage, same stage, running bot; leaving LIVE while running or holding a position or open order), `PROMOTION_GATE_FAILED` (each failed prerequisite in `details.failed`)", body = ErrorEnvelope),
        (status = 422, description = "`VALIDATION_FAILED`", body = ErrorEnvelope),
    )
)]
async fn promote_bot(
    State(state): State<AppState>,
    CurrentUser(me): CurrentUser,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<PromoteBody>,
) -> ApiResult<PromotionBody> {
    let to = Stage::parse(&body.to_stage).ok_or_else(|| {
        ApiError::validation("to_stage", "must be one of LAB, PAPER, SHADOW, LIVE")
    })?;
    if to == Stage::Live {
        require_recent_step_up(&state, &me)?;
    }
    let p = state.lifecycle().promote(id, to, &me.email).await?;
    let action = if p.is_promotion() {
        "bot.promote"
    } else {
        "bot.demote"
    };
    record(
        &state,
        &me,
        action,
        &p.bot,
        json!({ "from": p.from, "to": p.to }),
    )
    .await;
    Ok(ApiOk::new(PromotionBody {
        bot: with_complete_limits(p.bot),
        from_stage: p.from,
        to_stage: p.to,
    }))
}
