//! `GET /api/ai-ops/summary`: per LLM provider, calls, errors by code and latency percentiles
//! over a window, from `integration_usage_events`. An empty row says why it is empty. Beside
//! them, from real generation calls: per provider and model calls, errors by code, latency,
//! tokens and cost; per AI action success and fallbacks (`ai_interactions`); and today's spend
//! against each budget.

use std::collections::BTreeMap;

use axum::extract::State;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::PgPool;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    ApiError, ApiOk, ApiQuery, ApiResult, AppState,
    envelope::{Envelope, ErrorEnvelope},
};
use crate::integrations::registry::Category;
use crate::runtime::ai::BudgetView;
use crate::store::ai_usage;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(summary))
}

pub const DEFAULT_WINDOW: &str = "24h";
const MAX_WINDOW_DAYS: i64 = 30;
// The usage charts read the providers' rollups over these windows: they must be kept as long.
const _: () =
    assert!(MAX_WINDOW_DAYS <= crate::store::usage_partitions::ROLLUP_MIN_KEEP_DAYS as i64);
pub const NOT_CONFIGURED: &str = "not configured";
pub const NO_CALLS: &str = "no calls in the window";
pub const NO_LLM_CONFIGURED: &str = "no LLM provider configured";

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SummaryQuery {
    /// `<n>m`, `<n>h` or `<n>d`, from 1 minute to 30 days (default `24h`).
    pub window: Option<String>,
}

/// Parses `30m`, `1h`, `24h`, `7d`… (1 minute to 30 days).
pub fn parse_window(raw: &str) -> Result<Duration, ApiError> {
    let bad = || {
        ApiError::validation(
            "window",
            format!(
                "must be a number followed by m, h or d, from 1m to {MAX_WINDOW_DAYS}d (e.g. 1h, 24h, 7d); got `{}`",
                raw.chars().take(40).collect::<String>()
            ),
        )
    };
    let raw = raw.trim();
    let unit = raw.chars().last().ok_or_else(bad)?;
    let digits = &raw[..raw.len() - unit.len_utf8()];
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) || digits.len() > 6 {
        return Err(bad());
    }
    let n: i64 = digits.parse().map_err(|_| bad())?;
    let window = match unit {
        'm' => Duration::minutes(n),
        'h' => Duration::hours(n),
        'd' => Duration::days(n),
        _ => return Err(bad()),
    };
    if window < Duration::minutes(1) || window > Duration::days(MAX_WINDOW_DAYS) {
        return Err(bad());
    }
    Ok(window)
}

/// Latency percentiles (ms, interpolated) of the calls that reached the vendor.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, ToSchema)]
pub struct LatencyMs {
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
}

/// One LLM provider over the window.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProviderAiOps {
    pub provider_id: &'static str,
    pub label: &'static str,
    /// From the registry: every required variable is set and the endpoint is usable.
    pub configured: bool,
    /// Usage events in the window: calls, verifies and calls refused by the provider's breaker.
    pub calls: i64,
    pub ok: i64,
    /// `ERROR` events and failed verifies.
    pub errors: i64,
    /// `errors / calls`; null when there were no calls.
    pub error_rate: Option<f64>,
    /// Errors by `error_code` (`UNKNOWN` for an error without one).
    pub errors_by_code: BTreeMap<String, i64>,
    /// Null when no call reached the vendor in the window (breaker refusals are not timed).
    pub latency_ms: Option<LatencyMs>,
    /// The latest call in the window.
    pub last_call_at: Option<DateTime<Utc>>,
    /// The latest successful call, whenever it was.
    pub last_used_at: Option<DateTime<Utc>>,
    /// Why the row is empty (`not configured`, `no calls in the window`); null when it is not.
    pub no_data_reason: Option<&'static str>,
}

/// All LLM providers together over the window.
#[derive(Debug, Serialize, ToSchema)]
pub struct AiOpsTotals {
    pub providers: usize,
    pub providers_configured: usize,
    pub providers_with_calls: usize,
    pub calls: i64,
    pub ok: i64,
    pub errors: i64,
    pub error_rate: Option<f64>,
    pub errors_by_code: BTreeMap<String, i64>,
    pub latency_ms: Option<LatencyMs>,
    pub last_call_at: Option<DateTime<Utc>>,
    /// `no LLM provider configured` or `no calls in the window`; null when there were calls.
    pub no_data_reason: Option<&'static str>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AiOpsSummary {
    /// The window as asked (`24h` by default).
    pub window: String,
    /// Events with `from < created_at <= to` are counted.
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// Every LLM provider of the registry, in registry order.
    pub providers: Vec<ProviderAiOps>,
    pub totals: AiOpsTotals,
    /// Generation calls per provider and model in the window.
    pub models: Vec<ModelAiOps>,
    /// AI actions (e.g. `explain`) in the window.
    pub actions: Vec<ActionAiOps>,
    /// Today's (UTC) spend of this process against each budget: `total`, then each provider
    /// in the operator's order.
    pub budgets: Vec<BudgetView>,
}

