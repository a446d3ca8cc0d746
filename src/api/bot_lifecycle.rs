//! `POST /api/bots/{id}/start|stop|restart|kill|rearm|promote`: the bot lifecycle, wired to
//! the supervision runtime and the `bots.status` column, with safe start (SPEC §7).

use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::{
    ApiError, ApiJson, ApiOk, ApiResult, AppState,
    auth::{AuthUser, CurrentUser, audit, require_recent_step_up},
    bots::{BotBody, load, not_found, with_complete_limits},
    envelope::{Envelope, ErrorEnvelope},
    safe_start,
};
use crate::{
    domain::{
        bot::BotStatus,
        risk::{AutonomyTier, Stage},
    },
    error_code::ErrorCode,
    runtime::{RunnerOptions, RuntimeError},
    store::{
        audit_log::{NewAuditEntry, Outcome},
        bots::{self, Bot},
        system_events::{NewSystemEvent, Severity},
    },
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(start_bot))
        .routes(routes!(stop_bot))
        .routes(routes!(restart_bot))
        .routes(routes!(kill_bot))
        .routes(routes!(rearm_bot))
        .routes(routes!(promote_bot))
}

fn transition(message: impl Into<String>, fix: &str, bot: &Bot) -> ApiError {
    ApiError::new(ErrorCode::InvalidStateTransition)
        .message(message)
        .fix(fix)
        .details(json!({ "bot_id": bot.id, "status": bot.status, "stage": bot.stage }))
}

