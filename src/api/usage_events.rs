//! `GET /api/usage-events` (Proof of Use across providers) and `GET /api/usage-events/series`
//! (calls and errors per provider per bucket).

use axum::extract::State;
use chrono::{DateTime, Duration, DurationRound, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::{
    ApiError, ApiOk, ApiQuery, ApiResult, AppState,
    ai_ops::{NO_CALLS, NOT_CONFIGURED},
    ai_ops_series::{SeriesQuery, SeriesSpec},
    envelope::{Envelope, ErrorEnvelope},
    pagination::{PageBody, PageParams},
};
use crate::{
    integrations::registry::Category,
    store::{
        page::TimeRange,
        usage_events::{self, UsageEvent, UsageFilter, UsageStatus},
    },
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(usage_series))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UsageEventsQuery {
    /// Page size, 1–500 (default 50).
    pub limit: Option<i64>,
    /// Opaque cursor from a previous page's `next_cursor`.
    pub cursor: Option<String>,
    /// Only events created at or after this instant (RFC 3339).
    pub from: Option<DateTime<Utc>>,
    /// Only events created before this instant (RFC 3339).
    pub to: Option<DateTime<Utc>>,
    /// A registered provider id (e.g. `databento`, `openai`).
    pub provider: Option<String>,
    /// Only events of this bot (UUID).
    pub bot_id: Option<String>,
    /// `OK`, `ERROR` or `VERIFY`.
    pub status: Option<String>,
}

/// Usage events of every provider, newest first, filtered by provider, bot, status and time.
#[utoipa::path(
    get,
    path = "/api/usage-events",
    tag = "integrations",
    params(UsageEventsQuery),
    security(("session" = ["viewer"])),
    responses(
        (status = 200, body = Envelope<PageBody<UsageEvent>>),
        (status = 422, description = "`VALIDATION_FAILED`; `details.field` names the parameter (`provider`, `bot_id`, `status`, `limit`, `cursor`, `from`)", body = ErrorEnvelope),
        (status = 503, description = "`DATABASE_UNAVAILABLE`", body = ErrorEnvelope),
    )
)]
async fn list(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<UsageEventsQuery>,
) -> ApiResult<PageBody<UsageEvent>> {
    let paging = PageParams {
        limit: q.limit,
        cursor: q.cursor,
        from: q.from,
        to: q.to,
    }
    .validate()?;
    let provider_id = match q.provider.as_deref().map(str::trim) {
        None => None,
        Some(id) => Some(
            state
                .integrations
                .config(id)
                .ok_or_else(|| {
                    ApiError::validation(
                        "provider",
                        "must be a registered provider id (see GET /api/integrations/status)",
                    )
                })?
                .spec
                .id
                .to_owned(),
        ),
    };
    let bot_id = match q.bot_id.as_deref().map(str::trim) {
        None => None,
        Some(raw) => Some(
            raw.parse::<Uuid>()
                .map_err(|_| ApiError::validation("bot_id", "must be a UUID"))?,
        ),
    };
    let status =
        match q.status.as_deref().map(str::trim) {
            None => None,
            Some(raw) => Some(UsageStatus::parse(raw).ok_or_else(|| {
                ApiError::validation("status", "must be one of OK, ERROR, VERIFY")
            })?),
        };
    let filter = UsageFilter {
        provider_id,
        bot_id,
        status,
        range: TimeRange {
            from: paging.from,
            to: paging.to,
        },
    };
    let page = usage_events::page(&state.pool, &filter, paging.after, paging.limit).await?;
    Ok(ApiOk::new(page.into()))
}

