//! Registration of the first admin, login with its TOTP second step, logout, `me`.

use super::*;

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

/// Creates the first admin. Only while no user exists, and only through an IP address,
/// `localhost` or a host listed in `TRADEPLANE_ALLOWED_HOSTS` (DNS rebinding); afterwards
/// admins create users (POST /api/users).
#[utoipa::path(
    post,
    path = "/api/auth/register",
    tag = "auth",
    request_body = Credentials,
    responses(
        (status = 201, body = Envelope<UserBody>),
        (status = 403, description = "Users exist already, or a host name not allowed to create the first admin (`FORBIDDEN`)", body = ErrorEnvelope),
        (status = 422, description = "`VALIDATION_FAILED`", body = ErrorEnvelope),
    )
)]
pub(super) async fn register(
    State(state): State<AppState>,
    ip: ClientIp,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Credentials>,
) -> ApiResult<UserBody> {
    validate_email(&body.email)?;
    validate_password(&body.password)?;
    if users::count(&state.pool).await? > 0 {
        return Err(closed_registration());
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    if !crate::auth::hosts::may_register_first_admin(host, &state.config.auth.allowed_hosts) {
        return Err(ApiError::new(ErrorCode::Forbidden)
            .message(format!(
                "The first admin is not created through the host name {host:?}: a page of another \
                 site could reach this server under a name of its own (DNS rebinding)."
            ))
            .fix(
                "Open the Observatory through the server's IP address or localhost (the address \
                  the server logged), or list this host in TRADEPLANE_ALLOWED_HOSTS and restart.",
            ));
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

#[derive(Debug, Serialize, ToSchema)]
pub struct FirstRunBody {
    /// True while no user exists: the first admin is created through POST /api/auth/register
    /// (refused once any user exists).
    pub needs_first_admin: bool,
}

/// Whether this installation still needs its first admin (no user exists). Public: the web app
/// asks it before sign-in to show the first-run screen instead of the login form.
#[utoipa::path(
    get,
    path = "/api/auth/first-run",
    tag = "auth",
    responses(
        (status = 200, body = Envelope<FirstRunBody>),
        (status = 503, description = "`DATABASE_UNAVAILABLE`", body = ErrorEnvelope),
    )
)]
pub(super) async fn first_run(State(state): State<AppState>) -> ApiResult<FirstRunBody> {
    Ok(ApiOk::new(FirstRunBody {
        needs_first_admin: users::count(&state.pool).await? == 0,
    }))
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
pub(super) async fn login(
    State(state): State<AppState>,
    ip: ClientIp,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Credentials>,
) -> ApiResult<LoginBody> {
    let now = state.clock.now();
    check_login_email(&body.email)?;
    let attempt = admit(&state, Actor::anonymous(), "auth.login", &body.email, &ip).await?;
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
            attempt.failed();
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
        // Only the password passed: the attempt is taken back (it was no guess), but nothing
        // is reset, so re-entering the password cannot clear the code-guessing delays.
        attempt.refund(&state.pool, now).await?;
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
    attempt.succeeded(&state.pool, now).await?;
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
pub(super) async fn verify_two_factor(
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

impl From<ThrottleError> for StepFailure {
    fn from(err: ThrottleError) -> Self {
        StepFailure::Refused(err.into())
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
    let actor = Actor::user(user.id, &user.email);
    let attempt = admit(state, actor, "auth.2fa_verify", &user.email, ip).await?;
    let checked = check_second_factor(
        state,
        &user,
        body.code.as_deref(),
        body.backup_code.as_deref(),
    )
    .await;
    let factor = match checked {
        Ok(Some(factor)) => factor,
        Ok(None) => {
            attempt.failed();
            return Err(StepFailure::WrongCode(Box::new(user)));
        }
        Err(err) => {
            attempt.refund(&state.pool, now).await?;
            return Err(err.into());
        }
    };
    attempt.succeeded(&state.pool, now).await?;
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
pub(super) async fn logout(
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
    /// True for an admin or operator without 2FA outside any grace: every request but 2FA
    /// enrollment, `me` and logout answers `TWO_FACTOR_REQUIRED` until they enroll.
    pub two_factor_enrollment_required: bool,
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
pub(super) async fn me(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
) -> ApiResult<MeBody> {
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
        two_factor_enrollment_required: user.must_enroll_two_factor,
    }))
}
