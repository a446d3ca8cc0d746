//! `/api/jobs`: job runs (SPEC §2 job FSM) and their transition events.

use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::{
    ApiError, ApiOk, ApiPath, ApiQuery, ApiResult, AppState,
    envelope::{Envelope, ErrorEnvelope},
    pagination::{PageBody, PageParams},
};
use crate::error_code::ErrorCode;
use crate::store::jobs::{self, JobFilter, JobRun, JobRunEvent, JobStatus};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_jobs))
        .routes(routes!(get_job))
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
    // Parsed here so a malformed id is `VALIDATION_FAILED`, not a bare 400.
    let id: Uuid = id
        .parse()
        .map_err(|_| ApiError::validation("id", "is not a UUID"))?;
    let job = jobs::get(&state.pool, id).await?.ok_or_else(|| {
        ApiError::new(ErrorCode::JobNotFound).message(format!("no job run with id {id}"))
    })?;
    let events = jobs::events(&state.pool, id).await?;
    Ok(ApiOk::new(JobDetail { job, events }))
}
