//! The desk's controls (issue 20 part 3): `POST /api/bots/{id}/cancel-orders`,
//! `POST /api/bots/{id}/close-position` (LIVE: 2FA step-up), `POST /api/bots/bulk`
//! (start/stop a selection), `POST /api/bots/{id}/archive` and `/unarchive`. Parse, check the
//! caller, run the rules in `runtime::lifecycle::desk`, audit, answer.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::{
    ApiError, ApiJson, ApiOk, ApiPath, ApiResult, AppState,
    auth::{AuthUser, CurrentUser, audit, require_recent_step_up},
    bots::{BotBody, load, with_complete_limits},
    envelope::{Envelope, ErrorEnvelope},
};
use crate::{
    runtime::{
        lifecycle::{BulkAction, BulkOutcome, bulk_targets},
        safety::Removal,
    },
    store::{
        audit_log::{NewAuditEntry, Outcome},
        bots::Bot,
    },
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(cancel_orders))
        .routes(routes!(close_position))
        .routes(routes!(bulk))
        .routes(routes!(archive_bot))
        .routes(routes!(unarchive_bot))
}

async fn record(
    state: &AppState,
    me: &AuthUser,
    action: &'static str,
    target: String,
    meta: serde_json::Value,
) {
    audit(
        state,
        NewAuditEntry::new(me.actor(), action, Outcome::Success, state.clock.now())
            .target(target)
            .metadata(meta),
    )
    .await;
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeskResult {
    pub bot: Bot,
    /// What the one risk-removal path did: orders cancelled (and LIVE cancels pending at the
    /// broker), the close (`flatten`), the position left, or why nothing was done.
    pub removal: Removal,
}

/// Cancels the bot's working orders (PAPER and SHADOW in the ledger, LIVE at the broker
/// first). The bot keeps its status and its position; a runner on this node is paused around
/// the cancel and goes on after (its strategy may place new orders at its next signal).
#[utoipa::path(
    post,
    path = "/api/bots/{id}/cancel-orders",
    tag = "bots",
    security(("session" = ["operator"])),
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, body = Envelope<DeskResult>),
        (status = 404, description = "`BOT_NOT_FOUND`", body = ErrorEnvelope),
    )
)]
async fn cancel_orders(
    State(state): State<AppState>,
    CurrentUser(me): CurrentUser,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<DeskResult> {
    let lifecycle = state.lifecycle();
    let removal = lifecycle.cancel_orders(id, &me.email).await?;
    let bot = with_complete_limits(load(&state, id).await?);
    record(
        &state,
        &me,
        "bot.cancel_orders",
        format!("bot:{id}"),
        json!({
            "cancelled_orders": removal.cancelled.len(),
            "broker_cancels_pending": removal.broker_cancels_pending.len(),
            "not_done": removal.not_done,
        }),
    )
    .await;
    Ok(ApiOk::new(DeskResult { bot, removal }))
}

/// Cancels the bot's working orders and closes its position with a market order: PAPER and
/// SHADOW filled at the newest stored bar's close moved by the PAPER slippage (as kill and
/// flatten); LIVE needs a recent 2FA step-up and is closed at the broker as the kill's
/// flatten is (`BROKER_PENDING` without a logged-in broker session). The bot keeps its status; a runner on this node goes on after the close (its
/// strategy may open a new position at its next signal — kill and flatten stops it too).
#[utoipa::path(
    post,
    path = "/api/bots/{id}/close-position",
    tag = "bots",
    security(("session" = ["operator"])),
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, body = Envelope<DeskResult>),
        (status = 401, description = "`TWO_FACTOR_REQUIRED`: a LIVE bot without a recent step-up", body = ErrorEnvelope),
        (status = 404, description = "`BOT_NOT_FOUND`", body = ErrorEnvelope),
    )
)]
async fn close_position(
    State(state): State<AppState>,
    CurrentUser(me): CurrentUser,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<DeskResult> {
    let lifecycle = state.lifecycle();
    if lifecycle.close_needs_step_up(id).await? {
        require_recent_step_up(&state, &me)?;
    }
    let removal = lifecycle.close_position(id, &me.email).await?;
    let bot = with_complete_limits(load(&state, id).await?);
    record(
        &state,
        &me,
        "bot.close_position",
        format!("bot:{id}"),
        json!({
            "cancelled_orders": removal.cancelled.len(),
            "flatten": removal.flatten,
            "position_after": removal.position_after,
            "not_done": removal.not_done,
        }),
    )
    .await;
    Ok(ApiOk::new(DeskResult { bot, removal }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkBody {
    pub action: BulkAction,
    /// 1–200 bot ids; a repeated id is acted on once.
    pub bot_ids: Vec<Uuid>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BulkResult {
    pub action: BulkAction,
    /// One per distinct bot id, in the order given.
    pub items: Vec<BulkOutcome>,
    pub succeeded: usize,
    pub failed: usize,
}

/// Starts or stops a selection of bots, each as its own start/stop would (safe start for
/// each start); one bot's refusal does not stop the others. Answers each bot's outcome.
#[utoipa::path(
    post,
    path = "/api/bots/bulk",
    tag = "bots",
    security(("session" = ["operator"])),
    request_body = BulkBody,
    responses(
        (status = 200, body = Envelope<BulkResult>),
        (status = 422, description = "`VALIDATION_FAILED`: `action` not start|stop, `bot_ids` empty or over 200", body = ErrorEnvelope),
    )
)]
async fn bulk(
    State(state): State<AppState>,
    CurrentUser(me): CurrentUser,
    ApiJson(body): ApiJson<BulkBody>,
) -> ApiResult<BulkResult> {
    let ids = bulk_targets(&body.bot_ids).map_err(|e| ApiError::validation("bot_ids", e))?;
    let items = state.lifecycle().bulk(body.action, &ids).await?;
    let succeeded = items.iter().filter(|i| i.ok).count();
    let failed = items.len() - succeeded;
    let action = match body.action {
        BulkAction::Start => "bot.bulk_start",
        BulkAction::Stop => "bot.bulk_stop",
    };
    record(
        &state,
        &me,
        action,
        format!("bots:{}", items.len()),
        json!({
            "succeeded": items.iter().filter(|i| i.ok).map(|i| i.bot_id).collect::<Vec<_>>(),
            "failed": items.iter().filter(|i| !i.ok)
                .map(|i| json!({ "bot_id": i.bot_id, "code": i.error.as_ref().map(|e| e.code) }))
                .collect::<Vec<_>>(),
        }),
    )
    .await;
    Ok(ApiOk::new(BulkResult {
        action: body.action,
        items: items
            .into_iter()
            .map(|mut i| {
                i.bot = i.bot.map(with_complete_limits);
                i
            })
            .collect(),
        succeeded,
        failed,
    }))
}

/// Archives a STOPPED bot that holds no position and no open order: it leaves the default bot
/// list (`GET /api/bots?archived=include|only` shows it), keeps all its history, and cannot
/// start until un-archived. Archiving an archived bot changes nothing.
#[utoipa::path(
    post,
    path = "/api/bots/{id}/archive",
    tag = "bots",
    security(("session" = ["operator"])),
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, body = Envelope<BotBody>),
        (status = 404, description = "`BOT_NOT_FOUND`", body = ErrorEnvelope),
        (status = 409, description = "`INVALID_STATE_TRANSITION`: not STOPPED, or it still holds a position or an open order", body = ErrorEnvelope),
    )
)]
async fn archive_bot(
    State(state): State<AppState>,
    CurrentUser(me): CurrentUser,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<BotBody> {
    let bot = state.lifecycle().archive(id, &me.email).await?;
    record(&state, &me, "bot.archive", format!("bot:{id}"), json!({})).await;
    Ok(ApiOk::new(BotBody::of(bot)))
}

/// Un-archives a bot: back in the default list, startable again. Un-archiving a bot that is
/// not archived changes nothing.
#[utoipa::path(
    post,
    path = "/api/bots/{id}/unarchive",
    tag = "bots",
    security(("session" = ["operator"])),
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, body = Envelope<BotBody>),
        (status = 404, description = "`BOT_NOT_FOUND`", body = ErrorEnvelope),
    )
)]
async fn unarchive_bot(
    State(state): State<AppState>,
    CurrentUser(me): CurrentUser,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<BotBody> {
    let bot = state.lifecycle().unarchive(id, &me.email).await?;
    record(&state, &me, "bot.unarchive", format!("bot:{id}"), json!({})).await;
    Ok(ApiOk::new(BotBody::of(bot)))
}
