//! Broker reconciliation (issue 17 part 3): `GET /api/reconciliation` (open mismatches and the
//! last run per broker account) and `POST /api/bots/{id}/reconcile {"action": "adopt" |
//! "flatten"}` (operator, 2FA step-up: it moves LIVE ledger or broker state; audited). The
//! rules live in `runtime::reconciliation` and `runtime::reconciliation_actions`.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::{
    ApiError, ApiJson, ApiOk, ApiPath, ApiResult, AppState,
    auth::{CurrentUser, audit, require_recent_step_up},
    bots::not_found,
    envelope::{Envelope, ErrorEnvelope},
};
use crate::error_code::ErrorCode;
use crate::runtime::reconciliation_actions::{self as actions, Action, ActionError, Reconciled};
use crate::store::{
    audit_log::{NewAuditEntry, Outcome},
    reconciliation::{self as store, MismatchRow, RunRow},
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(reconciliation))
        .routes(routes!(reconcile_bot))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReconciliationBody {
    /// Open mismatches, oldest first: each stops the LIVE bots it names.
    pub mismatches: Vec<MismatchRow>,
    /// The last run of each broker account.
    pub runs: Vec<RunRow>,
    /// Seconds between the leader's periodic runs (`TRADEPLANE_RECONCILE_EVERY_SECS`).
    pub every_seconds: Option<u64>,
}

/// Open reconciliation mismatches (broker vs ledger) and the last run per broker account.
#[utoipa::path(
    get,
    path = "/api/reconciliation",
    tag = "bots",
    responses(
        (status = 200, body = Envelope<ReconciliationBody>),
        (status = 503, description = "`DATABASE_UNAVAILABLE`", body = ErrorEnvelope),
    )
)]
async fn reconciliation(State(state): State<AppState>) -> ApiResult<ReconciliationBody> {
    Ok(ApiOk::new(ReconciliationBody {
        mismatches: store::open(&state.pool).await?,
        runs: store::runs(&state.pool).await?,
        every_seconds: state
            .runtime
            .reconciler()
            .map(|r| r.config().every.as_secs()),
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReconcileBody {
    /// `adopt`: book the broker's state into the ledger (adjustment fills, our orders it
    /// finished closed). `flatten`: cancel the bot's and unknown working orders on its contract
    /// at the broker, close the broker's position with a market order and the ledger's with an
    /// adjustment fill at its price.
    pub action: Action,
}

impl From<ActionError> for ApiError {
    fn from(err: ActionError) -> Self {
        let message = err.to_string();
        match err {
            ActionError::NoBot(id) => not_found(id),
            ActionError::Db(e) => e.into(),
            ActionError::NoRuntime => ApiError::new(ErrorCode::RuntimeUnavailable).message(message),
            ActionError::NoBroker(_) | ActionError::Broker(_) => {
                ApiError::new(ErrorCode::ExecutionBrokerUnavailable).message(message)
            }
            ActionError::OwnedElsewhere { node, .. } => ApiError::new(ErrorCode::StaleLease)
                .message(message)
                .fix(format!(
                    "Send the request to node {node}, which runs the bot."
                ))
                .details(json!({ "node": node })),
            ActionError::NotDone(_) => {
                ApiError::new(ErrorCode::ReconciliationMismatch).message(message)
            }
        }
    }
}

/// Resolves the bot's reconciliation mismatches by adopting the broker's state or flattening
/// at the broker, then reconciles its account again (mismatches gone are resolved as
/// `ADOPTED` / `FLATTENED` by the caller). Needs a recent 2FA step-up; audited.
#[utoipa::path(
    post,
    path = "/api/bots/{id}/reconcile",
    tag = "bots",
    security(("session" = ["operator"])),
    params(("id" = Uuid, Path)),
    request_body = ReconcileBody,
    responses(
        (status = 200, body = Envelope<Reconciled>),
        (status = 401, description = "`TWO_FACTOR_REQUIRED`: no recent step-up", body = ErrorEnvelope),
        (status = 403, description = "`FORBIDDEN`: viewers", body = ErrorEnvelope),
        (status = 404, description = "`BOT_NOT_FOUND`", body = ErrorEnvelope),
        (status = 409, description = "`STALE_LEASE` (another node runs the bot) or `RECONCILIATION_MISMATCH` (not done: no price)", body = ErrorEnvelope),
        (status = 422, description = "`VALIDATION_FAILED`: an unknown action", body = ErrorEnvelope),
        (status = 503, description = "`EXECUTION_BROKER_UNAVAILABLE`: no session, or the broker failed", body = ErrorEnvelope),
    )
)]
async fn reconcile_bot(
    State(state): State<AppState>,
    CurrentUser(me): CurrentUser,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<ReconcileBody>,
) -> ApiResult<Reconciled> {
    require_recent_step_up(&state, &me)?;
    let done =
        actions::reconcile_bot(&state.runtime, &state.pool, id, body.action, &me.email).await;
    let (outcome, meta) = match &done {
        Ok(r) => (
            Outcome::Success,
            json!({
                "action": body.action, "contract": r.contract, "orders_closed": r.orders_closed,
                "broker_cancelled": r.broker_cancelled, "adjustment": r.adjustment,
                "resolved": r.resolved.len(), "still_open": r.still_open.len(),
            }),
        ),
        Err(e) => (
            Outcome::Failed,
            json!({ "action": body.action, "error": e.to_string() }),
        ),
    };
    audit(
        &state,
        NewAuditEntry::new(me.actor(), "bot.reconcile", outcome, state.clock.now())
            .target(format!("bot:{id}"))
            .metadata(meta),
    )
    .await;
    Ok(ApiOk::new(done?))
}
