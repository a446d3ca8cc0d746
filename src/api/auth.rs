//! `/api/auth/*`: first-admin registration, login with TOTP second step, 2FA enrollment and
//! backup codes, step-up, logout, and the caller's own sessions.

use axum::{
    extract::{Path, State},
    http::{HeaderMap, header},
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::{
    ApiError, ApiJson, ApiOk, ApiResult, AppState,
    envelope::{Envelope, ErrorEnvelope},
    pagination::PageBody,
};
use crate::{
    auth::{
        CurrentUser, Role, backup_codes, cookies, normalize_email, password, principal::ClientIp,
        qr, secret_box, throttle, tokens, totp,
    },
    config::EncKey,
    error_code::ErrorCode,
    store::{
        audit_log::{self, Actor, NewAuditEntry, Outcome},
        login_challenges,
        sessions::{self, NewSession, SessionView},
        users::{self, User, UserView},
    },
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register))
        .routes(routes!(login))
        .routes(routes!(verify_two_factor))
        .routes(routes!(logout))
        .routes(routes!(me))
        .routes(routes!(setup_two_factor))
        .routes(routes!(confirm_two_factor))
        .routes(routes!(regenerate_backup_codes))
        .routes(routes!(step_up))
        .routes(routes!(list_sessions))
        .routes(routes!(revoke_session))
        .routes(routes!(revoke_other_sessions))
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

pub(crate) fn validate_password(password: &str) -> Result<(), ApiError> {
    password::validate(password).map_err(|problem| ApiError::validation("password", problem))
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

// ---------- register ----------

#[derive(Debug, Deserialize, ToSchema)]
pub struct Credentials {
    pub email: String,
    /// At least 12 characters.
    pub password: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserBody {
    pub user: UserView,
}

/// Creates the first admin. Only while no user exists; afterwards admins create users
/// (POST /api/users).
#[utoipa::path(
    post,
    path = "/api/auth/register",
    tag = "auth",
    request_body = Credentials,
    responses(
        (status = 201, body = Envelope<UserBody>),
        (status = 403, description = "Users exist already (`FORBIDDEN`)", body = ErrorEnvelope),
        (status = 422, description = "`VALIDATION_FAILED`", body = ErrorEnvelope),
    )
)]
async fn register(
    State(state): State<AppState>,
    ip: ClientIp,
    ApiJson(body): ApiJson<Credentials>,
) -> ApiResult<UserBody> {
    validate_email(&body.email)?;
    validate_password(&body.password)?;
    if users::count(&state.pool).await? > 0 {
        return Err(closed_registration());
    }
    let hash = password::hash(&body.password).await.map_err(hash_failed)?;
    let now = state.clock.now();
    let user = match users::create(&state.pool, &body.email, &hash, Role::Admin, now, true).await {
        Ok(user) => user,
        Err(users::CreateError::NotFirst) => return Err(closed_registration()),
        Err(users::CreateError::EmailTaken) => return Err(closed_registration()),
        Err(users::CreateError::Db(e)) => return Err(e.into()),
    };
    audit(
        &state,
        entry(
            &state,
            Actor::user(user.id, &user.email),
            "auth.register_first_admin",
            Outcome::Success,
        )
        .target(user.id.to_string())
        .ip(Some(ip.0)),
    )
    .await;
    Ok(ApiOk::created(UserBody { user: user.view() }))
}

fn closed_registration() -> ApiError {
    ApiError::new(ErrorCode::Forbidden)
        .message("Registration is closed: the first admin exists.")
        .fix("Ask an admin to create your account (POST /api/users), or run `tradeplane admin create`.")
}

// ---------- login ----------

#[derive(Debug, Serialize, ToSchema)]
pub struct LoginBody {
    /// True: send `temp_token` with a code to POST /api/auth/2fa/verify.
    pub requires_2fa: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temp_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temp_token_expires_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<UserView>,
    /// Echo of the CSRF cookie, for clients that cannot read cookies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub csrf_token: Option<String>,
}