/// One bucket `[start, start + bucket_seconds)` of one provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct UsageBucket {
    pub start: DateTime<Utc>,
    /// Usage events of every status (`OK`, `ERROR`, `VERIFY`).
    pub calls: i64,
    /// `ERROR` events (the rollup does not split verifies by outcome).
    pub errors: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProviderUsageSeries {
    pub provider_id: &'static str,
    pub label: &'static str,
    pub category: Category,
    pub configured: bool,
    /// Sum of `buckets[].calls`.
    pub calls: i64,
    pub errors: i64,
    /// `not configured` or `no calls in the window` when every bucket is empty; else null.
    pub no_data_reason: Option<&'static str>,
    /// Exactly `buckets` entries, oldest first.
    pub buckets: Vec<UsageBucket>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UsageSeries {
    pub window: String,
    /// `[from, to)`, cut into equal buckets. `to` is the end of the current minute (hour when
    /// the bucket width is whole hours), so the last bucket contains now.
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub bucket_seconds: i64,
    /// The rollup read: `integration_usage_hourly` or `integration_usage_minutely`.
    pub source: &'static str,
    /// Every provider of the registry, in registry order, with or without calls.
    pub providers: Vec<ProviderUsageSeries>,
}

/// provider_id, bucket index, calls, errors.
type RollupRow = (String, i64, i64, i64);

/// Sums the trigger-maintained rollup (never the raw events): per provider and bucket, read
/// through the rollup's primary key `(provider_id, bucket)`. `table` is one of two constants.
async fn rollup_rows(
    pool: &PgPool,
    table: &'static str,
    providers: &[&str],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    width_secs: i64,
) -> Result<Vec<RollupRow>, sqlx::Error> {
    let sql = format!(
        "SELECT provider_id, floor(extract(epoch FROM bucket - $2) / $4)::bigint AS idx, \
                sum(ok_count + error_count + verify_count)::bigint, sum(error_count)::bigint \
         FROM {table} \
         WHERE provider_id = ANY($1) AND bucket >= $2 AND bucket < $3 \
         GROUP BY 1, 2"
    );
    sqlx::query_as(&sql)
        .bind(providers)
        .bind(from)
        .bind(to)
        .bind(width_secs)
        .fetch_all(pool)
        .await
}

/// Which rollup serves a bucket width, and the unit its buckets are aligned to. `None` when
/// the width is not a whole number of minutes (the finest rollup).
fn rollup_for(width: Duration) -> Option<(&'static str, Duration)> {
    let secs = width.num_seconds();
    if width != Duration::seconds(secs) || secs <= 0 || secs % 60 != 0 {
        None
    } else if secs % 3600 == 0 {
        Some(("integration_usage_hourly", Duration::hours(1)))
    } else {
        Some(("integration_usage_minutely", Duration::minutes(1)))
    }
}

/// Calls and errors per provider per bucket over `window`: every registered provider, even
/// without calls (`no_data_reason` says why its line is flat). Read from the usage rollups
/// (`integration_usage_hourly` when the bucket width is whole hours, else
/// `integration_usage_minutely`), so `window / buckets` must be a whole number of minutes.
#[utoipa::path(
    get,
    path = "/api/usage-events/series",
    tag = "integrations",
    params(SeriesQuery),
    security(("session" = ["viewer"])),
    responses(
        (status = 200, body = Envelope<UsageSeries>),
        (status = 422, description = "`VALIDATION_FAILED` (`window`, or `buckets`: out of 1–288 or not cutting the window into whole minutes)", body = ErrorEnvelope),
        (status = 503, description = "`DATABASE_UNAVAILABLE`", body = ErrorEnvelope),
    )
)]
async fn usage_series(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<SeriesQuery>,
) -> ApiResult<UsageSeries> {
    let SeriesSpec {
        window,
        span,
        buckets,
    } = query.validate()?;
    let width = span / i32::try_from(buckets).unwrap_or(1);
    let (table, unit) = rollup_for(width).filter(|_| width * i32::try_from(buckets).unwrap_or(1) == span).ok_or_else(|| {
        ApiError::validation(
            "buckets",
            format!(
                "must cut `{window}` into buckets of whole minutes (the usage rollup's resolution), e.g. 24 for 24h, 60 for 1h"
            ),
        )
    })?;
    let now = state.clock.now();
    let to = now.duration_trunc(unit).map_err(ApiError::internal)? + unit;
    let from = to - span;
    let width_secs = width.num_seconds();
    let configs = state.integrations.configs();
    let ids: Vec<&str> = configs.iter().map(|c| c.spec.id).collect();
    let rows = rollup_rows(&state.pool, table, &ids, from, to, width_secs).await?;
    let providers = configs
        .iter()
        .map(|config| {
            let mut series: Vec<UsageBucket> = (0..buckets)
                .map(|i| UsageBucket {
                    start: from + width * i32::try_from(i).unwrap_or(0),
                    calls: 0,
                    errors: 0,
                })
                .collect();
            for (_, idx, calls, errors) in rows.iter().filter(|r| r.0 == config.spec.id) {
                if let Some(b) = usize::try_from(*idx).ok().and_then(|i| series.get_mut(i)) {
                    b.calls = *calls;
                    b.errors = *errors;
                }
            }
            let calls = series.iter().map(|b| b.calls).sum();
            let configured = config.configured();
            ProviderUsageSeries {
                provider_id: config.spec.id,
                label: config.spec.label,
                category: config.spec.category,
                configured,
                calls,
                errors: series.iter().map(|b| b.errors).sum(),
                no_data_reason: match (calls, configured) {
                    (0, false) => Some(NOT_CONFIGURED),
                    (0, true) => Some(NO_CALLS),
                    _ => None,
                },
                buckets: series,
            }
        })
        .collect();
    Ok(ApiOk::new(UsageSeries {
        window,
        from,
        to,
        bucket_seconds: width_secs,
        source: table,
        providers,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths_pick_the_coarsest_rollup_that_fits() {
        assert_eq!(
            rollup_for(Duration::hours(1)).map(|r| r.0),
            Some("integration_usage_hourly")
        );
        assert_eq!(
            rollup_for(Duration::minutes(5)).map(|r| r.0),
            Some("integration_usage_minutely")
        );
        assert_eq!(
            rollup_for(Duration::minutes(90)).map(|r| r.0),
            Some("integration_usage_minutely")
        );
        assert_eq!(rollup_for(Duration::seconds(150)), None);
        assert_eq!(rollup_for(Duration::milliseconds(60_500)), None);
    }
}