fn runtime_error(err: RuntimeError, bot: &Bot) -> ApiError {
    match err {
        RuntimeError::NotRunning => ApiError::new(ErrorCode::RuntimeUnavailable),
        RuntimeError::Killed(_, reason) => transition(
            format!("The bot is KILLED ({reason}); a human re-arm is needed."),
            "Resolve the kill cause, then POST /api/bots/{id}/rearm and start again.",
            bot,
        ),
        RuntimeError::AlreadyRunning(_) => transition(
            "The bot already has a runner.",
            "Stop it first, or use restart.",
            bot,
        ),
        RuntimeError::BreakerOpen(_, retry) => ApiError::new(ErrorCode::CircuitBreakerOpen)
            .message("The bot's circuit breaker is open after repeated failures.")
            .details(json!({ "bot_id": bot.id, "retry_after_seconds": retry.as_secs() })),
        other => ApiError::internal(other),
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

async fn event(
    state: &AppState,
    severity: Severity,
    code: &str,
    message: String,
    bot: Uuid,
    meta: serde_json::Value,
) {
    let e = NewSystemEvent::new(severity, code, message)
        .bot(bot)
        .metadata(meta);
    state.record_event(e).await;
}

/// Safe start, then the runner. Shared by start and restart.
async fn safe_start(state: &AppState, bot: &Bot) -> Result<Bot, ApiError> {
    let stage = bot.stage;
    if bot.status == BotStatus::Killed {
        return Err(transition(
            "The bot is KILLED; a human re-arm is needed before it can start.",
            "Resolve the kill cause, then POST /api/bots/{id}/rearm and start again.",
            bot,
        ));
    }
    if let Some(first) = safe_start::failures(state, stage, bot.is_trading_enabled)
        .await?
        .into_iter()
        .next()
    {
        return Err(first.into_error());
    }
    state
        .runtime
        .start_runner(
            bot.id,
            RunnerOptions {
                timeframe: bot.timeframe,
                live: stage == Stage::Live,
            },
        )
        .await
        .map_err(|e| runtime_error(e, bot))?;
    bots::set_status(&state.pool, bot.id, BotStatus::Running, state.clock.now())
        .await?
        .ok_or_else(|| not_found(bot.id))
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
    Path(id): Path<Uuid>,
) -> ApiResult<BotBody> {
    let bot = load(&state, id).await?;
    if bot.status.is_live() {
        return Err(transition(
            format!("The bot is already {}.", bot.status),
            "Stop it first, or use restart.",
            &bot,
        ));
    }
    let bot = safe_start(&state, &bot).await?;
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

async fn stop_runner(state: &AppState, bot: &Bot) -> Result<(), ApiError> {
    match state.runtime.stop_runner(bot.id).await {
        // No runner (never started here, or gone): the bot is stopped either way.
        Ok(()) | Err(RuntimeError::NotFound(_) | RuntimeError::NotRunning) => Ok(()),
        Err(e) => Err(runtime_error(e, bot)),
    }
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
    Path(id): Path<Uuid>,
) -> ApiResult<BotBody> {
    let bot = load(&state, id).await?;
    if bot.status == BotStatus::Killed {
        return Err(transition(
            "The bot is KILLED; it is already stopped and latched.",
            "POST /api/bots/{id}/rearm to clear the latch.",
            &bot,
        ));
    }
    stop_runner(&state, &bot).await?;
    let bot = bots::set_status(&state.pool, id, BotStatus::Stopped, state.clock.now())
        .await?
        .ok_or_else(|| not_found(id))?;
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
    Path(id): Path<Uuid>,
) -> ApiResult<BotBody> {
    let bot = load(&state, id).await?;
    if bot.status == BotStatus::Killed {
        return Err(transition(
            "The bot is KILLED; a human re-arm is needed before it can start.",
            "Resolve the kill cause, then POST /api/bots/{id}/rearm and start again.",
            &bot,
        ));
    }
    // Refuse before stopping: a restart that cannot start again must not take a healthy
    // runner down.
    if let Some(first) = safe_start::failures(&state, bot.stage, bot.is_trading_enabled)
        .await?
        .into_iter()
        .next()
    {
        return Err(first.into_error());
    }
    stop_runner(&state, &bot).await?;
    let stopped = bots::set_status(&state.pool, id, BotStatus::Stopped, state.clock.now())
        .await?
        .ok_or_else(|| not_found(id))?;
    let bot = safe_start(&state, &stopped).await?;
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
pub struct KillBody {
    /// Why (recorded with the latch).
    pub reason: Option<String>,
}

/// Kills the bot: stops its runner and latches KILLED until an admin re-arms it.
#[utoipa::path(
    post,
    path = "/api/bots/{id}/kill",
    tag = "bots",
    security(("session" = ["admin"])),
    params(("id" = Uuid, Path)),
    request_body = KillBody,
    responses(
        (status = 200, body = Envelope<BotBody>),
        (status = 404, description = "`BOT_NOT_FOUND`", body = ErrorEnvelope),
    )
)]
async fn kill_bot(
    State(state): State<AppState>,
    CurrentUser(me): CurrentUser,
    Path(id): Path<Uuid>,
    ApiJson(body): ApiJson<KillBody>,
) -> ApiResult<BotBody> {
    load(&state, id).await?;
    let reason = body
        .reason
        .map(|r| r.trim().chars().take(500).collect::<String>())
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| format!("killed by {}", me.email));
    state.runtime.kill(id, &reason);
    let bot = bots::set_status(&state.pool, id, BotStatus::Killed, state.clock.now())
        .await?
        .ok_or_else(|| not_found(id))?;
    record(&state, &me, "bot.kill", &bot, json!({ "reason": reason })).await;
    event(
        &state,
        Severity::Sev1,
        "BOT_KILLED",
        format!("bot {id} killed by {}: {reason}", me.email),
        id,
        json!({ "by": me.email, "reason": reason, "source": "operator" }),
    )
    .await;
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
    Path(id): Path<Uuid>,
) -> ApiResult<BotBody> {
    let bot = load(&state, id).await?;
    let runtime_latched = state
        .runtime
        .runner(id)
        .is_some_and(|r| r.kill_reason.is_some());
    if bot.status != BotStatus::Killed && !runtime_latched {
        return Err(transition(
            format!(
                "Only a KILLED bot can be re-armed; this one is {}.",
                bot.status
            ),
            "Nothing to re-arm.",
            &bot,
        ));
    }
    // A kill stops its runner without waiting: be sure it is gone, or an immediate start would
    // find the old runner still terminating and be refused.
    stop_runner(&state, &bot).await?;
    match state.runtime.rearm(id, &me.email) {
        // The latch may live only in the bots row (e.g. the runtime never ran this bot).
        Ok(()) | Err(RuntimeError::NotKilled(_)) => {}
        Err(e) => return Err(runtime_error(e, &bot)),
    }
    let bot = bots::set_status(&state.pool, id, BotStatus::Stopped, state.clock.now())
        .await?
        .ok_or_else(|| not_found(id))?;
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
        (status = 409, description = "`INVALID_STATE_TRANSITION` (skipping a stage, same stage, running bot), `PROMOTION_GATE_FAILED` (each failed prerequisite in `details.failed`)", body = ErrorEnvelope),
        (status = 422, description = "`VALIDATION_FAILED`", body = ErrorEnvelope),
    )
)]
async fn promote_bot(
    State(state): State<AppState>,
    CurrentUser(me): CurrentUser,
    Path(id): Path<Uuid>,
    ApiJson(body): ApiJson<PromoteBody>,
) -> ApiResult<PromotionBody> {
    let to = Stage::parse(&body.to_stage).ok_or_else(|| {
        ApiError::validation("to_stage", "must be one of LAB, PAPER, SHADOW, LIVE")
    })?;
    if to == Stage::Live {
        require_recent_step_up(&state, &me)?;
    }
    let bot = load(&state, id).await?;
    let from = bot.stage;
    if to == from {
        return Err(transition(
            format!("The bot is already {}.", from.as_str()),
            "Choose another stage.",
            &bot,
        ));
    }
    if to > from {
        if from.next() != Some(to) {
            return Err(transition(
                format!(
                    "Promotion moves one stage at a time: {} → {} is not allowed.",
                    from.as_str(),
                    to.as_str()
                ),
                "Promote to the next stage (LAB → PAPER → SHADOW → LIVE).",
                &bot,
            ));
        }
        if bot.status.is_live() {
            return Err(transition(
                "A running bot cannot be promoted; its runner was started for its current stage.",
                "Stop the bot, promote it, then start it again (safe start re-checks every gate).",
                &bot,
            ));
        }
        let mut failed = safe_start::failures(&state, to, bot.is_trading_enabled).await?;
        failed.extend(tier_gate(&state, id, to).await?);
        if !failed.is_empty() {
            let codes: Vec<&str> = failed.iter().map(|f| f.code.as_str()).collect();
            return Err(ApiError::new(ErrorCode::PromotionGateFailed)
                .message(format!(
                    "Promotion to {} refused: {}.",
                    to.as_str(),
                    codes.join(", ")
                ))
                .details(json!({ "from_stage": from, "to_stage": to, "failed": failed })));
        }
    }
    let updated = bots::set_stage(&state.pool, id, from, to, state.clock.now())
        .await?
        .ok_or_else(|| {
            transition(
                "The bot's stage changed while this request ran.",
                "Reload the bot and try again.",
                &bot,
            )
        })?;
    state.runtime.bot_changed(id).await;
    let action = if to > from {
        "bot.promote"
    } else {
        "bot.demote"
    };
    record(
        &state,
        &me,
        action,
        &updated,
        json!({ "from": from, "to": to }),
    )
    .await;
    event(
        &state,
        Severity::Info,
        if to > from {
            "BOT_PROMOTED"
        } else {
            "BOT_DEMOTED"
        },
        format!(
            "bot {id} {} → {} by {}",
            from.as_str(),
            to.as_str(),
            me.email
        ),
        id,
        json!({ "from": from, "to": to, "by": me.email }),
    )
    .await;
    Ok(ApiOk::new(PromotionBody {
        bot: with_complete_limits(updated),
        from_stage: from,
        to_stage: to,
    }))
}