/// One provider × model: its generation calls in the window.
#[derive(Debug, Serialize, ToSchema)]
pub struct ModelAiOps {
    pub provider_id: String,
    /// Null for calls refused (breaker) before a model was asked.
    pub model: Option<String>,
    pub calls: i64,
    pub ok: i64,
    pub errors: i64,
    pub errors_by_code: BTreeMap<String, i64>,
    pub latency_ms: Option<LatencyMs>,
    pub input_tokens: i64,
    pub output_tokens: i64,
    /// USD of the priced calls; null when none was priced.
    #[schema(value_type = Option<String>)]
    pub cost_usd: Option<rust_decimal::Decimal>,
    /// Successful calls whose model has no price: their cost is unknown, not zero.
    pub unpriced_calls: i64,
}

/// One AI action in the window.
#[derive(Debug, Serialize, ToSchema)]
pub struct ActionAiOps {
    pub action: String,
    pub calls: i64,
    pub ok: i64,
    /// `ok / calls`; null without calls.
    pub success_rate: Option<f64>,
    /// Answered by a provider other than the first tried.
    pub fallbacks: i64,
}

/// One provider's (or, `provider_id` null, all providers') aggregates.
#[derive(Debug, sqlx::FromRow)]
pub struct UsageAggregate {
    pub provider_id: Option<String>,
    pub calls: Option<i64>,
    pub ok: Option<i64>,
    pub errors: Option<i64>,
    pub p50: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
    pub last_call_at: Option<DateTime<Utc>>,
    pub by_code: Option<Value>,
    pub last_used_at: Option<DateTime<Utc>>,
}

impl UsageAggregate {
    fn latency(&self) -> Option<LatencyMs> {
        Some(LatencyMs {
            p50: self.p50?,
            p95: self.p95?,
            p99: self.p99?,
        })
    }

