//! `POST /api/bots/{id}/explain` (an AI action): answers the runtime's explanation of the bot
//! (`runtime::explain`), or its refusal, which touches nothing else: `AI_PROVIDER_UNAVAILABLE`
//! or `AI_BUDGET_EXCEEDED` with every provider tried in `details.attempts`.

use axum::extract::State;
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::{
    ApiError, ApiOk, ApiPath, ApiResult, AppState,
    auth::{CurrentUser, audit},
    bots::not_found,
    envelope::{Envelope, ErrorEnvelope},
};
use crate::{
    error_code::ErrorCode,
    runtime::{
        ai::AiError,
        explain::{ExplainError, Explanation},
    },
    store::audit_log::{NewAuditEntry, Outcome},
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(explain_bot))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ExplainBody {
    pub explanation: Explanation,
}

impl From<ExplainError> for ApiError {
    fn from(err: ExplainError) -> Self {
        match err {
            ExplainError::BotNotFound(id) => not_found(id),
            ExplainError::Database(e) => e.into(),
            ExplainError::Ai(AiError::Unavailable { reason, attempts }) => {
                ApiError::new(ErrorCode::AiProviderUnavailable)
                    .message(format!("Explain is unavailable: {reason}."))
                    .details(json!({ "attempts": attempts }))
            }
            ExplainError::Ai(AiError::BudgetExceeded { reason, attempts }) => {
                ApiError::new(ErrorCode::AiBudgetExceeded)
                    .message(format!("Explain is paused: {reason}."))
                    .details(json!({ "attempts": attempts }))
            }
        }
    }
}

/// A plain-language account of why the bot is or isn't trading and what changed, built only
/// from its recent traces, events and trades, citing their trace ids. The prompt and answer
/// are stored (truncated) for audit.
#[utoipa::path(
    post,
    path = "/api/bots/{id}/explain",
    tag = "bots",
    security(("session" = ["operator"])),
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, body = Envelope<ExplainBody>),
        (status = 404, description = "`BOT_NOT_FOUND`", body = ErrorEnvelope),
        (status = 429, description = "`AI_BUDGET_EXCEEDED`", body = ErrorEnvelope),
        (status = 503, description = "`AI_PROVIDER_UNAVAILABLE` (no LLM usable; `details.attempts` lists each provider tried)", body = ErrorEnvelope),
    )
)]
async fn explain_bot(
    State(state): State<AppState>,
    CurrentUser(me): CurrentUser,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<ExplainBody> {
    let result = state.runtime.explain_bot(&state.pool, id).await;
    // A billed call on someone's behalf: who asked, and what came of it.
    let (outcome, meta) = match &result {
        Ok(e) => (
            Outcome::Success,
            json!({"provider_id": e.provider_id, "model": e.model, "interaction_id": e.interaction_id}),
        ),
        Err(ExplainError::Ai(err)) => (Outcome::Failed, json!({"reason": err.to_string()})),
        Err(_) => (Outcome::Failed, json!({})),
    };
    audit(
        &state,
        NewAuditEntry::new(me.actor(), "bot.explain", outcome, state.clock.now())
            .target(format!("bot:{id}"))
            .metadata(meta),
    )
    .await;
    Ok(ApiOk::new(ExplainBody {
        explanation: result?,
    }))
}
