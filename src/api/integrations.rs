//! `/api/integrations/*` and `/api/profit-variables`: what is configured, connected and used.

use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    ApiError, ApiJson, ApiOk, ApiPath, ApiQuery, ApiResult, AppState,
    auth::{ClientIp, CurrentUser, audit},
    envelope::{Envelope, ErrorEnvelope},
    pagination::{PageBody, PageParams},
};
use crate::{
    domain::{
        breaker::BreakerState,
        provider::{LiveHealth, LiveRate, Outcome},
    },
    error_code::ErrorCode,
    integrations::{
        endpoint_of,
        registry::{Category, ProviderConfig},
    },
    runtime::{BreakerView, ProviderCallError, ProviderHealth, providers::provider_scope},
    store::{
        audit_log::{self, NewAuditEntry},
        circuit_breakers::ElsewhereBreaker,
        integrations::{self as store, UptimeBucket, UsageSummary, Verification},
        profit_variables::{self, ProfitVariable},
        usage_events::UsageEvent,
    },
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(status))
        .routes(routes!(verify))
        .routes(routes!(reset_provider_breaker))
        .routes(routes!(events))
        .routes(routes!(list_profit_variables))
}

/// One provider on the status page (SPEC §5).
#[derive(Debug, Serialize, ToSchema)]
pub struct ProviderStatus {
    pub id: &'static str,
    pub label: &'static str,
    pub category: Category,
    /// Every required variable is set and the endpoint is usable.
    pub configured: bool,
    /// From the latest verify against the current endpoint; null when never verified (or the
    /// vendor cannot prove a key, as with Alpha Vantage).
    pub connected: Option<bool>,
    /// The endpoint is not the vendor's official host; never usable for LIVE.
    pub sandbox: bool,
    pub last_verified_at: Option<DateTime<Utc>>,
    /// Outcome of the latest verify against the current endpoint.
    pub verify_outcome: Option<Outcome>,
    /// The latest successful call (usage events with status OK).
    pub last_used_at: Option<DateTime<Utc>>,
    /// Successful calls in the last 24 hours (minute resolution).
    pub proof_of_use_count_24h: i64,
    pub last_error_code_24h: Option<String>,
    pub missing_env_vars: Vec<&'static str>,
    pub required_env_vars: &'static [&'static str],
    pub optional_env_vars: &'static [&'static str],
    pub supports_verify: bool,
    /// `INTEGRATION_KEY_MISSING` when not configured, `INTEGRATION_VERIFY_FAILED` when the
    /// latest verify failed.
    pub error_code: Option<ErrorCode>,
    pub suggested_fix: Option<String>,
    /// Live health now, from the breaker and the calls of the last 15 minutes only (a passed
    /// verify or a 24 h count is no proof of now): CONNECTED only with the breaker CLOSED, a
    /// success rate of 90% or more and the newest call succeeding; UNKNOWN without calls.
    /// FAILING too while its breaker is not CLOSED on another alive node.
    pub health: LiveHealth,
    /// The provider's breaker on this node; null when no breaker runs for it (not configured,
    /// no runtime).
    pub breaker_state: Option<BreakerState>,
    /// The other alive nodes whose breaker for the provider is not CLOSED (each node's calls
    /// have their own breaker).
    pub breakers_elsewhere: Vec<ElsewhereBreaker>,
    /// Calls that counted in the last 15 minutes (successes and the provider's failures).
    pub calls_15m: usize,
    pub ok_15m: usize,
    /// `ok_15m / calls_15m`, 0–1; null without calls.
    pub success_rate_15m: Option<f64>,
    /// Calls the open breaker refused since this process started (no vendor request made).
    pub calls_refused: u64,
    /// The latest failed call seen by this process (verify or read), with the vendor's words.
    pub last_error: Option<LastCallError>,
    /// Calls per hour over the last 24 hours, oldest first (the uptime bar); empty when the
    /// provider has no usage in that time.
    pub uptime_24h: Vec<UptimeBucket>,
}

/// A failed provider call.
#[derive(Debug, Serialize, ToSchema)]
pub struct LastCallError {
    pub code: String,
    /// Secrets redacted.
    pub message: Option<String>,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StatusBody {
    pub providers: Vec<ProviderStatus>,
}

/// What the status endpoint knows of one provider.
struct Known<'a> {
    verification: Option<&'a Verification>,
    usage: Option<&'a UsageSummary>,
    /// From its actor (none without a runtime).
    live: Option<&'a ProviderHealth>,
    uptime: Option<&'a Vec<UptimeBucket>>,
    /// Its breakers not CLOSED on other alive nodes.
    elsewhere: Vec<ElsewhereBreaker>,
}

