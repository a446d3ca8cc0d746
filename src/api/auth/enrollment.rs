//! TOTP enrollment (setup, confirm) and backup-code regeneration.

use super::*;

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
    let attempt = admit(
        state,
        Actor::user(user.id, &user.email),
        action,
        &user.email,
        ip,
    )
    .await?;
    let ok = password::verify(password_attempt, Some(&user.password_hash))
        .await
        .map_err(hash_failed)?;
    if !ok {
        attempt.failed();
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
    attempt.succeeded(&state.pool, now).await?;
    Ok(())
}

pub(super) async fn load_user(state: &AppState, id: Uuid) -> Result<User, ApiError> {
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
pub(super) async fn setup_two_factor(
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
pub(super) async fn confirm_two_factor(
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
    let secret = secret_box::open(&state.config.enc_key, user.id, &pending).map_err(box_error)?;
    let attempt = admit(&state, me.actor(), "auth.2fa_confirm", &user.email, &ip).await?;
    let Some(step) = totp::matching_step(&secret, &body.code, totp::step_at(now), None) else {
        attempt.failed();
        audit(
            &state,
            entry(&state, me.actor(), "auth.2fa_confirm", Outcome::Failed).ip(Some(ip.0)),
        )
        .await;
        return Err(ApiError::new(ErrorCode::TwoFactorInvalid));
    };
    let (shown, stored) = backup_codes::generate().await.map_err(hash_failed)?;
    if !users::enable_two_factor(&state.pool, user.id, &pending, step, &stored, now).await? {
        attempt.refund(&state.pool, now).await?;
        return Err(ApiError::new(ErrorCode::TwoFactorAlreadyEnabled));
    }
    attempt.succeeded(&state.pool, now).await?;
    let issued = Issued::new();
    rotate_session(&state, &me, &issued, now).await?;
    let others = other_live_sessions(&state, &me, now).await?;
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
        (status = 401, description = "`TWO_FACTOR_REQUIRED`: 2FA is not enabled, or no 2FA verification within the step-up window (POST /api/auth/step-up first)", body = ErrorEnvelope),
        (status = 403, description = "`FORBIDDEN`: password re-check failed", body = ErrorEnvelope),
        (status = 429, description = "`RATE_LIMITED`", body = ErrorEnvelope),
    )
)]
pub(super) async fn regenerate_backup_codes(
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
    if !users::replace_backup_codes(&state.pool, user.id, &stored).await? {
        // 2FA was reset meanwhile: these codes were never stored, so never shown.
        return Err(ApiError::new(ErrorCode::TwoFactorRequired)
            .message("Two-factor authentication was turned off while this request ran; no codes were made.")
            .fix("Enroll again: POST /api/auth/2fa/setup, then /api/auth/2fa/confirm."));
    }
    let others = other_live_sessions(&state, &me, state.clock.now()).await?;
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
        other_sessions: others,
        csrf_token: None,
    })
    .no_store())
}

/// The caller's other live sessions: after a factor change the answer offers to end them
/// (reference/security.md goal 7).
async fn other_live_sessions(
    state: &AppState,
    me: &AuthUser,
    now: DateTime<Utc>,
) -> Result<usize, ApiError> {
    Ok(
        sessions::list_live(&state.pool, me.user_id, now, state.config.auth.session_idle)
            .await?
            .into_iter()
            .filter(|s| s.id != me.session_id)
            .count(),
    )
}
