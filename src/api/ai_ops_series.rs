//! `GET /api/ai-ops/series`: per LLM provider, calls, errors and latency percentiles per time
//! bucket over a window (one statement over `integration_usage_events`, read through
//! `usage_events_provider_idx`: percentiles need the raw latencies, which no rollup keeps).
//! Also the `window` + `buckets` parameters every `/series` endpoint shares.

use axum::extract::State;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    ApiError, ApiOk, ApiQuery, ApiResult, AppState,
    ai_ops::{DEFAULT_WINDOW, NO_CALLS, NOT_CONFIGURED, parse_window},
    envelope::{Envelope, ErrorEnvelope},
};
use crate::integrations::registry::Category;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(ai_ops_series))
}

pub const DEFAULT_BUCKETS: i64 = 24;
pub const MAX_BUCKETS: i64 = 288;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SeriesQuery {
    /// `<n>m`, `<n>h` or `<n>d`, from 1 minute to 30 days (default `24h`).
    pub window: Option<String>,
    /// Number of equal buckets the window is cut into, 1–288 (default 24).
    pub buckets: Option<String>,
}

/// A validated `window` + `buckets`.
#[derive(Debug, Clone)]
pub struct SeriesSpec {
    pub window: String,
    pub span: Duration,
    pub buckets: i64,
}

impl SeriesSpec {
    pub fn width(&self) -> Duration {
        self.span / i32::try_from(self.buckets).unwrap_or(1)
    }
}

impl SeriesQuery {
    pub fn validate(self) -> Result<SeriesSpec, ApiError> {
        let window = self.window.unwrap_or_else(|| DEFAULT_WINDOW.to_owned());
        let span = parse_window(&window)?;
        let buckets = match self.buckets.as_deref().map(str::trim) {
            None => DEFAULT_BUCKETS,
            Some(raw) => raw
                .parse::<i64>()
                .ok()
                .filter(|n| (1..=MAX_BUCKETS).contains(n))
                .ok_or_else(|| {
                    ApiError::validation(
                        "buckets",
                        format!("must be a whole number from 1 to {MAX_BUCKETS}"),
                    )
                })?,
        };
        Ok(SeriesSpec {
            window,
            span,
            buckets,
        })
    }
}

