//! Who is calling, as established by the guard, and the extractors handlers use to get it.
//!
//! - `CurrentUser(user)`: the signed-in user (session routes). 401 if absent.
//! - `RecentStepUp(user)`: the same, plus a 2FA step-up within the configured window
//!   (default 10 min); otherwise `TWO_FACTOR_REQUIRED`. Use it on LIVE promotion, the kill
//!   switch and the trading switch.
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

pub struct RecentStepUp(pub AuthUser);

impl FromRequestParts<AppState> for RecentStepUp {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let CurrentUser(user) = CurrentUser::from_request_parts(parts, state).await?;
        require_recent_step_up(state, &user)?;
        Ok(RecentStepUp(user))
    }
}

/// `TWO_FACTOR_REQUIRED` unless the user stepped up within the configured window; for
/// handlers where only some requests are sensitive (otherwise use [`RecentStepUp`]).
pub fn require_recent_step_up(state: &AppState, user: &AuthUser) -> Result<(), ApiError> {
    let window = state.config.auth.step_up_window;
    let fresh = user
        .step_up_at
        .is_some_and(|at| at > state.clock.now() - window);
    if fresh {
        Ok(())
    } else {
        Err(ApiError::new(ErrorCode::TwoFactorRequired)
                .message(format!(
                    "This action needs a two-factor step-up within the last {} minutes.",
                    window.num_minutes()
                ))
                .fix("POST /api/auth/step-up with a code from your authenticator app (enroll 2FA first if you have not), then retry.")
                .details(serde_json::json!({ "step_up": "/api/auth/step-up", "window_minutes": window.num_minutes() })))
    }
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