fn provider_status(config: &ProviderConfig, known: Known<'_>) -> ProviderStatus {
    let Known {
        verification,
        usage,
        live,
        uptime,
        elsewhere,
    } = known;
    let spec = config.spec;
    let configured = config.configured();
    // A verify proves something only about the endpoint it ran against.
    let verification = verification.filter(|v| configured && v.endpoint == endpoint_of(config));
    let outcome = verification.map(|v| v.outcome);
    let connected = match (configured, outcome) {
        (false, _) => Some(false),
        (true, None | Some(Outcome::Unverifiable)) => None,
        (true, Some(o)) => Some(o == Outcome::Ok),
    };
    let (error_code, suggested_fix) = if !configured {
        (
            Some(ErrorCode::IntegrationKeyMissing),
            config.suggested_fix(),
        )
    } else if connected == Some(false) {
        let v = verification.map(|v| v.message.as_str()).unwrap_or_default();
        (
            Some(ErrorCode::IntegrationVerifyFailed),
            Some(verify_fix(spec.id, outcome, v)),
        )
    } else {
        (None, None)
    };
    let usage = usage.cloned().unwrap_or_default();
    let live = live.filter(|_| configured);
    ProviderStatus {
        id: spec.id,
        label: spec.label,
        category: spec.category,
        configured,
        connected,
        sandbox: config.sandbox,
        last_verified_at: verification.map(|v| v.verified_at),
        verify_outcome: outcome,
        last_used_at: usage.last_used_at,
        proof_of_use_count_24h: usage.ok_count_24h,
        last_error_code_24h: usage.last_error_code_24h,
        missing_env_vars: config.missing_env_vars.clone(),
        required_env_vars: spec.required_env_vars,
        optional_env_vars: spec.optional_env_vars,
        supports_verify: spec.supports_verify,
        error_code,
        suggested_fix,
        health: if configured && !elsewhere.is_empty() {
            LiveHealth::Failing
        } else {
            live.map_or_else(
                || LiveHealth::classify(configured, None, LiveRate::default()),
                |h| h.health,
            )
        },
        breaker_state: live.map(|h| h.breaker_state),
        breakers_elsewhere: elsewhere,
        calls_15m: live.map_or(0, |h| h.recent_calls),
        ok_15m: live.map_or(0, |h| h.recent_ok),
        success_rate_15m: live.and_then(|h| h.success_rate),
        calls_refused: live.map_or(0, |h| h.refused),
        last_error: live.and_then(|h| {
            Some(LastCallError {
                code: h.last_error_code.clone()?,
                message: h.last_error_message.clone(),
                at: h.last_error_at?,
            })
        }),
        uptime_24h: uptime.cloned().unwrap_or_default(),
    }
}

fn verify_fix(id: &str, outcome: Option<Outcome>, message: &str) -> String {
    let what = match outcome {
        Some(Outcome::InvalidCredentials) => "The vendor rejected the credentials: replace them",
        Some(Outcome::InsufficientPlan) => {
            "The key is valid but its plan lacks this access: upgrade the plan or use another key"
        }
        Some(Outcome::RateLimited) => "The vendor is throttling: wait for the limit to reset",
        Some(Outcome::Unreachable) => {
            "The endpoint did not answer in time: check the network and the base URL"
        }
        _ => "The vendor answered with an error: check its status page",
    };
    format!("{what}, then verify {id} again. Vendor said: {message}")
}