/// Signs in with email and password. Without 2FA this sets the session cookie; with 2FA it
/// returns `{requires_2fa: true, temp_token}` and no session.
#[utoipa::path(
    post,
    path = "/api/auth/login",
    tag = "auth",
    request_body = Credentials,
    responses(
        (status = 200, body = Envelope<LoginBody>),
        (status = 401, description = "`UNAUTHENTICATED` (same answer for unknown email and wrong password)", body = ErrorEnvelope),
        (status = 429, description = "`RATE_LIMITED`, with `Retry-After`", body = ErrorEnvelope),
    )
)]
async fn login(
    State(state): State<AppState>,
    ip: ClientIp,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Credentials>,
) -> ApiResult<LoginBody> {
    let now = state.clock.now();
    let keys = throttle::keys(&body.email, &ip.0);
    throttle::check(&state.pool, &keys, now).await?;
    let user = users::by_email(&state.pool, &body.email).await?;
    let matches = password::verify(
        &body.password,
        user.as_ref().map(|u| u.password_hash.as_str()),
    )
    .await
    .map_err(hash_failed)?;
    let user = match user {
        Some(user) if matches && user.disabled_at.is_none() => user,
        _ => {
            throttle::failure(&state.pool, &keys, now).await?;
            audit(
                &state,
                entry(&state, Actor::anonymous(), "auth.login", Outcome::Failed)
                    .target(normalize_email(&body.email))
                    .ip(Some(ip.0)),
            )
            .await;
            return Err(wrong_credentials());
        }
    };
    end_presented_session(&state, &headers).await?;
    if user.two_factor_enabled {
        // Only the password passed: counters stay until the second factor succeeds, so
        // re-entering the password cannot reset the code-guessing delays.
        let temp = tokens::random_token(32);
        let challenge =
            login_challenges::create(&state.pool, user.id, &tokens::hash(&temp), now).await?;
        audit(
            &state,
            entry(
                &state,
                Actor::user(user.id, &user.email),
                "auth.login",
                Outcome::Success,
            )
            .ip(Some(ip.0))
            .metadata(serde_json::json!({ "second_factor": "pending" })),
        )
        .await;
        return Ok(ApiOk::new(LoginBody {
            requires_2fa: true,
            temp_token: Some(temp),
            temp_token_expires_at: Some(challenge.expires_at),
            user: None,
            csrf_token: None,
        })
        .no_store());
    }
    throttle::success(&state.pool, &keys).await?;
    let issued = Issued::new();
    let ua = user_agent(&headers);
    sessions::create(
        &state.pool,
        NewSession {
            user_id: user.id,
            token_hash: &tokens::hash(&issued.session_token),
            csrf_hash: &tokens::hash(&issued.csrf_token),
            now,
            absolute: state.config.auth.session_absolute,
            step_up_at: None,
            ip: Some(&ip.0),
            user_agent: ua.as_deref(),
        },
    )
    .await?;
    audit(
        &state,
        entry(
            &state,
            Actor::user(user.id, &user.email),
            "auth.login",
            Outcome::Success,
        )
        .ip(Some(ip.0))
        .metadata(serde_json::json!({ "second_factor": "not_enrolled" })),
    )
    .await;
    let ok = ApiOk::new(LoginBody {
        requires_2fa: false,
        temp_token: None,
        temp_token_expires_at: None,
        user: Some(user.view()),
        csrf_token: Some(issued.csrf_token.clone()),
    });
    Ok(issued.attach(&state, ok))
}

// ---------- 2FA verify (second login step) ----------

