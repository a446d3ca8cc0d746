//! AI Ops reads: LLM generation calls per provider and model (from the usage events' metadata:
//! model, tokens, cost) and AI actions' outcomes (from `ai_interactions`).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sqlx::PgPool;

/// One provider × model over a window (`model` null: calls refused before one was sent).
#[derive(Debug, sqlx::FromRow)]
pub struct ModelUsage {
    pub provider_id: String,
    pub model: Option<String>,
    pub calls: i64,
    pub ok: i64,
    pub errors: i64,
    pub p50: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
    pub input_tokens: Option<i64>,
    pub output_tokens: Option<i64>,
    pub cost_usd: Option<Decimal>,
    /// Successful calls whose model has no price (their cost is unknown).
    pub unpriced_calls: i64,
}

/// Generation calls of `providers` in `(from, to]`, per provider and model, and their errors by
/// code keyed the same way.
pub async fn by_model(
    pool: &PgPool,
    providers: &[&str],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<
    (
        Vec<ModelUsage>,
        BTreeMap<(String, Option<String>), BTreeMap<String, i64>>,
    ),
    sqlx::Error,
> {
    let rows: Vec<ModelUsage> = sqlx::query_as(
        "SELECT provider_id, metadata->>'model' AS model, count(*) AS calls, \
                count(*) FILTER (WHERE status = 'OK') AS ok, \
                count(*) FILTER (WHERE status = 'ERROR') AS errors, \
                percentile_cont(0.5) WITHIN GROUP (ORDER BY latency_ms) FILTER (WHERE error_code IS DISTINCT FROM 'CIRCUIT_BREAKER_OPEN') AS p50, \
                percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms) FILTER (WHERE error_code IS DISTINCT FROM 'CIRCUIT_BREAKER_OPEN') AS p95, \
                percentile_cont(0.99) WITHIN GROUP (ORDER BY latency_ms) FILTER (WHERE error_code IS DISTINCT FROM 'CIRCUIT_BREAKER_OPEN') AS p99, \
                sum((metadata->>'input_tokens')::bigint)::bigint AS input_tokens, \
                sum((metadata->>'output_tokens')::bigint)::bigint AS output_tokens, \
                sum((metadata->>'cost_usd')::numeric) AS cost_usd, \
                count(*) FILTER (WHERE status = 'OK' AND metadata->>'cost_usd' IS NULL) AS unpriced_calls \
         FROM integration_usage_events \
         WHERE provider_id = ANY($1) AND action = 'generate' AND created_at > $2 AND created_at <= $3 \
         GROUP BY 1, 2 ORDER BY 1, 2 NULLS LAST",
    )
    .bind(providers)
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await?;
    let codes: Vec<(String, Option<String>, String, i64)> = sqlx::query_as(
        "SELECT provider_id, metadata->>'model', coalesce(error_code, 'UNKNOWN'), count(*) \
         FROM integration_usage_events \
         WHERE provider_id = ANY($1) AND action = 'generate' AND status = 'ERROR' \
           AND created_at > $2 AND created_at <= $3 \
         GROUP BY 1, 2, 3",
    )
    .bind(providers)
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await?;
    let mut by_code: BTreeMap<(String, Option<String>), BTreeMap<String, i64>> = BTreeMap::new();
    for (provider, model, code, n) in codes {
        by_code
            .entry((provider, model))
            .or_default()
            .insert(code, n);
    }
    Ok((rows, by_code))
}

/// One AI action over a window.
#[derive(Debug, sqlx::FromRow)]
pub struct ActionOutcomes {
    pub action: String,
    pub calls: i64,
    pub ok: i64,
    /// Answered, but not by the first provider tried.
    pub fallbacks: i64,
}

pub async fn actions(
    pool: &PgPool,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<ActionOutcomes>, sqlx::Error> {
    sqlx::query_as(
        "SELECT action, count(*) AS calls, count(*) FILTER (WHERE status = 'OK') AS ok, \
                count(*) FILTER (WHERE status = 'OK' AND jsonb_array_length(attempts) > 1) AS fallbacks \
         FROM ai_interactions WHERE created_at > $1 AND created_at <= $2 \
         GROUP BY action ORDER BY action",
    )
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await
}

/// What each of `providers`' successful generations spent since `since`: tokens, the cost of
/// the priced ones, and how many were unpriced (the day's budget ledger).
pub async fn spent_since(
    pool: &PgPool,
    providers: &[&str],
    since: DateTime<Utc>,
) -> Result<Vec<(String, i64, Option<Decimal>, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT provider_id, \
                coalesce(sum(coalesce((metadata->>'input_tokens')::bigint, 0) \
                            + coalesce((metadata->>'output_tokens')::bigint, 0)), 0)::bigint, \
                sum((metadata->>'cost_usd')::numeric), \
                count(*) FILTER (WHERE metadata->>'cost_usd' IS NULL) \
         FROM integration_usage_events \
         WHERE provider_id = ANY($1) AND action = 'generate' AND status = 'OK' \
           AND created_at >= $2 \
         GROUP BY provider_id",
    )
    .bind(providers)
    .bind(since)
    .fetch_all(pool)
    .await
}
