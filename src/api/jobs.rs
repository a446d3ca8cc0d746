//! `/api/jobs`: job runs (SPEC §2 job FSM) and their transition events; an operator cancels
//! one (`runtime::jobs::cancel` owns the rule).

use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::{
    ApiError, ApiOk, ApiPath, ApiQuery, ApiResult, AppState,
    auth::{CurrentUser, audit},
    envelope::{Envelope, ErrorEnvelope},
    pagination::{PageBody, PageParams},
};
use crate::error_code::ErrorCode;
use crate::runtime::jobs as job_workers;
use crate::store::audit_log::{NewAuditEntry, Outcome};
use crate::store::jobs::{self, JobError, JobFilter, JobRun, JobRunEvent, JobStatus};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_jobs))
        .routes(routes!(get_job))
        .routes(routes!(cancel_job))
}

fn job_not_found(id: Uuid) -> ApiError {
    ApiError::new(ErrorCode::JobNotFound).message(format!("no job run with id {id}"))
}

fn parse_id(id: &str) -> Result<Uuid, ApiError> {
    // Parsed here so a malformed id is `VALIDATION_FAILED`, not a bare 400.
    id.parse()
        .map_err(|_| ApiError::validation("id", "is not a UUID"))
}

impl From<JobError> for ApiError {
    fn from(err: JobError) -> Self {
        match err {
            JobError::NotFound(id) => job_not_found(id),
            JobError::InvalidTransition { actual, to, .. } => {
                ApiError::new(ErrorCode::InvalidStateTransition)
                    .message(format!(
                        "the job is {}; it cannot become {}",
                        actual.as_str(),
                        to.as_str()
                    ))
                    .details(serde_json::json!({ "status": actual }))
            }
            JobError::Db(e) => e.into(),
        }
    }
}

// Spelled out rather than flattening `PageParams` (see api/system.rs).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct JobsQuery {
    /// Page size, 1–500 (default 50).
    pub limit: Option<i64>,
    /// Opaque cursor from a previous page's `next_cursor`.
    pub cursor: Option<String>,
    /// Only jobs created at or after this instant (RFC 3339).
    pub from: Option<DateTime<Utc>>,
    /// Only jobs created before this instant (RFC 3339).
    pub to: Option<DateTime<Utc>>,
    /// `QUEUED`, `RUNNING`, `SUCCEEDED`, `FAILED`, `TIMEOUT` or `CANCELLED`.
    #[param(value_type = Option<String>)]
    pub status: Option<JobStatus>,
    pub kind: Option<String>,
}

/// Job runs, newest first, filtered by status, kind and creation time.
#[utoipa::path(
    get,
    path = "/api/jobs",
    tag = "jobs",
    params(JobsQuery),
    responses(
        (status = 200, body = Envelope<PageBody<JobRun>>),
        (status = 422, description = "Bad filter, limit or cursor (`VALIDATION_FAILED`)", body = ErrorEnvelope),
        (status = 503, description = "`DATABASE_UNAVAILABLE`", body = ErrorEnvelope),
    )
)]
async fn list_jobs(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<JobsQuery>,
) -> ApiResult<PageBody<JobRun>> {
    let paging = PageParams {
        limit: query.limit,
        cursor: query.cursor,
        from: query.from,
        to: query.to,
    }
    .validate()?;
    let filter = JobFilter {
        status: query.status,
        kind: query.kind,
        from: paging.from,
        to: paging.to,
    };
    let page = jobs::list(&state.pool, &filter, paging.after, paging.limit).await?;
    Ok(ApiOk::new(page.into()))
}

/// One job with its transition events (oldest first).
#[derive(Debug, Serialize, ToSchema)]
pub struct JobDetail {
    pub job: JobRun,
    pub events: Vec<JobRunEvent>,
}

/// One job run and every transition it went through.
#[utoipa::path(
    get,
    path = "/api/jobs/{id}",
    tag = "jobs",
    params(("id" = Uuid, Path, description = "Job run id")),
    responses(
        (status = 200, body = Envelope<JobDetail>),
        (status = 404, description = "`JOB_NOT_FOUND`", body = ErrorEnvelope),
        (status = 422, description = "The id is not a UUID (`VALIDATION_FAILED`)", body = ErrorEnvelope),
        (status = 503, description = "`DATABASE_UNAVAILABLE`", body = ErrorEnvelope),
    )
)]
async fn get_job(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<JobDetail> {
    let id = parse_id(&id)?;
    let job = jobs::get(&state.pool, id)
        .await?
        .ok_or_else(|| job_not_found(id))?;
    let events = jobs::events(&state.pool, id).await?;
    Ok(ApiOk::new(JobDetail { job, events }))
}

/// Cancels a QUEUED or RUNNING job (`CANCELLED`, reason `CANCELLED_BY_OPERATOR`); a running
/// job's worker drops its work at its next heartbeat and keeps none of it.
#[utoipa::path(
    post,
    path = "/api/jobs/{id}/cancel",
    tag = "jobs",
    security(("session" = ["operator"])),
    params(("id" = Uuid, Path, description = "Job run id")),
    responses(
        (status = 200, body = Envelope<JobDetail>),
        (status = 404, description = "`JOB_NOT_FOUND`", body = ErrorEnvelope),
        (status = 409, description = "The job already ended (`INVALID_STATE_TRANSITION`, `details.status`)", body = ErrorEnvelope),
        (status = 422, description = "The id is not a UUID (`VALIDATION_FAILED`)", body = ErrorEnvelope),
        (status = 503, description = "`DATABASE_UNAVAILABLE`", body = ErrorEnvelope),
    )
)]
async fn cancel_job(
    State(state): State<AppState>,
    CurrentUser(me): CurrentUser,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<JobDetail> {
    let id = parse_id(&id)?;
    let job = job_workers::cancel(&state.runtime, &state.pool, id, &me.email).await?;
    audit(
        &state,
        NewAuditEntry::new(
            me.actor(),
            "job.cancel",
            Outcome::Success,
            state.clock.now(),
        )
        .target(format!("job:{id}"))
        .metadata(serde_json::json!({ "kind": job.kind })),
    )
    .await;
    let events = jobs::events(&state.pool, id).await?;
    Ok(ApiOk::new(JobDetail { job, events }))
}