#[derive(Debug, Deserialize, ToSchema)]
pub struct VerifyRequest {
    pub temp_token: String,
    /// The 6-digit code from the authenticator app…
    pub code: Option<String>,
    /// …or one backup code.
    pub backup_code: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionBody {
    pub user: UserView,
    pub csrf_token: String,
}

/// Completes a 2FA login: the temp token from login plus a TOTP code or a backup code.
/// Sets the session cookie.
#[utoipa::path(
    post,
    path = "/api/auth/2fa/verify",
    tag = "auth",
    request_body = VerifyRequest,
    responses(
        (status = 200, body = Envelope<SessionBody>),
        (status = 401, description = "`TWO_FACTOR_INVALID`: wrong/used code, or the temp token is expired, used or revoked", body = ErrorEnvelope),
        (status = 429, description = "`RATE_LIMITED`, with `Retry-After`", body = ErrorEnvelope),
        (status = 503, description = "`ENCRYPTION_KEY_MISSING`", body = ErrorEnvelope),
    )
)]
async fn verify_two_factor(
    State(state): State<AppState>,
    ip: ClientIp,
    headers: HeaderMap,
    ApiJson(body): ApiJson<VerifyRequest>,
) -> ApiResult<SessionBody> {
    let now = state.clock.now();
    // No transaction spans the attempt (it would pin a connection through an argon2 check):
    // each step is one atomic statement. The claim makes the token single-use.
    let Some(challenge) =
        login_challenges::claim(&state.pool, &tokens::hash(&body.temp_token), now).await?
    else {
        return Err(ApiError::new(ErrorCode::TwoFactorInvalid)
            .message("This sign-in attempt expired, was used, or was revoked.")
            .fix("Sign in again with your email and password."));
    };
    let (user, factor, issued) =
        match second_step(&state, &ip, &headers, &body, &challenge, now).await {
            Ok(done) => done,
            Err(StepFailure::Refused(err)) => {
                login_challenges::release(&state.pool, challenge.id).await?;
                return Err(err);
            }
            Err(StepFailure::WrongCode(user)) => {
                let failures = login_challenges::fail(&state.pool, challenge.id).await?;
                let keys = throttle::keys(&user.email, &ip.0);
                throttle::failure(&state.pool, &keys, now).await?;
                let left = (login_challenges::MAX_FAILURES - failures).max(0);
                audit(
                    &state,
                    entry(
                        &state,
                        Actor::user(user.id, &user.email),
                        "auth.2fa_verify",
                        Outcome::Failed,
                    )
                    .ip(Some(ip.0.clone()))
                    .metadata(serde_json::json!({ "attempts_left": left })),
                )
                .await;
                return Err(ApiError::new(ErrorCode::TwoFactorInvalid).details(
                    serde_json::json!({ "attempts_left": left, "sign_in_again": left == 0 }),
                ));
            }
        };
    let keys = throttle::keys(&user.email, &ip.0);
    throttle::success(&state.pool, &keys).await?;
    let user = users::by_id(&state.pool, user.id).await?.unwrap_or(user);
    audit(
        &state,
        entry(&state, Actor::user(user.id, &user.email), "auth.2fa_verify", Outcome::Success)
            .ip(Some(ip.0))
            .metadata(serde_json::json!({ "factor": factor.as_str(), "backup_codes_remaining": user.two_factor_backup_codes_hash.0.len() })),
    )
    .await;
    let ok = ApiOk::new(SessionBody {
        user: user.view(),
        csrf_token: issued.csrf_token.clone(),
    });
    Ok(issued.attach(&state, ok))
}

enum StepFailure {
    /// Refused before a code was checked (throttled, key missing…): the token stays usable.
    Refused(ApiError),
    /// A wrong, replayed or used code.
    WrongCode(Box<User>),
}

impl From<ApiError> for StepFailure {
    fn from(err: ApiError) -> Self {
        StepFailure::Refused(err)
    }
}

impl From<sqlx::Error> for StepFailure {
    fn from(err: sqlx::Error) -> Self {
        StepFailure::Refused(err.into())
    }
}

