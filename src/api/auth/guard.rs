//! The default-deny gate in front of every `/api` route (a route layer, so the matched route
//! template is known): establishes the caller from a service token or the session cookie,
//! enforces the route's declared [`Access`], the same-origin rule and the CSRF token on
//! state-changing browser requests, the second-factor rule (`auth::policy::second_factor`:
//! admins and operators enrolled, step-up routes freshly verified), and hands the
//! [`Principal`] to the handler.

use std::{sync::Arc, time::Duration};

use axum::{
    extract::{MatchedPath, Request, State},
    http::{HeaderMap, Method, header, request::Parts},
    middleware::Next,
    response::{IntoResponse, Response},
};

use super::extract::{
    AuthUser, ClientIp, Principal, ServiceCaller, enrollment_required, step_up_required,
};
use crate::{
    api::{ApiError, AppState},
    auth::{
        cookies,
        policy::{
            Access, AccessPolicy, SecondFactorFacts, SecondFactorGate, SecondFactorRules,
            must_enroll, second_factor,
        },
        tokens,
    },
    domain::access::Role,
    error_code::ErrorCode,
    store::{
        audit_log::{self, NewAuditEntry, Outcome},
        service_tokens, sessions,
    },
};

#[derive(Clone)]
pub struct Guard {
    pub state: AppState,
    pub policy: Arc<AccessPolicy>,
}

fn is_mutating(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

pub async fn require_access(State(guard): State<Guard>, request: Request, next: Next) -> Response {
    if !request.uri().path().starts_with("/api/") {
        return next.run(request).await;
    }
    let (mut parts, body) = request.into_parts();
    match authorize(&guard, &mut parts).await {
        Ok(principal) => {
            if let Some(principal) = principal {
                parts.extensions.insert(principal);
            }
            parts.extensions.insert(guard.policy.clone());
            next.run(Request::from_parts(parts, body)).await
        }
        Err(err) => err.into_response(),
    }
}

async fn authorize(guard: &Guard, parts: &mut Parts) -> Result<Option<Principal>, ApiError> {
    let path = parts
        .extensions
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| parts.uri.path().to_owned());
    let method = parts.method.clone();
    let mutating = is_mutating(&method);
    if mutating {
        same_origin(&parts.headers)?;
    }
    let Access::Protected {
        session: session_role,
        token_scopes,
    } = guard.policy.lookup(&method, &path)
    else {
        return Ok(None);
    };
    let state = &guard.state;
    let now = state.clock.now();

    if let Some(token) = bearer(&parts.headers) {
        let Some(row) =
            service_tokens::authenticate(&state.pool, &tokens::hash(token), now).await?
        else {
            return Err(ApiError::new(ErrorCode::Unauthenticated)
                .message("The service token is unknown, expired or revoked.")
                .fix("Ask an admin for a new service token (POST /api/service-tokens)."));
        };
        let Some(accepted) = token_scopes else {
            return Err(ApiError::new(ErrorCode::Forbidden)
                .message("Service tokens are not accepted on this route.")
                .fix("Dashboard routes need a signed-in user session."));
        };
        if !accepted.is_empty() && !row.scopes.iter().any(|s| accepted.contains(s)) {
            return Err(ApiError::new(ErrorCode::Forbidden)
                .message("The service token lacks the scope this route needs.")
                .fix("Use a token created with one of the scopes in `details.required_scopes`.")
                .details(
                    serde_json::json!({ "required_scopes": accepted, "token_scopes": row.scopes }),
                ));
        }
        return Ok(Some(Principal::Service(ServiceCaller {
            token_id: row.id,
            name: row.name,
            scopes: row.scopes,
        })));
    }

    let cfg = &state.config.auth;
    let Some(cookie) = cookies::read(&parts.headers, cookies::session_name(cfg)) else {
        return Err(ApiError::new(ErrorCode::Unauthenticated));
    };
    let Some(live) =
        sessions::authenticate(&state.pool, &tokens::hash(cookie), now, cfg.session_idle).await?
    else {
        return Err(ApiError::new(ErrorCode::Unauthenticated)
            .message("Your session has expired or was ended."));
    };
    let facts = SecondFactorFacts {
        role: live.role,
        enrolled: live.two_factor_enabled,
        first_admin_since: (live.first_user && live.role == Role::Admin)
            .then_some(live.user_created_at),
        verified_at: live.session.step_up_at,
    };
    let rules = SecondFactorRules {
        first_admin_grace: cfg.first_admin_2fa_grace,
        step_up_window: cfg.step_up_window,
    };
    let user = AuthUser {
        user_id: live.session.user_id,
        email: live.email.clone(),
        role: live.role,
        session_id: live.session.id,
        step_up_at: live.session.step_up_at,
        two_factor_enabled: live.two_factor_enabled,
        must_enroll_two_factor: must_enroll(&facts, rules, now),
    };
    let Some(min_role) = session_role else {
        return Err(ApiError::new(ErrorCode::Forbidden)
            .message("Browser sessions are not accepted on this writer route.")
            .fix("Internal writers authenticate with a service token (Authorization: Bearer …)."));
    };
    if mutating && let Err(err) = csrf(cfg, &parts.headers, &live.session.csrf_hash) {
        deny(state, &user, parts, &method, &path, "csrf").await;
        return Err(err);
    }
    if let Err(err) = user.require(min_role) {
        if mutating {
            deny(state, &user, parts, &method, &path, "role").await;
        }
        return Err(err);
    }
    if let Err(gate) = second_factor(&method, &path, &facts, rules, now) {
        let (err, why) = match gate {
            SecondFactorGate::Enroll => (enrollment_required(user.role), "two_factor_not_enrolled"),
            SecondFactorGate::StepUp => (
                step_up_required(cfg.step_up_window, live.two_factor_enabled),
                "step_up_required",
            ),
        };
        if mutating {
            deny(state, &user, parts, &method, &path, why).await;
        }
        return Err(err);
    }
    Ok(Some(Principal::User(user)))
}