/// Every provider of the registry: configured, connected, sandbox, proof of use.
#[utoipa::path(
    get,
    path = "/api/integrations/status",
    tag = "integrations",
    responses(
        (status = 200, body = Envelope<StatusBody>),
        (status = 503, description = "`DATABASE_UNAVAILABLE`", body = ErrorEnvelope),
    )
)]
async fn status(State(state): State<AppState>) -> ApiResult<StatusBody> {
    let now = state.clock.now();
    let rt = &state.runtime;
    let (verifications, usage, uptime, elsewhere) = tokio::try_join!(
        store::verifications(&state.pool),
        store::usage_summaries(&state.pool, now),
        store::uptime_buckets(&state.pool, now),
        rt.breakers_elsewhere(&state.pool, now),
    )?;
    let live = rt.providers_health();
    let providers = state
        .integrations
        .configs()
        .iter()
        .map(|c| {
            let id = c.spec.id;
            provider_status(
                c,
                Known {
                    verification: verifications.get(id),
                    usage: usage.get(id),
                    live: live.iter().find(|h| h.provider_id == id),
                    uptime: uptime.get(id),
                    elsewhere: elsewhere
                        .iter()
                        .filter(|b| b.scope == provider_scope(id))
                        .cloned()
                        .collect(),
                },
            )
        })
        .collect();
    Ok(ApiOk::new(StatusBody { providers }))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct VerifyProviderRequest {
    pub provider_id: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VerifyBody {
    pub provider_id: String,
    pub outcome: Outcome,
    /// True only for `ok`; null for `unverifiable`.
    pub connected: Option<bool>,
    pub sandbox: bool,
    pub error_code: Option<String>,
    pub message: String,
    pub verified_at: DateTime<Utc>,
    pub latency_ms: i32,
}

/// Runs the provider's safe verify (time-boxed, never retried), records a usage event
/// (status `VERIFY`) and a system event, and returns the outcome.
#[utoipa::path(
    post,
    path = "/api/integrations/verify",
    tag = "integrations",
    request_body = VerifyProviderRequest,
    // Operators verify integrations (issue 5's role table); viewers only read.
    security(("session" = ["operator"])),
    responses(
        (status = 200, description = "The verify ran; `outcome` says what it proved", body = Envelope<VerifyBody>),
        (status = 404, description = "`INTEGRATION_UNKNOWN_PROVIDER`", body = ErrorEnvelope),
        (status = 408, description = "`REQUEST_TIMEOUT`: the verify did not finish in time", body = ErrorEnvelope),
        (status = 409, description = "`INTEGRATION_KEY_MISSING`, or `CIRCUIT_BREAKER_OPEN` (the provider's breaker refused the call; the vendor was not called)", body = ErrorEnvelope),
        (status = 422, description = "`VALIDATION_FAILED`", body = ErrorEnvelope),
        (status = 503, description = "`DATABASE_UNAVAILABLE`", body = ErrorEnvelope),
    )
)]
async fn verify(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<VerifyProviderRequest>,
) -> ApiResult<VerifyBody> {
    let config = configured(&state, &req.provider_id)?;
    // Through the provider's actor, so its circuit breaker applies.
    let (report, latency) = match state.runtime.verify_provider(config.spec.id).await {
        Ok(r) => r,
        Err(ProviderCallError::BreakerOpen { retry_after, .. }) => {
            return Err(ApiError::new(ErrorCode::CircuitBreakerOpen)
                .message(format!(
                    "{}: circuit breaker open after repeated failures; the vendor was not called",
                    config.spec.id
                ))
                .fix(format!(
                    "Find the cause in GET /api/integrations/{}/events; the breaker lets one probe through in {} s",
                    config.spec.id,
                    retry_after.as_secs().max(1)
                ))
                .details(serde_json::json!({
                    "provider_id": config.spec.id,
                    "retry_after_ms": u64::try_from(retry_after.as_millis()).unwrap_or(u64::MAX),
                })));
        }
        Err(err) => return Err(call_error(config, "verify", err)),
    };
    let Some(result) = state
        .integrations
        .record_verification(
            &state.pool,
            state.runtime.bus(),
            config.spec.id,
            &report,
            latency,
        )
        .await
    else {
        return Err(ApiError::internal(format!(
            "{} is configured but has no client",
            config.spec.id
        )));
    };
    let v = result?;
    let outcome = v.outcome;
    Ok(ApiOk::new(VerifyBody {
        provider_id: v.provider_id,
        outcome,
        connected: match outcome {
            Outcome::Unverifiable => None,
            o => Some(o == Outcome::Ok),
        },
        sandbox: v.sandbox,
        error_code: v.error_code,
        message: v.message,
        verified_at: v.verified_at,
        latency_ms: v.latency_ms,
    }))
}

pub(super) fn known<'a>(state: &'a AppState, id: &str) -> Result<&'a ProviderConfig, ApiError> {
    state.integrations.config(id).ok_or_else(|| {
        ApiError::new(ErrorCode::IntegrationUnknownProvider)
            .message(format!("no provider with id `{id}`"))
            .details(serde_json::json!({ "provider_id": id }))
    })
}

