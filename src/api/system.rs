//! `/api/system/*`: the system event log.

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
use crate::store::system_events::{self, EventFilter, Severity, SystemEvent};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_events))
}

// Spelled out rather than `#[serde(flatten)]`ing `PageParams`: the urlencoded deserializer
// cannot parse numbers inside flattened structs.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// Page size, 1–500 (default 50).
    pub limit: Option<i64>,
    /// Opaque cursor from a previous page's `next_cursor`.
    pub cursor: Option<String>,
    /// Only events at or after this instant (RFC 3339).
    pub from: Option<DateTime<Utc>>,
    /// Only events before this instant (RFC 3339).
    pub to: Option<DateTime<Utc>>,
    /// `SEV-1`, `SEV-2`, `SEV-3` or `INFO`.
    #[param(value_type = Option<String>)]
    pub severity: Option<Severity>,
    pub code: Option<String>,
    pub bot_id: Option<Uuid>,
    pub provider_id: Option<String>,
}

/// System events, newest first, filtered by severity, code, bot, provider and time.
#[utoipa::path(
    get,
    path = "/api/system/events",
    tag = "system",
    params(EventsQuery),
    responses(
        (status = 200, body = Envelope<PageBody<SystemEvent>>),
        (status = 422, description = "Bad filter, limit or cursor (`VALIDATION_FAILED`)", body = ErrorEnvelope),
        (status = 503, description = "`DATABASE_UNAVAILABLE`", body = ErrorEnvelope),
    )
)]
async fn list_events(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<EventsQuery>,
) -> ApiResult<PageBody<SystemEvent>> {
    let paging = PageParams {
        limit: query.limit,
        cursor: query.cursor,
        from: query.from,
        to: query.to,
    }
    .validate()?;
    let filter = EventFilter {
        severity: query.severity,
        code: query.code,
        bot_id: query.bot_id,
        provider_id: query.provider_id,
        from: paging.from,
        to: paging.to,
    };
    let page = system_events::list(&state.pool, &filter, paging.after, paging.limit).await?;
    Ok(ApiOk::new(page.into()))
}