/// The second factor for a claimed challenge; on success the session exists.
async fn second_step(
    state: &AppState,
    ip: &ClientIp,
    headers: &HeaderMap,
    body: &VerifyRequest,
    challenge: &login_challenges::Challenge,
    now: DateTime<Utc>,
) -> Result<(User, Factor, Issued), StepFailure> {
    let user = users::by_id(&state.pool, challenge.user_id)
        .await?
        .filter(|u| u.disabled_at.is_none() && u.two_factor_enabled)
        .ok_or_else(|| ApiError::new(ErrorCode::TwoFactorInvalid))?;
    let keys = throttle::keys(&user.email, &ip.0);
    throttle::check(&state.pool, &keys, now).await?;
    let factor = check_second_factor(
        state,
        &user,
        body.code.as_deref(),
        body.backup_code.as_deref(),
    )
    .await?;
    let Some(factor) = factor else {
        return Err(StepFailure::WrongCode(Box::new(user)));
    };
    let issued = Issued::new();
    let ua = user_agent(headers);
    sessions::create(
        &state.pool,
        NewSession {
            user_id: user.id,
            token_hash: &tokens::hash(&issued.session_token),
            csrf_hash: &tokens::hash(&issued.csrf_token),
            now,
            absolute: state.config.auth.session_absolute,
            step_up_at: Some(now),
            ip: Some(&ip.0),
            user_agent: ua.as_deref(),
        },
    )
    .await?;
    Ok((user, factor, issued))
}

// ---------- logout, me ----------

#[derive(Debug, Serialize, ToSchema)]
pub struct LoggedOut {
    pub logged_out: bool,
}

/// Ends this session: the row is deleted and the cookies cleared.
#[utoipa::path(
    post,
    path = "/api/auth/logout",
    tag = "auth",
    security(("session" = ["viewer"])),
    responses(
        (status = 200, body = Envelope<LoggedOut>),
        (status = 401, description = "`UNAUTHENTICATED`", body = ErrorEnvelope),
        (status = 403, description = "`FORBIDDEN` (CSRF)", body = ErrorEnvelope),
    )
)]
async fn logout(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    ip: ClientIp,
    headers: HeaderMap,
) -> ApiResult<LoggedOut> {
    end_presented_session(&state, &headers).await?;
    audit(
        &state,
        entry(&state, user.actor(), "auth.logout", Outcome::Success)
            .target(user.session_id.to_string())
            .ip(Some(ip.0)),
    )
    .await;
    let [session, csrf] = cookies::clear(&state.config.auth);
    Ok(ApiOk::new(LoggedOut { logged_out: true })
        .header(header::SET_COOKIE, session)
        .header(header::SET_COOKIE, csrf))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MeBody {
    pub user: UserView,
    pub session: SessionView,
    /// Until when the last 2FA step-up counts (null: none, or expired).
    pub step_up_valid_until: Option<DateTime<Utc>>,
}

/// The signed-in user and this session.
#[utoipa::path(
    get,
    path = "/api/auth/me",
    tag = "auth",
    security(("session" = ["viewer"])),
    responses(
        (status = 200, body = Envelope<MeBody>),
        (status = 401, description = "`UNAUTHENTICATED`", body = ErrorEnvelope),
    )
)]
async fn me(State(state): State<AppState>, CurrentUser(user): CurrentUser) -> ApiResult<MeBody> {
    let now = state.clock.now();
    let row = users::by_id(&state.pool, user.user_id)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::Unauthenticated))?;
    let session = sessions::list_live(
        &state.pool,
        user.user_id,
        now,
        state.config.auth.session_idle,
    )
    .await?
    .into_iter()
    .find(|s| s.id == user.session_id)
    .ok_or_else(|| ApiError::new(ErrorCode::Unauthenticated))?;
    let window = state.config.auth.step_up_window;
    Ok(ApiOk::new(MeBody {
        user: row.view(),
        step_up_valid_until: session
            .step_up_at
            .map(|at| at + window)
            .filter(|until| *until > now),
        session: session.view(user.session_id),
    }))
}

// ---------- enrollment ----------

