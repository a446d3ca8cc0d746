//! `/api/service-tokens`: credentials for internal writers. Admins create (the value is shown
//! once), list and revoke them; a token can inspect itself.

use std::sync::Arc;

use axum::extract::{Extension, State};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::{
    ApiError, ApiJson, ApiOk, ApiPath, ApiQuery, ApiResult, AppState,
    auth::{ClientIp, CurrentUser, ServiceCaller, audit},
    envelope::{Envelope, ErrorEnvelope},
    pagination::{PageBody, PageParams},
};
use crate::{
    auth::{policy::AccessPolicy, tokens},
    store::{
        audit_log::{NewAuditEntry, Outcome},
        service_tokens::{self, ServiceToken},
    },
};

pub const TOKEN_PREFIX: &str = "tps_";
pub const MAX_DAYS: i64 = 365;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_tokens, create_token))
        .routes(routes!(revoke_token))
        .routes(routes!(current_token))
}

/// Service tokens, newest first (never their values).
#[utoipa::path(
    get,
    path = "/api/service-tokens",
    tag = "auth",
    security(("session" = ["admin"])),
    params(PageParams),
    responses(
        (status = 200, body = Envelope<PageBody<ServiceToken>>),
        (status = 403, description = "`FORBIDDEN`", body = ErrorEnvelope),
        (status = 422, description = "`VALIDATION_FAILED`", body = ErrorEnvelope),
    )
)]
async fn list_tokens(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<PageParams>,
) -> ApiResult<PageBody<ServiceToken>> {
    let paging = query.validate()?;
    let page = service_tokens::list(
        &state.pool,
        paging.after,
        paging.limit,
        (paging.from, paging.to),
    )
    .await?;
    Ok(ApiOk::new(page.into()))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct NewToken {
    /// Which writer holds it, e.g. `runner-1 traces`.
    pub name: String,
    /// Scopes some route accepts, e.g. `traces:write`.
    pub scopes: Vec<String>,
    /// Lifetime in days, 1–365 (default 90).
    pub expires_in_days: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedToken {
    pub service_token: ServiceToken,
    /// The bearer value, shown once: `Authorization: Bearer <token>`.
    pub token: String,
}

/// Creates a service token (256 random bits, stored hashed; needs a 2FA verification within
/// the step-up window).
#[utoipa::path(
    post,
    path = "/api/service-tokens",
    tag = "auth",
    security(("session" = ["admin"])),
    request_body = NewToken,
    responses(
        (status = 201, body = Envelope<CreatedToken>, description = "Sent with `Cache-Control: no-store`"),
        (status = 401, description = "`TWO_FACTOR_REQUIRED`: no 2FA verification within the step-up window", body = ErrorEnvelope),
        (status = 403, description = "`FORBIDDEN`", body = ErrorEnvelope),
        (status = 422, description = "`VALIDATION_FAILED`: unknown scope, bad name or lifetime", body = ErrorEnvelope),
    )
)]
async fn create_token(
    State(state): State<AppState>,
    CurrentUser(me): CurrentUser,
    ip: ClientIp,
    Extension(policy): Extension<Arc<AccessPolicy>>,
    ApiJson(body): ApiJson<NewToken>,
) -> ApiResult<CreatedToken> {
    let name = super::hygiene::display_name("name", &body.name, 100)?;
    let name = name.as_str();
    let known = policy.known_scopes();
    if body.scopes.is_empty() {
        return Err(ApiError::validation(
            "scopes",
            "must name at least one scope",
        ));
    }
    if let Some(unknown) = body.scopes.iter().find(|s| !known.contains(*s)) {
        return Err(ApiError::validation(
            "scopes",
            format!("`{unknown}` is not accepted by any route"),
        )
        .details(serde_json::json!({ "field": "scopes", "known_scopes": known })));
    }
    let days = body.expires_in_days.unwrap_or(90);
    if !(1..=MAX_DAYS).contains(&days) {
        return Err(ApiError::validation(
            "expires_in_days",
            format!("must be 1–{MAX_DAYS}"),
        ));
    }
    let now = state.clock.now();
    let token = format!("{TOKEN_PREFIX}{}", tokens::random_token(32));
    let row = service_tokens::create(
        &state.pool,
        name,
        &tokens::hash(&token),
        &body.scopes,
        me.user_id,
        now,
        now + Duration::days(days),
    )
    .await?;
    audit(
        &state,
        NewAuditEntry::new(me.actor(), "service_tokens.create", Outcome::Success, now)
            .target(row.id.to_string())
            .ip(Some(ip.0))
            .metadata(serde_json::json!({ "name": row.name, "scopes": row.scopes, "expires_at": row.expires_at })),
    )
    .await;
    Ok(ApiOk::created(CreatedToken {
        service_token: row,
        token,
    })
    .no_store())
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenBody {
    pub service_token: ServiceToken,
}

/// Revokes a service token at once.
#[utoipa::path(
    delete,
    path = "/api/service-tokens/{id}",
    tag = "auth",
    security(("session" = ["admin"])),
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, body = Envelope<TokenBody>),
        (status = 403, description = "`FORBIDDEN`", body = ErrorEnvelope),
        (status = 422, description = "`VALIDATION_FAILED`: unknown token", body = ErrorEnvelope),
    )
)]
async fn revoke_token(
    State(state): State<AppState>,
    CurrentUser(me): CurrentUser,
    ip: ClientIp,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<TokenBody> {
    let now = state.clock.now();
    let Some(row) = service_tokens::revoke(&state.pool, id, now).await? else {
        return Err(ApiError::validation("id", "is not a service token"));
    };
    audit(
        &state,
        NewAuditEntry::new(me.actor(), "service_tokens.revoke", Outcome::Success, now)
            .target(id.to_string())
            .ip(Some(ip.0)),
    )
    .await;
    Ok(ApiOk::new(TokenBody { service_token: row }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CurrentTokenBody {
    pub id: Uuid,
    pub name: String,
    pub scopes: Vec<String>,
    pub checked_at: DateTime<Utc>,
}

/// The calling service token (any valid token; browser sessions are refused).
#[utoipa::path(
    get,
    path = "/api/service-tokens/current",
    tag = "auth",
    security(("service_token" = [])),
    responses(
        (status = 200, body = Envelope<CurrentTokenBody>),
        (status = 401, description = "`UNAUTHENTICATED`", body = ErrorEnvelope),
        (status = 403, description = "`FORBIDDEN`: a session cookie instead of a token", body = ErrorEnvelope),
    )
)]
async fn current_token(
    State(state): State<AppState>,
    caller: ServiceCaller,
) -> ApiResult<CurrentTokenBody> {
    Ok(ApiOk::new(CurrentTokenBody {
        id: caller.token_id,
        name: caller.name,
        scopes: caller.scopes,
        checked_at: state.clock.now(),
    }))
}