    fn codes(&self) -> BTreeMap<String, i64> {
        self.by_code
            .as_ref()
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_i64().unwrap_or(0)))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// One statement: the window's events of `providers` (read through
/// `usage_events_provider_idx`) aggregated per provider and in total, errors by code, and the
/// latest successful call from `integration_usage_latest`. The last row is the total
/// (`provider_id` null).
pub async fn aggregates(
    pool: &PgPool,
    providers: &[&str],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<UsageAggregate>, sqlx::Error> {
    sqlx::query_as(
        "WITH w AS MATERIALIZED ( \
             SELECT provider_id, created_at, status, latency_ms, error_code, \
                    status = 'ERROR' OR (status = 'VERIFY' AND error_code IS NOT NULL) AS failed, \
                    error_code IS DISTINCT FROM 'CIRCUIT_BREAKER_OPEN' AS reached \
             FROM integration_usage_events \
             WHERE provider_id = ANY($1) AND created_at > $2 AND created_at <= $3 \
         ), agg AS ( \
             SELECT provider_id, GROUPING(provider_id) AS total, \
                    count(*) AS calls, \
                    count(*) FILTER (WHERE status = 'OK') AS ok, \
                    count(*) FILTER (WHERE failed) AS errors, \
                    percentile_cont(0.5) WITHIN GROUP (ORDER BY latency_ms) FILTER (WHERE reached) AS p50, \
                    percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms) FILTER (WHERE reached) AS p95, \
                    percentile_cont(0.99) WITHIN GROUP (ORDER BY latency_ms) FILTER (WHERE reached) AS p99, \
                    max(created_at) AS last_call_at \
             FROM w GROUP BY GROUPING SETS ((provider_id), ()) \
         ), codes AS ( \
             SELECT provider_id, total, jsonb_object_agg(code, n) AS by_code \
             FROM ( \
                 SELECT provider_id, GROUPING(provider_id) AS total, \
                        coalesce(error_code, 'UNKNOWN') AS code, count(*) AS n \
                 FROM w WHERE failed \
                 GROUP BY GROUPING SETS ((provider_id, coalesce(error_code, 'UNKNOWN')), \
                                         (coalesce(error_code, 'UNKNOWN'))) \
             ) c GROUP BY provider_id, total \
         ) \
         SELECT p.ord, p.provider_id, a.calls, a.ok, a.errors, a.p50, a.p95, a.p99, a.last_call_at, \
                 c.by_code, l.last_used_at \
          FROM unnest($1::text[]) WITH ORDINALITY AS p(provider_id, ord) \
          LEFT JOIN agg a ON a.total = 0 AND a.provider_id = p.provider_id \
          LEFT JOIN codes c ON c.total = 0 AND c.provider_id = p.provider_id \
          LEFT JOIN integration_usage_latest l ON l.provider_id = p.provider_id \
         UNION ALL \
         SELECT NULL, NULL, a.calls, a.ok, a.errors, a.p50, a.p95, a.p99, a.last_call_at, \
                c.by_code, NULL \
          FROM agg a LEFT JOIN codes c ON c.total = 1 WHERE a.total = 1 \
         ORDER BY 1 NULLS LAST",
    )
    .bind(providers)
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await
}

fn rate(errors: i64, calls: i64) -> Option<f64> {
    (calls > 0).then(|| errors as f64 / calls as f64)
}

/// Calls, errors by code and latency percentiles per LLM provider over `window` (default 24h).
#[utoipa::path(
    get,
    path = "/api/ai-ops/summary",
    tag = "integrations",
    params(SummaryQuery),
    security(("session" = ["viewer"])),
    responses(
        (status = 200, body = Envelope<AiOpsSummary>),
        (status = 422, description = "`VALIDATION_FAILED` (`window`)", body = ErrorEnvelope),
        (status = 503, description = "`DATABASE_UNAVAILABLE`", body = ErrorEnvelope),
    )
)]
async fn summary(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<SummaryQuery>,
) -> ApiResult<AiOpsSummary> {
    let window = query.window.unwrap_or_else(|| DEFAULT_WINDOW.to_owned());
    let span = parse_window(&window)?;
    let to = state.clock.now();
    let from = to - span;
    let configs: Vec<_> = state
        .integrations
        .configs()
        .iter()
        .filter(|c| c.spec.category == Category::Llm)
        .collect();
    let ids: Vec<&str> = configs.iter().map(|c| c.spec.id).collect();
    let rows = aggregates(&state.pool, &ids, from, to).await?;
    let (total, per_provider) = match rows.split_last() {
        Some((t, rest)) if t.provider_id.is_none() && rest.len() == ids.len() => (t, rest),
        _ => return Err(ApiError::internal("ai-ops aggregate rows out of shape")),
    };
    let providers: Vec<ProviderAiOps> = configs
        .iter()
        .zip(per_provider)
        .map(|(config, row)| {
            let configured = config.configured();
            let calls = row.calls.unwrap_or(0);
            let errors = row.errors.unwrap_or(0);
            ProviderAiOps {
                provider_id: config.spec.id,
                label: config.spec.label,
                configured,
                calls,
                ok: row.ok.unwrap_or(0),
                errors,
                error_rate: rate(errors, calls),
                errors_by_code: row.codes(),
                latency_ms: row.latency(),
                last_call_at: row.last_call_at,
                last_used_at: row.last_used_at,
                no_data_reason: match (calls, configured) {
                    (0, false) => Some(NOT_CONFIGURED),
                    (0, true) => Some(NO_CALLS),
                    _ => None,
                },
            }
        })
        .collect();
    let calls = total.calls.unwrap_or(0);
    let errors = total.errors.unwrap_or(0);
    let providers_configured = providers.iter().filter(|p| p.configured).count();
    let totals = AiOpsTotals {
        providers: providers.len(),
        providers_configured,
        providers_with_calls: providers.iter().filter(|p| p.calls > 0).count(),
        calls,
        ok: total.ok.unwrap_or(0),
        errors,
        error_rate: rate(errors, calls),
        errors_by_code: total.codes(),
        latency_ms: total.latency(),
        last_call_at: total.last_call_at,
        no_data_reason: match (calls, providers_configured) {
            (0, 0) => Some(NO_LLM_CONFIGURED),
            (0, _) => Some(NO_CALLS),
            _ => None,
        },
    };
    let (model_rows, mut model_codes) = ai_usage::by_model(&state.pool, &ids, from, to).await?;
    let models = model_rows
        .into_iter()
        .map(|m| ModelAiOps {
            errors_by_code: model_codes
                .remove(&(m.provider_id.clone(), m.model.clone()))
                .unwrap_or_default(),
            latency_ms: match (m.p50, m.p95, m.p99) {
                (Some(p50), Some(p95), Some(p99)) => Some(LatencyMs { p50, p95, p99 }),
                _ => None,
            },
            provider_id: m.provider_id,
            model: m.model,
            calls: m.calls,
            ok: m.ok,
            errors: m.errors,
            input_tokens: m.input_tokens.unwrap_or(0),
            output_tokens: m.output_tokens.unwrap_or(0),
            cost_usd: m.cost_usd,
            unpriced_calls: m.unpriced_calls,
        })
        .collect();
    let actions = ai_usage::actions(&state.pool, from, to)
        .await?
        .into_iter()
        .map(|a| ActionAiOps {
            success_rate: (a.calls > 0).then(|| a.ok as f64 / a.calls as f64),
            action: a.action,
            calls: a.calls,
            ok: a.ok,
            fallbacks: a.fallbacks,
        })
        .collect();
    Ok(ApiOk::new(AiOpsSummary {
        window,
        from,
        to,
        providers,
        totals,
        models,
        actions,
        budgets: state.runtime.ai().budgets(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_parse_within_bounds() {
        assert_eq!(parse_window("1h").unwrap(), Duration::hours(1));
        assert_eq!(parse_window("24h").unwrap(), Duration::hours(24));
        assert_eq!(parse_window("7d").unwrap(), Duration::days(7));
        assert_eq!(parse_window("15m").unwrap(), Duration::minutes(15));
        for bad in [
            "",
            "h",
            "0h",
            "31d",
            "1w",
            "-1h",
            "1.5h",
            "1 h",
            "99999999d",
            "é",
            "24hh",
        ] {
            let err = parse_window(bad).unwrap_err();
            assert_eq!(err.details.unwrap()["field"], "window", "{bad:?}");
        }
    }
}