#[derive(Debug, Deserialize, ToSchema)]
pub struct PasswordCheck {
    /// The current password (re-checked: an open session alone is not enough).
    pub password: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SetupBody {
    /// `otpauth://totp/…` for authenticator apps; shown once.
    pub otpauth_url: String,
    /// The same as a QR code: PNG, base64.
    pub qr_png_base64: String,
    /// The secret in base32, for typing in by hand.
    pub secret_base32: String,
}

async fn recheck_password(
    state: &AppState,
    user: &User,
    ip: &ClientIp,
    password_attempt: &str,
    action: &'static str,
) -> Result<(), ApiError> {
    let now = state.clock.now();
    let keys = throttle::keys(&user.email, &ip.0);
    throttle::check(&state.pool, &keys, now).await?;
    let ok = password::verify(password_attempt, Some(&user.password_hash))
        .await
        .map_err(hash_failed)?;
    if !ok {
        throttle::failure(&state.pool, &keys, now).await?;
        audit(
            state,
            entry(
                state,
                Actor::user(user.id, &user.email),
                action,
                Outcome::Failed,
            )
            .ip(Some(ip.0.clone()))
            .metadata(serde_json::json!({ "reason": "password re-check failed" })),
        )
        .await;
        return Err(ApiError::new(ErrorCode::Forbidden)
            .message("The password re-check failed.")
            .fix("Enter your current password."));
    }
    throttle::success(&state.pool, &keys).await?;
    Ok(())
}

async fn load_user(state: &AppState, id: Uuid) -> Result<User, ApiError> {
    users::by_id(&state.pool, id)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::Unauthenticated))
}