/// Whether a request to a public route carries a live session or a valid service token (the
/// guard does not check credentials there). Bounded by `within`: a public route that must answer
/// with Postgres down treats a check that fails or takes longer as "not known".
pub async fn known_caller(state: &AppState, headers: &HeaderMap, within: Duration) -> bool {
    let now = state.clock.now();
    let check = async {
        if let Some(token) = bearer(headers) {
            return service_tokens::authenticate(&state.pool, &tokens::hash(token), now)
                .await
                .is_ok_and(|row| row.is_some());
        }
        let cfg = &state.config.auth;
        let Some(cookie) = cookies::read(headers, cookies::session_name(cfg)) else {
            return false;
        };
        sessions::authenticate(&state.pool, &tokens::hash(cookie), now, cfg.session_idle)
            .await
            .is_ok_and(|live| live.is_some())
    };
    tokio::time::timeout(within, check).await.unwrap_or(false)
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

fn forbidden_cross_site(why: &str) -> ApiError {
    ApiError::new(ErrorCode::Forbidden)
        .message(format!("Cross-site request refused ({why})."))
        .fix("State-changing requests must come from the Observatory's own origin.")
}

/// A state-changing request must not come from another site: `Sec-Fetch-Site`, when sent,
/// must be `same-origin`, and `Origin`, when sent, must name this host.
fn same_origin(headers: &HeaderMap) -> Result<(), ApiError> {
    if let Some(site) = headers.get("sec-fetch-site")
        && site.as_bytes() != b"same-origin"
    {
        return Err(forbidden_cross_site("Sec-Fetch-Site"));
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or("");
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("");
        let origin_host = origin
            .strip_prefix("https://")
            .or_else(|| origin.strip_prefix("http://"))
            .unwrap_or("");
        if host.is_empty() || !origin_host.eq_ignore_ascii_case(host) {
            return Err(forbidden_cross_site("Origin"));
        }
    }
    Ok(())
}

/// Double submit bound to the session: the `x-csrf-token` header must equal the CSRF cookie
/// and hash to the value stored with the session.
fn csrf(
    cfg: &crate::config::AuthConfig,
    headers: &HeaderMap,
    session_hash: &[u8],
) -> Result<(), ApiError> {
    let refuse = |why: &str| {
        ApiError::new(ErrorCode::Forbidden)
            .message(format!("CSRF check failed: {why}."))
            .fix("Send the value of the CSRF cookie in the `x-csrf-token` header (the Observatory does this).")
    };
    let header_token = headers
        .get(cookies::CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| refuse("no x-csrf-token header"))?;
    let cookie_token =
        cookies::read(headers, cookies::csrf_name(cfg)).ok_or_else(|| refuse("no CSRF cookie"))?;
    if !tokens::constant_time_eq(header_token.as_bytes(), cookie_token.as_bytes())
        || !tokens::constant_time_eq(&tokens::hash(header_token), session_hash)
    {
        return Err(refuse("token does not match this session"));
    }
    Ok(())
}

async fn deny(
    state: &AppState,
    user: &AuthUser,
    parts: &Parts,
    method: &Method,
    path: &str,
    why: &str,
) {
    let entry = NewAuditEntry::new(
        user.actor(),
        "access.denied",
        Outcome::Denied,
        state.clock.now(),
    )
    .target(format!("{method} {path}"))
    .ip(Some(ClientIp::of(parts).0))
    .metadata(serde_json::json!({ "reason": why, "role": user.role }));
    if let Err(err) = audit_log::insert(&state.pool, entry).await {
        tracing::warn!(error = %err, "could not write audit entry");
    }
}
