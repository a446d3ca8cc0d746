//! `POST /api/backtests/{id}/review` and `POST /api/backtests/sweeps/{id}/review` (the
//! `backtest_review` AI action): the overfitting checks computed from the stored results and
//! the LLM's plain-language summary of them (`runtime::backtest_review`). Without a usable LLM
//! the answer is `AI_PROVIDER_UNAVAILABLE` (or `AI_BUDGET_EXCEEDED`) with the checks still in
//! `details` (`flags`, `checks`, `attempts`); nothing else changes.

use axum::extract::State;
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::{
    ApiError, ApiOk, ApiPath, ApiResult, AppState,
    auth::{CurrentUser, audit},
    envelope::{Envelope, ErrorEnvelope},
};
use crate::{
    error_code::ErrorCode,
    runtime::{
        ai::AiError,
        backtest_review::{BacktestReview, ReviewError, Subject},
    },
    store::audit_log::{NewAuditEntry, Outcome},
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(review_backtest))
        .routes(routes!(review_sweep))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReviewBody {
    pub review: BacktestReview,
}

impl From<ReviewError> for ApiError {
    fn from(err: ReviewError) -> Self {
        match err {
            ReviewError::BacktestNotFound(id) => ApiError::new(ErrorCode::BacktestNotFound)
                .message(format!("No backtest with id {id} exists."))
                .details(json!({ "backtest_id": id })),
            ReviewError::SweepNotFound(id) => ApiError::new(ErrorCode::SweepNotFound)
                .message(format!("No backtest sweep with id {id} exists."))
                .details(json!({ "sweep_id": id })),
            ReviewError::NotFinished {
                subject,
                id,
                status,
            } => ApiError::new(ErrorCode::BacktestNotFinished)
                .message(format!(
                    "The {subject} {id} is {status}: only a SUCCEEDED one has results to review."
                ))
                .details(json!({ "subject": subject, "id": id, "status": status })),
            ReviewError::Database(e) => e.into(),
            ReviewError::Ai {
                error,
                flags,
                checks,
                interaction_id,
            } => {
                let (code, verb, reason, attempts) = match error {
                    AiError::Unavailable { reason, attempts } => (
                        ErrorCode::AiProviderUnavailable,
                        "unavailable",
                        reason,
                        attempts,
                    ),
                    AiError::BudgetExceeded { reason, attempts } => {
                        (ErrorCode::AiBudgetExceeded, "paused", reason, attempts)
                    }
                };
                ApiError::new(code)
                    .message(format!(
                        "The review's summary is {verb}: {reason}. The checks below were computed without it."
                    ))
                    .details(json!({
                        "flags": flags,
                        "checks": checks,
                        "attempts": attempts,
                        "interaction_id": interaction_id,
                    }))
            }
        }
    }
}

async fn run(
    state: &AppState,
    me: &super::auth::extract::AuthUser,
    subject: Subject,
    id: Uuid,
) -> ApiResult<ReviewBody> {
    let result = state
        .runtime
        .review_backtest(&state.pool, subject, id)
        .await;
    let (outcome, meta) = match &result {
        Ok(r) => (
            Outcome::Success,
            json!({"provider_id": r.provider_id, "model": r.model, "interaction_id": r.interaction_id, "flags": r.flags}),
        ),
        Err(ReviewError::Ai { error, flags, .. }) => (
            Outcome::Failed,
            json!({"reason": error.to_string(), "flags": flags}),
        ),
        Err(_) => (Outcome::Failed, json!({})),
    };
    audit(
        state,
        NewAuditEntry::new(me.actor(), "backtest.review", outcome, state.clock.now())
            .target(format!("{}:{id}", subject.as_str()))
            .metadata(meta),
    )
    .await;
    Ok(ApiOk::new(ReviewBody { review: result? }))
}

/// Reviews a SUCCEEDED backtest for overfitting: `FEW_TRADES`, `ONE_REGIME`, `IS_OOS_GAP`
/// (a walk-forward child against its other window), `MANY_COMBINATIONS`, each with the
/// figures it used, and the LLM's summary of them. Stored for audit.
#[utoipa::path(
    post,
    path = "/api/backtests/{id}/review",
    tag = "backtests",
    security(("session" = ["operator"])),
    params(("id" = Uuid, Path, description = "Backtest id")),
    responses(
        (status = 200, body = Envelope<ReviewBody>),
        (status = 404, description = "`BACKTEST_NOT_FOUND`", body = ErrorEnvelope),
        (status = 409, description = "`BACKTEST_NOT_FINISHED`", body = ErrorEnvelope),
        (status = 429, description = "`AI_BUDGET_EXCEEDED` (the checks in `details`)", body = ErrorEnvelope),
        (status = 503, description = "`AI_PROVIDER_UNAVAILABLE` (no LLM usable; `details.flags` and `details.checks` still computed, `details.attempts` each provider tried)", body = ErrorEnvelope),
    )
)]
async fn review_backtest(
    State(state): State<AppState>,
    CurrentUser(me): CurrentUser,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<ReviewBody> {
    run(&state, &me, Subject::Backtest, id).await
}

/// Reviews a SUCCEEDED sweep: trades of its best combination (or, for a walk-forward, its
/// out-of-sample windows), the range's regimes, in-sample against out-of-sample, and how many
/// combinations it tried; then the LLM's summary. Stored for audit.
#[utoipa::path(
    post,
    path = "/api/backtests/sweeps/{id}/review",
    tag = "backtests",
    security(("session" = ["operator"])),
    params(("id" = Uuid, Path, description = "Sweep id")),
    responses(
        (status = 200, body = Envelope<ReviewBody>),
        (status = 404, description = "`SWEEP_NOT_FOUND`", body = ErrorEnvelope),
        (status = 409, description = "`BACKTEST_NOT_FINISHED`", body = ErrorEnvelope),
        (status = 429, description = "`AI_BUDGET_EXCEEDED` (the checks in `details`)", body = ErrorEnvelope),
        (status = 503, description = "`AI_PROVIDER_UNAVAILABLE` (no LLM usable; the checks still in `details`)", body = ErrorEnvelope),
    )
)]
async fn review_sweep(
    State(state): State<AppState>,
    CurrentUser(me): CurrentUser,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<ReviewBody> {
    run(&state, &me, Subject::Sweep, id).await
}
