//! Step-up re-authentication and the caller's own sessions.

use super::{enrollment::load_user, *};

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
pub(super) async fn step_up(
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
    let attempt = admit(&state, me.actor(), "auth.step_up", &user.email, &ip).await?;
    let checked = check_second_factor(
        &state,
        &user,
        body.code.as_deref(),
        body.backup_code.as_deref(),
    )
    .await;
    let factor = match checked {
        Ok(factor) => factor,
        Err(err) => {
            attempt.refund(&state.pool, now).await?;
            return Err(err);
        }
    };
    let Some(factor) = factor else {
        attempt.failed();
        audit(
            &state,
            entry(&state, me.actor(), "auth.step_up", Outcome::Failed).ip(Some(ip.0)),
        )
        .await;
        return Err(ApiError::new(ErrorCode::TwoFactorInvalid));
    };
    attempt.succeeded(&state.pool, now).await?;
    let issued = Issued::new();
    rotate_session(&state, &me, &issued, now).await?;
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
pub(super) async fn list_sessions(
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
pub(super) async fn revoke_session(
    State(state): State<AppState>,
    CurrentUser(me): CurrentUser,
    ip: ClientIp,
    ApiPath(id): ApiPath<Uuid>,
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
pub(super) async fn revoke_other_sessions(
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
