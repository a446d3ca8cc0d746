//! `/api/auth/*`: first-admin registration, login with TOTP second step, 2FA enrollment and
//! backup codes, step-up, logout, and the caller's own sessions.

use axum::{
    extract::State,
    http::{HeaderMap, HeaderValue, header},
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::{
    ApiError, ApiJson, ApiOk, ApiPath, ApiResult, AppState,
    envelope::{Envelope, ErrorEnvelope},
    pagination::PageBody,
};
use crate::{
    auth::{
        backup_codes, cookies, normalize_email, password, qr, secret_box,
        throttle::{self, ThrottleError},
        tokens, totp,
    },
    config::EncKey,
    domain::access::Role,
    error_code::ErrorCode,
    store::{
        audit_log::{self, Actor, NewAuditEntry, Outcome},
        login_challenges,
        sessions::{self, NewSession, SessionView},
        users::{self, User, UserView},
    },
};

mod enrollment;
pub mod extract;
pub mod guard;
mod login;
mod own_sessions;

pub use extract::{
    AuthUser, ClientIp, CurrentUser, Principal, ServiceCaller, require_recent_step_up,
};
pub use login::UserBody;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login::register))
        .routes(routes!(login::first_run))
        .routes(routes!(login::login))
        .routes(routes!(login::verify_two_factor))
        .routes(routes!(login::logout))
        .routes(routes!(login::me))
        .routes(routes!(enrollment::setup_two_factor))
        .routes(routes!(enrollment::confirm_two_factor))
        .routes(routes!(enrollment::regenerate_backup_codes))
        .routes(routes!(own_sessions::step_up))
        .routes(routes!(own_sessions::list_sessions))
        .routes(routes!(own_sessions::revoke_session))
        .routes(routes!(own_sessions::revoke_other_sessions))
}

// ---------- shared helpers ----------

pub(crate) async fn audit(state: &AppState, entry: NewAuditEntry) {
    if let Err(err) = audit_log::insert(&state.pool, entry).await {
        tracing::warn!(error = %err, action = "audit", "could not write audit entry");
    }
}

fn entry(state: &AppState, actor: Actor, action: &'static str, outcome: Outcome) -> NewAuditEntry {
    NewAuditEntry::new(actor, action, outcome, state.clock.now())
}

fn hash_failed(err: password::PasswordError) -> ApiError {
    ApiError::internal(err)
}

pub(crate) fn validate_email(email: &str) -> Result<(), ApiError> {
    let email = email.trim();
    let ok = email.len() <= 254
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && domain.contains('.') && !domain.starts_with('.')
        })
        && !email.chars().any(char::is_whitespace);
    if ok {
        Ok(())
    } else {
        Err(ApiError::validation("email", "is not an email address"))
    }
}

/// A sign-in email must be something a user could have (bounded, no control characters);
/// whether it exists is never revealed.
pub(crate) fn check_login_email(email: &str) -> Result<(), ApiError> {
    if email.len() > 254 || email.chars().any(char::is_control) {
        return Err(ApiError::validation("email", "is not an email address"));
    }
    Ok(())
}

/// [`throttle::admit`] for an attempt at `action` by `actor` on `email`'s account; a refusal
/// is audited (`denied`, reason `throttled`, the account and address, never the secret tried),
/// so an attack that only ever meets the throttle still shows in the audit log.
pub(crate) async fn admit(
    state: &AppState,
    actor: Actor,
    action: &'static str,
    email: &str,
    ip: &extract::ClientIp,
) -> Result<throttle::Attempt, throttle::ThrottleError> {
    let now = state.clock.now();
    let admitted = throttle::admit(&state.pool, throttle_policy(state), email, &ip.0, now).await;
    if let Err(throttle::ThrottleError::Throttled { retry_after_secs }) = &admitted {
        audit(
            state,
            entry(state, actor, action, Outcome::Denied)
                .target(normalize_email(email))
                .ip(Some(ip.0.clone()))
                .metadata(serde_json::json!({ "reason": "throttled", "retry_after_secs": retry_after_secs })),
        )
        .await;
    }
    admitted
}

/// Gives the caller's session `issued`'s cookie and CSRF values after a fresh second factor.
/// A session ended meanwhile (revoked, signed out) is not brought back with new cookies.
async fn rotate_session(
    state: &AppState,
    me: &AuthUser,
    issued: &Issued,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let rotated = sessions::rotate(
        &state.pool,
        me.session_id,
        &tokens::hash(&issued.session_token),
        &tokens::hash(&issued.csrf_token),
        Some(now),
    )
    .await?;
    if rotated {
        Ok(())
    } else {
        Err(ApiError::new(ErrorCode::Unauthenticated)
            .message("The session ended while this request ran.")
            .fix("Sign in again."))
    }
}

pub(crate) fn throttle_policy(state: &AppState) -> throttle::Policy {
    throttle::Policy {
        global_budget: state.config.auth.login_failure_budget,
    }
}