/// SHADOW and LIVE trade only from LIMITED_AUTONOMY up (SPEC §7): promotion there needs the
/// bot's stored tier to allow it, and names the breakdown's failed gates when it does not.
async fn tier_gate(
    state: &AppState,
    id: Uuid,
    to: Stage,
) -> Result<Option<safe_start::Failure>, ApiError> {
    if to < Stage::Shadow {
        return Ok(None);
    }
    let row = crate::store::autonomy_scores::get(&state.pool, id).await?;
    let tier = row
        .as_ref()
        .map(|r| r.autonomy_tier)
        .unwrap_or(AutonomyTier::Locked);
    if tier >= AutonomyTier::LimitedAutonomy {
        return Ok(None);
    }
    let failed_gates: Vec<serde_json::Value> = row
        .as_ref()
        .and_then(|r| r.breakdown["gates"].as_array().cloned())
        .unwrap_or_default()
        .into_iter()
        .filter(|g| g["passed"] == false)
        .collect();
    Ok(Some(safe_start::Failure {
        code: ErrorCode::AutonomyTierInsufficient,
        message: format!(
            "{} needs autonomy tier LIMITED_AUTONOMY or higher; the bot is {}{}.",
            to.as_str(),
            tier.as_str(),
            row.as_ref().map_or_else(
                || " (never scored)".to_owned(),
                |r| format!(" (score {})", r.autonomy_score)
            )
        ),
        suggested_fix: ErrorCode::AutonomyTierInsufficient
            .suggested_fix()
            .to_owned(),
        details: json!({ "tier": tier.as_str(), "needs": "LIMITED_AUTONOMY", "failed_gates": failed_gates }),
    }))
}

/// What [`resume_after_restart`] did.
#[derive(Debug, Default, Serialize)]
pub struct ResumeReport {
    pub resumed: Vec<Uuid>,
    /// Bot and the code of the gate that refused it.
    pub refused: Vec<(Uuid, ErrorCode)>,
}

/// After a process restart: every bot whose row says a runner was up comes back only through
/// safe start (so LIVE never resumes without passing every gate again). A refused bot is left
/// STOPPED with a SEV-2 `BOT_RESUME_REFUSED` event naming the gate; a KILLED one stays KILLED.
pub async fn resume_after_restart(state: &AppState) -> Result<ResumeReport, sqlx::Error> {
    let mut report = ResumeReport::default();
    for id in bots::active_ids(&state.pool).await? {
        let Some(bot) =
            bots::set_status(&state.pool, id, BotStatus::Stopped, state.clock.now()).await?
        else {
            continue;
        };
        match safe_start(state, &bot).await {
            Ok(_) => {
                report.resumed.push(id);
                event(
                    state,
                    Severity::Info,
                    "BOT_RESUMED",
                    format!("bot {id} ({}) resumed after restart", bot.stage),
                    id,
                    json!({ "stage": bot.stage }),
                )
                .await;
            }
            Err(err) => {
                report.refused.push((id, err.code));
                event(
                    state,
                    Severity::Sev2,
                    "BOT_RESUME_REFUSED",
                    format!(
                        "bot {id} ({}) was running before the restart but did not pass safe start: {}",
                        bot.stage, err.code
                    ),
                    id,
                    json!({ "stage": bot.stage, "code": err.code, "message": err.message, "suggested_fix": err.suggested_fix }),
                )
                .await;
            }
        }
    }
    Ok(report)
}