/// Starts TOTP enrollment after a password re-check: a new secret, shown once as an otpauth
/// URL and a QR code. Nothing is enabled until POST /api/auth/2fa/confirm.
#[utoipa::path(
    post,
    path = "/api/auth/2fa/setup",
    tag = "auth",
    security(("session" = ["viewer"])),
    request_body = PasswordCheck,
    responses(
        (status = 200, body = Envelope<SetupBody>, description = "Sent with `Cache-Control: no-store`"),
        (status = 403, description = "`FORBIDDEN`: password re-check failed", body = ErrorEnvelope),
        (status = 409, description = "`TWO_FACTOR_ALREADY_ENABLED`", body = ErrorEnvelope),
        (status = 429, description = "`RATE_LIMITED`", body = ErrorEnvelope),
        (status = 503, description = "`ENCRYPTION_KEY_MISSING`", body = ErrorEnvelope),
    )
)]
async fn setup_two_factor(
    State(state): State<AppState>,
    CurrentUser(me): CurrentUser,
    ip: ClientIp,
    ApiJson(body): ApiJson<PasswordCheck>,
) -> ApiResult<SetupBody> {
    // Checked first: without the key nothing is generated or written.
    require_key(&state.config.enc_key)?;
    let user = load_user(&state, me.user_id).await?;
    if user.two_factor_enabled {
        return Err(ApiError::new(ErrorCode::TwoFactorAlreadyEnabled));
    }
    recheck_password(&state, &user, &ip, &body.password, "auth.2fa_setup").await?;
    let secret = totp::generate_secret();
    let sealed = secret_box::seal(&state.config.enc_key, user.id, &secret).map_err(box_error)?;
    let otpauth_url = totp::otpauth_url(&user.email, &secret);
    let qr_png_base64 = qr::png_base64(&otpauth_url).map_err(ApiError::internal)?;
    if !users::set_pending_secret(&state.pool, user.id, &sealed).await? {
        return Err(ApiError::new(ErrorCode::TwoFactorAlreadyEnabled));
    }
    audit(
        &state,
        entry(&state, me.actor(), "auth.2fa_setup", Outcome::Success).ip(Some(ip.0)),
    )
    .await;
    Ok(ApiOk::new(SetupBody {
        otpauth_url,
        qr_png_base64,
        secret_base32: totp::base32_encode(&secret),
    })
    .no_store())
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CodeRequest {
    /// The current 6-digit code from the authenticator app.
    pub code: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BackupCodesBody {
    /// Shown once; each works once.
    pub backup_codes: Vec<String>,
    pub backup_codes_remaining: usize,
    /// Your other live sessions; consider ending them (DELETE /api/auth/sessions/{id}).
    pub other_sessions: usize,
    /// The rotated session's CSRF token (confirm counts as a step-up).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub csrf_token: Option<String>,
}

/// Confirms enrollment with a code from the app: 2FA is enabled and 10 backup codes are
/// returned, once. The session id is rotated.
#[utoipa::path(
    post,
    path = "/api/auth/2fa/confirm",
    tag = "auth",
    security(("session" = ["viewer"])),
    request_body = CodeRequest,
    responses(
        (status = 200, body = Envelope<BackupCodesBody>, description = "Sent with `Cache-Control: no-store`"),
        (status = 401, description = "`TWO_FACTOR_INVALID`", body = ErrorEnvelope),
        (status = 409, description = "`TWO_FACTOR_ALREADY_ENABLED`", body = ErrorEnvelope),
        (status = 422, description = "`VALIDATION_FAILED`: no enrollment in progress", body = ErrorEnvelope),
        (status = 503, description = "`ENCRYPTION_KEY_MISSING`", body = ErrorEnvelope),
    )
)]
async fn confirm_two_factor(
    State(state): State<AppState>,
    CurrentUser(me): CurrentUser,
    ip: ClientIp,
    ApiJson(body): ApiJson<CodeRequest>,
) -> ApiResult<BackupCodesBody> {
    require_key(&state.config.enc_key)?;
    let now = state.clock.now();
    let user = load_user(&state, me.user_id).await?;
    if user.two_factor_enabled {
        return Err(ApiError::new(ErrorCode::TwoFactorAlreadyEnabled));
    }
    let Some(pending) = user.two_factor_pending_secret_encrypted.clone() else {
        return Err(ApiError::validation(
            "code",
            "no enrollment in progress: POST /api/auth/2fa/setup first",
        ));
    };
    let keys = throttle::keys(&user.email, &ip.0);
    throttle::check(&state.pool, &keys, now).await?;
    let secret = secret_box::open(&state.config.enc_key, user.id, &pending).map_err(box_error)?;
    let Some(step) = totp::matching_step(&secret, &body.code, totp::step_at(now), None) else {
        throttle::failure(&state.pool, &keys, now).await?;
        audit(
            &state,
            entry(&state, me.actor(), "auth.2fa_confirm", Outcome::Failed).ip(Some(ip.0)),
        )
        .await;
        return Err(ApiError::new(ErrorCode::TwoFactorInvalid));
    };
    let (shown, stored) = backup_codes::generate().await.map_err(hash_failed)?;
    if !users::enable_two_factor(&state.pool, user.id, &pending, step, &stored, now).await? {
        return Err(ApiError::new(ErrorCode::TwoFactorAlreadyEnabled));
    }
    throttle::success(&state.pool, &keys).await?;
    let issued = Issued::new();
    sessions::rotate(
        &state.pool,
        me.session_id,
        &tokens::hash(&issued.session_token),
        &tokens::hash(&issued.csrf_token),
        Some(now),
    )
    .await?;
    let others = sessions::list_live(&state.pool, user.id, now, state.config.auth.session_idle)
        .await?
        .into_iter()
        .filter(|s| s.id != me.session_id)
        .count();
    audit(
        &state,
        entry(&state, me.actor(), "auth.2fa_confirm", Outcome::Success).ip(Some(ip.0)),
    )
    .await;
    let ok = ApiOk::new(BackupCodesBody {
        backup_codes_remaining: shown.len(),
        backup_codes: shown,
        other_sessions: others,
        csrf_token: Some(issued.csrf_token.clone()),
    });
    Ok(issued.attach(&state, ok))
}

