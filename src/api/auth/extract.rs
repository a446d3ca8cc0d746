//! Who is calling, as established by the guard, and the extractors handlers use to get it.
//!
//! - `CurrentUser(user)`: the signed-in user (session routes). 401 if absent.
//! - `require_recent_step_up`: `TWO_FACTOR_REQUIRED` unless the session verified 2FA within
//!   the configured window (default 10 min), for actions whose body decides (LIVE promotion);
//!   whole routes are listed in `auth::policy::STEP_UP_ROUTES` and checked by the guard.
//! - `ServiceCaller`: the service token of a writer route.
//! - `ClientIp`: the client address as `api::client_addr` resolved it (the peer, or
//!   `X-Forwarded-For` from a trusted proxy only, which a client cannot forge).

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::{
    api::{ApiError, AppState, client_addr::ClientAddr},
    domain::access::Role,
    error_code::ErrorCode,
    store::audit_log::Actor,
};

#[derive(Clone, Debug)]
pub enum Principal {
    User(AuthUser),
    Service(ServiceCaller),
}

impl Principal {
    pub fn actor(&self) -> Actor {
        match self {
            Principal::User(u) => u.actor(),
            Principal::Service(s) => Actor {
                user_id: None,
                token_id: Some(s.token_id),
                label: format!("service-token:{}", s.name),
            },
        }
    }
}

/// A user signed in through a session.
#[derive(Clone, Debug)]
pub struct AuthUser {
    pub user_id: Uuid,
    pub email: String,
    pub role: Role,
    pub session_id: Uuid,
    pub step_up_at: Option<DateTime<Utc>>,
    pub two_factor_enabled: bool,
    /// An admin or operator without 2FA outside any grace: only enrollment is open to them.
    pub must_enroll_two_factor: bool,
}

impl AuthUser {
    pub fn actor(&self) -> Actor {
        Actor::user(self.user_id, &self.email)
    }

    /// `FORBIDDEN` unless the user's role is at least `role` (for checks finer than the
    /// route's declared minimum).
    pub fn require(&self, role: Role) -> Result<(), ApiError> {
        if self.role >= role {
            Ok(())
        } else {
            Err(ApiError::new(ErrorCode::Forbidden)
                .message(format!(
                    "This action needs the {role} role; you are {}.",
                    self.role
                ))
                .details(serde_json::json!({ "required_role": role, "role": self.role })))
        }
    }
}

/// A caller authenticated by a service token.
#[derive(Clone, Debug)]
pub struct ServiceCaller {
    pub token_id: Uuid,
    pub name: String,
    pub scopes: Vec<String>,
}

fn unauthenticated() -> ApiError {
    ApiError::new(ErrorCode::Unauthenticated)
}

pub struct CurrentUser(pub AuthUser);

impl<S: Send + Sync> FromRequestParts<S> for CurrentUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        match parts.extensions.get::<Principal>() {
            Some(Principal::User(user)) => Ok(CurrentUser(user.clone())),
            _ => Err(unauthenticated()),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ServiceCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        match parts.extensions.get::<Principal>() {
            Some(Principal::Service(caller)) => Ok(caller.clone()),
            _ => Err(unauthenticated()),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Principal>()
            .cloned()
            .ok_or_else(unauthenticated)
    }
}

/// `TWO_FACTOR_REQUIRED` unless the user stepped up within the configured window; for
/// handlers where only some requests are sensitive (whole routes: `STEP_UP_ROUTES`).
pub fn require_recent_step_up(state: &AppState, user: &AuthUser) -> Result<(), ApiError> {
    let window = state.config.auth.step_up_window;
    let fresh = user
        .step_up_at
        .is_some_and(|at| at > state.clock.now() - window);
    if fresh {
        Ok(())
    } else {
        Err(step_up_required(window, user.two_factor_enabled))
    }
}

/// The answer to a step-up action without a recent 2FA verification.
pub fn step_up_required(window: chrono::Duration, enrolled: bool) -> ApiError {
    let minutes = window.num_minutes();
    let fix = if enrolled {
        "POST /api/auth/step-up with a code from your authenticator app (or a backup code), then retry."
    } else {
        "Enroll 2FA first (POST /api/auth/2fa/setup, then /api/auth/2fa/confirm; Settings → Two-factor in the Observatory); confirming counts as a step-up. Then retry."
    };
    ApiError::new(ErrorCode::TwoFactorRequired)
        .message(format!(
            "This action needs a two-factor verification within the last {minutes} minutes."
        ))
        .fix(fix)
        .details(serde_json::json!({
            "reason": "step_up",
            "step_up": "/api/auth/step-up",
            "window_minutes": minutes,
            "two_factor_enabled": enrolled,
        }))
}

/// The answer to an admin or operator without 2FA on anything but enrollment.
pub fn enrollment_required(role: Role) -> ApiError {
    ApiError::new(ErrorCode::TwoFactorRequired)
        .message(format!(
            "Your role ({role}) requires two-factor authentication; until you enroll, you can only enroll, see yourself and sign out."
        ))
        .fix("Enroll 2FA at POST /api/auth/2fa/setup (with your password), then POST /api/auth/2fa/confirm with a code from your authenticator app (Settings → Two-factor in the Observatory); then retry.")
        .details(serde_json::json!({
            "reason": "enrollment_required",
            "role": role,
            "enroll": "/api/auth/2fa/setup",
            "confirm": "/api/auth/2fa/confirm",
        }))
}

/// The peer's IP address, or `unknown` when the server runs without connect info.
#[derive(Clone, Debug)]
pub struct ClientIp(pub String);

impl ClientIp {
    pub fn of(parts: &Parts) -> ClientIp {
        let resolved = parts.extensions.get::<ClientAddr>().map(|a| a.0);
        let peer = || {
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(addr)| addr.ip().to_canonical())
        };
        ClientIp(
            resolved
                .or_else(peer)
                .map(|ip| ip.to_string())
                .unwrap_or_else(|| "unknown".to_owned()),
        )
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientIp::of(parts))
    }
}
