//! `GET /api/integrations/{id}/latency`: one provider's calls, errors and latency percentiles
//! (p50/p95/p99) per time bucket over a window (default 24 h in 24 one-hour buckets), computed
//! in one SQL statement from its usage events (`integration_usage_events`). The Connections
//! pop-out charts it. Only calls that reached the vendor are timed: a breaker refusal is
//! counted, never timed.

use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    ApiOk, ApiPath, ApiQuery, ApiResult, AppState,
    ai_ops::{NO_CALLS, NOT_CONFIGURED},
    ai_ops_series::{AiOpsBucket, SeriesQuery, bucket_rows},
    envelope::{Envelope, ErrorEnvelope},
    integrations::known,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(provider_latency))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProviderLatency {
    pub provider_id: &'static str,
    pub label: &'static str,
    pub configured: bool,
    pub window: String,
    /// Events with `from < created_at <= to` are counted (`to` is the time of the request).
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub bucket_seconds: f64,
    /// Sum of `buckets[].calls`.
    pub calls: i64,
    pub errors: i64,
    /// `not configured` or `no calls in the window` when every bucket is empty; else null.
    pub no_data_reason: Option<&'static str>,
    /// Exactly `buckets` entries, oldest first.
    pub buckets: Vec<AiOpsBucket>,
}

/// Calls, errors and latency percentiles of one provider per bucket over `window`.
#[utoipa::path(
    get,
    path = "/api/integrations/{id}/latency",
    tag = "integrations",
    params(("id" = String, Path, description = "Provider id"), SeriesQuery),
    security(("session" = ["viewer"])),
    responses(
        (status = 200, body = Envelope<ProviderLatency>),
        (status = 404, description = "`INTEGRATION_UNKNOWN_PROVIDER`", body = ErrorEnvelope),
        (status = 422, description = "`VALIDATION_FAILED` (`window` or `buckets`)", body = ErrorEnvelope),
        (status = 503, description = "`DATABASE_UNAVAILABLE`", body = ErrorEnvelope),
    )
)]
async fn provider_latency(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<SeriesQuery>,
) -> ApiResult<ProviderLatency> {
    let config = known(&state, &id)?;
    let spec = query.validate()?;
    let to = state.clock.now();
    let from = to - spec.span;
    let width = spec.width();
    let width_secs = width.num_microseconds().unwrap_or(i64::MAX) as f64 / 1e6;
    let rows = bucket_rows(
        &state.pool,
        &[config.spec.id],
        from,
        to,
        width_secs,
        spec.buckets,
    )
    .await?;
    let mut buckets: Vec<AiOpsBucket> = (0..spec.buckets)
        .map(|i| AiOpsBucket {
            start: from + width * i32::try_from(i).unwrap_or(0),
            calls: 0,
            errors: 0,
            p50_ms: None,
            p95_ms: None,
            p99_ms: None,
        })
        .collect();
    for row in &rows {
        if let Some(b) = usize::try_from(row.idx)
            .ok()
            .and_then(|i| buckets.get_mut(i))
        {
            b.calls = row.calls;
            b.errors = row.errors;
            b.p50_ms = row.p50;
            b.p95_ms = row.p95;
            b.p99_ms = row.p99;
        }
    }
    let calls = buckets.iter().map(|b| b.calls).sum();
    let configured = config.configured();
    Ok(ApiOk::new(ProviderLatency {
        provider_id: config.spec.id,
        label: config.spec.label,
        configured,
        window: spec.window,
        from,
        to,
        bucket_seconds: width_secs,
        calls,
        errors: buckets.iter().map(|b| b.errors).sum(),
        no_data_reason: match (calls, configured) {
            (0, false) => Some(NOT_CONFIGURED),
            (0, _) => Some(NO_CALLS),
            _ => None,
        },
        buckets,
    }))
}