/// Replaces all backup codes after a password re-check (the old ones stop working); the new
/// ones are shown once.
#[utoipa::path(
    post,
    path = "/api/auth/2fa/backup-codes",
    tag = "auth",
    security(("session" = ["viewer"])),
    request_body = PasswordCheck,
    responses(
        (status = 200, body = Envelope<BackupCodesBody>, description = "Sent with `Cache-Control: no-store`"),
        (status = 401, description = "`TWO_FACTOR_REQUIRED`: 2FA is not enabled", body = ErrorEnvelope),
        (status = 403, description = "`FORBIDDEN`: password re-check failed", body = ErrorEnvelope),
        (status = 429, description = "`RATE_LIMITED`", body = ErrorEnvelope),
    )
)]
async fn regenerate_backup_codes(
    State(state): State<AppState>,
    CurrentUser(me): CurrentUser,
    ip: ClientIp,
    ApiJson(body): ApiJson<PasswordCheck>,
) -> ApiResult<BackupCodesBody> {
    let user = load_user(&state, me.user_id).await?;
    if !user.two_factor_enabled {
        return Err(ApiError::new(ErrorCode::TwoFactorRequired)
            .message("Two-factor authentication is not enabled.")
            .fix("Enroll first: POST /api/auth/2fa/setup, then /api/auth/2fa/confirm."));
    }
    recheck_password(
        &state,
        &user,
        &ip,
        &body.password,
        "auth.backup_codes_regenerate",
    )
    .await?;
    let (shown, stored) = backup_codes::generate().await.map_err(hash_failed)?;
    users::replace_backup_codes(&state.pool, user.id, &stored).await?;
    audit(
        &state,
        entry(
            &state,
            me.actor(),
            "auth.backup_codes_regenerate",
            Outcome::Success,
        )
        .ip(Some(ip.0)),
    )
    .await;
    Ok(ApiOk::new(BackupCodesBody {
        backup_codes_remaining: shown.len(),
        backup_codes: shown,
        other_sessions: 0,
        csrf_token: None,
    })
    .no_store())
}

// ---------- step-up ----------

#[derive(Debug, Deserialize, ToSchema)]
pub struct StepUpRequest {
    pub code: Option<String>,
    pub backup_code: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StepUpBody {
    pub step_up_at: DateTime<Utc>,
    pub step_up_valid_until: DateTime<Utc>,
    /// The rotated session's CSRF token.
    pub csrf_token: String,
}

/// Proves the second factor again for sensitive actions (LIVE promotion, kill switch,
/// trading switch). The session id is rotated; the old cookie stops working.
#[utoipa::path(
    post,
    path = "/api/auth/step-up",
    tag = "auth",
    security(("session" = ["viewer"])),
    request_body = StepUpRequest,
    responses(
        (status = 200, body = Envelope<StepUpBody>),
        (status = 401, description = "`TWO_FACTOR_INVALID`, or `TWO_FACTOR_REQUIRED` when 2FA is not enrolled", body = ErrorEnvelope),
        (status = 429, description = "`RATE_LIMITED`", body = ErrorEnvelope),
        (status = 503, description = "`ENCRYPTION_KEY_MISSING`", body = ErrorEnvelope),
    )
)]
async fn step_up(
    State(state): State<AppState>,
    CurrentUser(me): CurrentUser,
    ip: ClientIp,
    ApiJson(body): ApiJson<StepUpRequest>,
) -> ApiResult<StepUpBody> {
    let now = state.clock.now();
    let user = load_user(&state, me.user_id).await?;
    if !user.two_factor_enabled {
        return Err(ApiError::new(ErrorCode::TwoFactorRequired)
            .message("Step-up needs two-factor authentication, which is not enabled.")
            .fix("Enroll first: POST /api/auth/2fa/setup, then /api/auth/2fa/confirm."));
    }
    let keys = throttle::keys(&user.email, &ip.0);
    throttle::check(&state.pool, &keys, now).await?;
    let factor = check_second_factor(
        &state,
        &user,
        body.code.as_deref(),
        body.backup_code.as_deref(),
    )
    .await?;
    let Some(factor) = factor else {
        throttle::failure(&state.pool, &keys, now).await?;
        audit(
            &state,
            entry(&state, me.actor(), "auth.step_up", Outcome::Failed).ip(Some(ip.0)),
        )
        .await;
        return Err(ApiError::new(ErrorCode::TwoFactorInvalid));
    };
    throttle::success(&state.pool, &keys).await?;
    let issued = Issued::new();
    sessions::rotate(
        &state.pool,
        me.session_id,
        &tokens::hash(&issued.session_token),
        &tokens::hash(&issued.csrf_token),
        Some(now),
    )
    .await?;
    audit(
        &state,
        entry(&state, me.actor(), "auth.step_up", Outcome::Success)
            .ip(Some(ip.0))
            .metadata(serde_json::json!({ "factor": factor.as_str() })),
    )
    .await;
    let ok = ApiOk::new(StepUpBody {
        step_up_at: now,
        step_up_valid_until: now + state.config.auth.step_up_window,
        csrf_token: issued.csrf_token.clone(),
    });
    Ok(issued.attach(&state, ok))
}

