//! `GET /api/audit`: the audit log, for admins.

use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::{
    ApiOk, ApiQuery, ApiResult, AppState,
    envelope::{Envelope, ErrorEnvelope},
    pagination::{PageBody, PageParams},
};
use crate::store::audit_log::{self, AuditEntry, AuditFilter, Outcome};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_audit))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    pub limit: Option<i64>,
    pub cursor: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// Only this user's actions.
    pub actor_user_id: Option<Uuid>,
    /// e.g. `auth.login`, `system.trading_switch`.
    pub action: Option<String>,
    /// `SUCCESS`, `DENIED` or `FAILED`.
    #[param(value_type = Option<String>)]
    pub outcome: Option<Outcome>,
}

/// Audit entries, newest first.
#[utoipa::path(
    get,
    path = "/api/audit",
    tag = "auth",
    security(("session" = ["admin"])),
    params(AuditQuery),
    responses(
        (status = 200, body = Envelope<PageBody<AuditEntry>>),
        (status = 403, description = "`FORBIDDEN`", body = ErrorEnvelope),
        (status = 422, description = "`VALIDATION_FAILED`", body = ErrorEnvelope),
    )
)]
async fn list_audit(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<AuditQuery>,
) -> ApiResult<PageBody<AuditEntry>> {
    let paging = PageParams {
        limit: query.limit,
        cursor: query.cursor,
        from: query.from,
        to: query.to,
    }
    .validate()?;
    let filter = AuditFilter {
        actor_user_id: query.actor_user_id,
        action: query.action,
        outcome: query.outcome,
        from: paging.from,
        to: paging.to,
    };
    let page = audit_log::list(&state.pool, &filter, paging.after, paging.limit).await?;
    Ok(ApiOk::new(page.into()))
}