/// One bucket `[start, start + bucket_seconds)` of one provider's usage events (AI Ops series and
/// the Connections latency chart).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct AiOpsBucket {
    pub start: DateTime<Utc>,
    /// Usage events: calls, verifies and calls refused by the provider's breaker.
    pub calls: i64,
    /// `ERROR` events and failed verifies.
    pub errors: i64,
    /// Interpolated latency percentiles of the calls that reached the vendor; null when none
    /// did in this bucket (no call, or only breaker refusals).
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AiOpsProviderSeries {
    pub provider_id: &'static str,
    pub label: &'static str,
    pub configured: bool,
    /// Sum of `buckets[].calls`.
    pub calls: i64,
    pub errors: i64,
    /// `not configured` or `no calls in the window` when every bucket is empty; else null.
    pub no_data_reason: Option<&'static str>,
    /// Exactly `buckets` entries, oldest first.
    pub buckets: Vec<AiOpsBucket>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AiOpsSeries {
    pub window: String,
    /// Events with `from < created_at <= to` are counted (`to` is the time of the request).
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub bucket_seconds: f64,
    /// Every LLM provider of the registry, in registry order.
    pub providers: Vec<AiOpsProviderSeries>,
}

#[derive(Debug, sqlx::FromRow)]
pub(super) struct BucketRow {
    pub provider_id: String,
    pub idx: i32,
    pub calls: i64,
    pub errors: i64,
    pub p50: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
}

/// One statement: per provider and bucket, counts and percentiles (the same definitions as
/// `GET /api/ai-ops/summary`). Buckets with no event are absent. Also behind
/// `GET /api/integrations/{id}/latency`.
pub(super) async fn bucket_rows(
    pool: &PgPool,
    providers: &[&str],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    width_secs: f64,
    buckets: i64,
) -> Result<Vec<BucketRow>, sqlx::Error> {
    sqlx::query_as(
        "WITH w AS ( \
             SELECT provider_id, latency_ms, \
                    least(floor(extract(epoch FROM created_at - $2)::float8 / $4)::int, $5 - 1) AS idx, \
                    status = 'ERROR' OR (status = 'VERIFY' AND error_code IS NOT NULL) AS failed, \
                    error_code IS DISTINCT FROM 'CIRCUIT_BREAKER_OPEN' AS reached \
             FROM integration_usage_events \
             WHERE provider_id = ANY($1) AND created_at > $2 AND created_at <= $3 \
         ) \
         SELECT provider_id, idx, count(*) AS calls, count(*) FILTER (WHERE failed) AS errors, \
                percentile_cont(0.5) WITHIN GROUP (ORDER BY latency_ms) FILTER (WHERE reached) AS p50, \
                percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms) FILTER (WHERE reached) AS p95, \
                percentile_cont(0.99) WITHIN GROUP (ORDER BY latency_ms) FILTER (WHERE reached) AS p99 \
         FROM w GROUP BY provider_id, idx",
    )
    .bind(providers)
    .bind(from)
    .bind(to)
    .bind(width_secs)
    .bind(i32::try_from(buckets).unwrap_or(1))
    .fetch_all(pool)
    .await
}

/// Calls, errors and latency percentiles per LLM provider per bucket over `window`.
#[utoipa::path(
    get,
    path = "/api/ai-ops/series",
    tag = "integrations",
    params(SeriesQuery),
    security(("session" = ["viewer"])),
    responses(
        (status = 200, body = Envelope<AiOpsSeries>),
        (status = 422, description = "`VALIDATION_FAILED` (`window` or `buckets`)", body = ErrorEnvelope),
        (status = 503, description = "`DATABASE_UNAVAILABLE`", body = ErrorEnvelope),
    )
)]
async fn ai_ops_series(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<SeriesQuery>,
) -> ApiResult<AiOpsSeries> {
    let spec = query.validate()?;
    let to = state.clock.now();
    let from = to - spec.span;
    let width = spec.width();
    let width_secs = width.num_microseconds().unwrap_or(i64::MAX) as f64 / 1e6;
    let configs: Vec<_> = state
        .integrations
        .configs()
        .iter()
        .filter(|c| c.spec.category == Category::Llm)
        .collect();
    let ids: Vec<&str> = configs.iter().map(|c| c.spec.id).collect();
    let rows = bucket_rows(&state.pool, &ids, from, to, width_secs, spec.buckets).await?;
    let providers = configs
        .iter()
        .map(|config| {
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
            for row in rows.iter().filter(|r| r.provider_id == config.spec.id) {
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
            AiOpsProviderSeries {
                provider_id: config.spec.id,
                label: config.spec.label,
                configured,
                calls,
                errors: buckets.iter().map(|b| b.errors).sum(),
                no_data_reason: match (calls, configured) {
                    (0, false) => Some(NOT_CONFIGURED),
                    (0, true) => Some(NO_CALLS),
                    _ => None,
                },
                buckets,
            }
        })
        .collect();
    Ok(ApiOk::new(AiOpsSeries {
        window: spec.window,
        from,
        to,
        bucket_seconds: width_secs,
        providers,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(window: Option<&str>, buckets: Option<&str>) -> Result<SeriesSpec, ApiError> {
        SeriesQuery {
            window: window.map(str::to_owned),
            buckets: buckets.map(str::to_owned),
        }
        .validate()
    }

    #[test]
    fn buckets_are_bounded_and_named_on_error() {
        let spec = q(None, None).unwrap();
        assert_eq!((spec.span, spec.buckets), (Duration::hours(24), 24));
        assert_eq!(spec.width(), Duration::hours(1));
        assert_eq!(q(Some("1h"), Some("288")).unwrap().buckets, 288);
        for bad in ["0", "289", "-1", "x", "1.5", ""] {
            let err = q(None, Some(bad)).unwrap_err();
            assert_eq!(err.details.unwrap()["field"], "buckets", "{bad:?}");
        }
        let err = q(Some("1y"), None).unwrap_err();
        assert_eq!(err.details.unwrap()["field"], "window");
    }
}