// ---------- own sessions ----------

/// Your live sessions, newest first (all of them; `next_cursor` is always null).
#[utoipa::path(
    get,
    path = "/api/auth/sessions",
    tag = "auth",
    security(("session" = ["viewer"])),
    responses(
        (status = 200, body = Envelope<PageBody<SessionView>>),
        (status = 401, description = "`UNAUTHENTICATED`", body = ErrorEnvelope),
    )
)]
async fn list_sessions(
    State(state): State<AppState>,
    CurrentUser(me): CurrentUser,
) -> ApiResult<PageBody<SessionView>> {
    let rows = sessions::list_live(
        &state.pool,
        me.user_id,
        state.clock.now(),
        state.config.auth.session_idle,
    )
    .await?;
    Ok(ApiOk::new(PageBody {
        items: rows.iter().map(|s| s.view(me.session_id)).collect(),
        next_cursor: None,
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RevokedBody {
    pub revoked: bool,
}

/// Ends one of your sessions (this one included).
#[utoipa::path(
    delete,
    path = "/api/auth/sessions/{id}",
    tag = "auth",
    security(("session" = ["viewer"])),
    params(("id" = Uuid, Path, description = "Session id from GET /api/auth/sessions")),
    responses(
        (status = 200, body = Envelope<RevokedBody>),
        (status = 401, description = "`UNAUTHENTICATED`", body = ErrorEnvelope),
        (status = 422, description = "`VALIDATION_FAILED`: not one of your sessions", body = ErrorEnvelope),
    )
)]
async fn revoke_session(
    State(state): State<AppState>,
    CurrentUser(me): CurrentUser,
    ip: ClientIp,
    Path(id): Path<Uuid>,
) -> ApiResult<RevokedBody> {
    if !sessions::delete_own(&state.pool, me.user_id, id).await? {
        return Err(ApiError::validation(
            "id",
            "is not one of your live sessions",
        ));
    }
    audit(
        &state,
        entry(&state, me.actor(), "auth.session_revoke", Outcome::Success)
            .target(id.to_string())
            .ip(Some(ip.0)),
    )
    .await;
    let mut ok = ApiOk::new(RevokedBody { revoked: true });
    if id == me.session_id {
        let [session, csrf] = cookies::clear(&state.config.auth);
        ok = ok
            .header(header::SET_COOKIE, session)
            .header(header::SET_COOKIE, csrf);
    }
    Ok(ok)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RevokedCount {
    pub revoked: u64,
}

/// Ends every one of your sessions except this one (e.g. after a factor change).
#[utoipa::path(
    post,
    path = "/api/auth/sessions/revoke-others",
    tag = "auth",
    security(("session" = ["viewer"])),
    responses(
        (status = 200, body = Envelope<RevokedCount>),
        (status = 401, description = "`UNAUTHENTICATED`", body = ErrorEnvelope),
    )
)]
async fn revoke_other_sessions(
    State(state): State<AppState>,
    CurrentUser(me): CurrentUser,
    ip: ClientIp,
) -> ApiResult<RevokedCount> {
    let revoked = sessions::delete_others(&state.pool, me.user_id, me.session_id).await?;
    audit(
        &state,
        entry(
            &state,
            me.actor(),
            "auth.session_revoke_others",
            Outcome::Success,
        )
        .ip(Some(ip.0))
        .metadata(serde_json::json!({ "revoked": revoked })),
    )
    .await;
    Ok(ApiOk::new(RevokedCount { revoked }))
}