/// A known provider with every required variable set.
fn configured<'a>(state: &'a AppState, id: &str) -> Result<&'a ProviderConfig, ApiError> {
    let config = known(state, id)?;
    if !config.configured() {
        return Err(ApiError::new(ErrorCode::IntegrationKeyMissing)
            .message(format!("{} is not configured", config.spec.id))
            .fix(config.suggested_fix().unwrap_or_default())
            .details(serde_json::json!({ "missing_env_vars": config.missing_env_vars })));
    }
    Ok(config)
}

/// A runtime call to a provider that did not happen (`what`: the call).
fn call_error(config: &ProviderConfig, what: &str, err: ProviderCallError) -> ApiError {
    match err {
        ProviderCallError::Timeout(_) => ApiError::new(ErrorCode::RequestTimeout)
            .message(format!("{} {what} did not finish in time", config.spec.id)),
        err => ApiError::internal(err.to_string()),
    }
}

/// Resets the provider's circuit breaker to CLOSED (clears its failure window), so calls pass
/// again; audited, and recorded as a `CIRCUIT_BREAKER_RESET` system event. Answers the
/// breaker's new state.
#[utoipa::path(
    post,
    path = "/api/integrations/{id}/breaker/reset",
    tag = "integrations",
    params(("id" = String, Path, description = "Provider id")),
    security(("session" = ["operator"])),
    responses(
        (status = 200, description = "The breaker is CLOSED", body = Envelope<BreakerView>),
        (status = 404, description = "`INTEGRATION_UNKNOWN_PROVIDER`", body = ErrorEnvelope),
        (status = 408, description = "`REQUEST_TIMEOUT`: the breaker did not answer in time", body = ErrorEnvelope),
        (status = 409, description = "`INTEGRATION_KEY_MISSING`: no breaker without a configured provider", body = ErrorEnvelope),
    )
)]
async fn reset_provider_breaker(
    State(state): State<AppState>,
    CurrentUser(me): CurrentUser,
    ip: ClientIp,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<BreakerView> {
    let config = configured(&state, &id)?;
    let view = state
        .runtime
        .reset_provider_breaker(config.spec.id, &me.email)
        .await
        .map_err(|err| call_error(config, "breaker reset", err))?;
    audit(
        &state,
        NewAuditEntry::new(
            me.actor(),
            "integration.breaker_reset",
            audit_log::Outcome::Success,
            state.clock.now(),
        )
        .target(view.scope.clone())
        .ip(Some(ip.0))
        .metadata(serde_json::json!({ "provider_id": config.spec.id })),
    )
    .await;
    Ok(ApiOk::new(view))
}

/// The latest usage events of one provider, newest first (default 50).
#[utoipa::path(
    get,
    path = "/api/integrations/{id}/events",
    tag = "integrations",
    params(("id" = String, Path, description = "Provider id"), PageParams),
    responses(
        (status = 200, body = Envelope<PageBody<UsageEvent>>),
        (status = 404, description = "`INTEGRATION_UNKNOWN_PROVIDER`", body = ErrorEnvelope),
        (status = 422, description = "`VALIDATION_FAILED`", body = ErrorEnvelope),
        (status = 503, description = "`DATABASE_UNAVAILABLE`", body = ErrorEnvelope),
    )
)]
async fn events(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<PageParams>,
) -> ApiResult<PageBody<UsageEvent>> {
    let config = known(&state, &id)?;
    let p = query.validate()?;
    let page =
        store::usage_events_page(&state.pool, config.spec.id, p.from, p.to, p.after, p.limit)
            .await?;
    Ok(ApiOk::new(page.into()))
}

/// The profit variables of SPEC §6 (rows arrive with the strategies that use them).
#[utoipa::path(
    get,
    path = "/api/profit-variables",
    tag = "integrations",
    params(PageParams),
    responses(
        (status = 200, body = Envelope<PageBody<ProfitVariable>>),
        (status = 422, description = "`VALIDATION_FAILED`", body = ErrorEnvelope),
        (status = 503, description = "`DATABASE_UNAVAILABLE`", body = ErrorEnvelope),
    )
)]
async fn list_profit_variables(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<PageParams>,
) -> ApiResult<PageBody<ProfitVariable>> {
    let p = query.validate()?;
    let page = profit_variables::list(&state.pool, p.from, p.to, p.after, p.limit).await?;
    Ok(ApiOk::new(page.into()))
}