pub(crate) fn validate_password(password: &str) -> Result<(), ApiError> {
    password::validate(password).map_err(|problem| ApiError::validation("password", problem))
}

/// `RATE_LIMITED` with `Retry-After` while an attempt is throttled.
impl From<ThrottleError> for ApiError {
    fn from(err: ThrottleError) -> Self {
        match err {
            ThrottleError::Throttled { retry_after_secs } => ApiError::new(ErrorCode::RateLimited)
                .message(format!(
                    "Too many failed attempts; try again in {retry_after_secs} s."
                ))
                .details(serde_json::json!({ "retry_after_secs": retry_after_secs }))
                .header(
                    header::RETRY_AFTER,
                    HeaderValue::from_str(&retry_after_secs.to_string())
                        .unwrap_or(HeaderValue::from_static("1")),
                ),
            ThrottleError::Db(e) => e.into(),
        }
    }
}

fn wrong_credentials() -> ApiError {
    ApiError::new(ErrorCode::Unauthenticated)
        .message("Email or password is wrong.")
        .fix("Check both and try again; repeated failures add a growing wait.")
}

fn require_key(key: &EncKey) -> Result<(), ApiError> {
    match key {
        EncKey::Valid(_) => Ok(()),
        _ => Err(ApiError::new(ErrorCode::EncryptionKeyMissing)),
    }
}

fn box_error(err: secret_box::BoxError) -> ApiError {
    match err {
        secret_box::BoxError::KeyMissing => ApiError::new(ErrorCode::EncryptionKeyMissing),
        secret_box::BoxError::Undecryptable => ApiError::new(ErrorCode::EncryptionKeyMissing)
            .message("The stored 2FA secret cannot be decrypted with the current APP_ENC_KEY.")
            .fix("Restore the APP_ENC_KEY the secret was enrolled under, or have an admin reset this user's 2FA (PATCH /api/users/{id} {\"reset_two_factor\": true})."),
    }
}

/// A new session: the cookie values (shown to the client once) and their `Set-Cookie` headers.
struct Issued {
    session_token: String,
    csrf_token: String,
}

impl Issued {
    fn new() -> Self {
        Issued {
            session_token: tokens::random_token(32),
            csrf_token: tokens::random_token(32),
        }
    }

    fn attach<T>(&self, state: &AppState, ok: ApiOk<T>) -> ApiOk<T> {
        let cfg = &state.config.auth;
        let [session, csrf] = cookies::issue(
            cfg,
            &self.session_token,
            &self.csrf_token,
            cfg.session_absolute,
        );
        ok.header(header::SET_COOKIE, session)
            .header(header::SET_COOKIE, csrf)
            .no_store()
    }
}

fn user_agent(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// Ends the session the request came with, if any (a pre-login id must not survive login).
async fn end_presented_session(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    if let Some(old) = cookies::read(headers, cookies::session_name(&state.config.auth)) {
        sessions::delete_by_hash(&state.pool, &tokens::hash(old)).await?;
    }
    Ok(())
}

/// Which second factor was accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Factor {
    Totp,
    BackupCode,
}

impl Factor {
    fn as_str(self) -> &'static str {
        match self {
            Factor::Totp => "totp",
            Factor::BackupCode => "backup_code",
        }
    }
}

/// Checks a TOTP code or a backup code and consumes it with one atomic statement (one
/// accepted use per TOTP step, one use per backup code). `Ok(None)`: wrong, replayed or used.
async fn check_second_factor(
    state: &AppState,
    user: &User,
    code: Option<&str>,
    backup_code: Option<&str>,
) -> Result<Option<Factor>, ApiError> {
    let now = state.clock.now();
    match (code, backup_code) {
        (Some(code), None) => {
            let sealed = user
                .two_factor_secret_encrypted
                .as_deref()
                .ok_or_else(|| ApiError::new(ErrorCode::TwoFactorRequired))?;
            let secret =
                secret_box::open(&state.config.enc_key, user.id, sealed).map_err(box_error)?;
            let Some(step) =
                totp::matching_step(&secret, code, totp::step_at(now), user.two_factor_last_step)
            else {
                return Ok(None);
            };
            let won = users::consume_totp_step(&state.pool, user.id, step, now).await?;
            Ok(won.then_some(Factor::Totp))
        }
        (None, Some(raw)) => {
            let Some((id, secret)) = backup_codes::parse(raw) else {
                return Ok(None);
            };
            let phc = user.two_factor_backup_codes_hash.0.get(&id).cloned();
            // Unknown ids still pay for one verification, like a wrong code.
            let ok = password::verify(&secret, phc.as_deref())
                .await
                .map_err(hash_failed)?;
            let Some(phc) = phc.filter(|_| ok) else {
                return Ok(None);
            };
            let won = users::consume_backup_code(&state.pool, user.id, &id, &phc, now).await?;
            Ok(won.then_some(Factor::BackupCode))
        }
        _ => Err(ApiError::validation(
            "code",
            "send exactly one of `code` (authenticator) and `backup_code`",
        )),
    }
}
