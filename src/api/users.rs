//! `/api/users`: admins list, create, re-role and disable accounts. Disabling ends every
//! session of the user at once.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::{
    ApiError, ApiJson, ApiOk, ApiPath, ApiQuery, ApiResult, AppState,
    auth::{ClientIp, CurrentUser, UserBody, audit, validate_email, validate_password},
    envelope::{Envelope, ErrorEnvelope},
    pagination::{PageBody, PageParams},
};
use crate::{
    auth::password,
    domain::access::Role,
    error_code::ErrorCode,
    store::{
        audit_log::{NewAuditEntry, Outcome},
        users::{self, UserView},
    },
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_users, create_user))
        .routes(routes!(update_user))
}

/// Users, newest first.
#[utoipa::path(
    get,
    path = "/api/users",
    tag = "auth",
    security(("session" = ["admin"])),
    params(PageParams),
    responses(
        (status = 200, body = Envelope<PageBody<UserView>>),
        (status = 403, description = "`FORBIDDEN`", body = ErrorEnvelope),
        (status = 422, description = "`VALIDATION_FAILED`", body = ErrorEnvelope),
    )
)]
async fn list_users(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<PageParams>,
) -> ApiResult<PageBody<UserView>> {
    let paging = query.validate()?;
    let page = users::list(
        &state.pool,
        paging.after,
        paging.limit,
        (paging.from, paging.to),
    )
    .await?;
    Ok(ApiOk::new(PageBody {
        items: page.items.iter().map(users::User::view).collect(),
        next_cursor: page.next_cursor,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct NewUser {
    pub email: String,
    /// At least 12 characters; the user should change it (enroll 2FA) at first login.
    pub password: String,
    pub role: Role,
}

/// Creates a user (needs a 2FA verification within the step-up window).
#[utoipa::path(
    post,
    path = "/api/users",
    tag = "auth",
    security(("session" = ["admin"])),
    request_body = NewUser,
    responses(
        (status = 201, body = Envelope<UserBody>),
        (status = 401, description = "`TWO_FACTOR_REQUIRED`: no 2FA verification within the step-up window", body = ErrorEnvelope),
        (status = 403, description = "`FORBIDDEN`", body = ErrorEnvelope),
        (status = 422, description = "`VALIDATION_FAILED` (also: email taken)", body = ErrorEnvelope),
    )
)]
async fn create_user(
    State(state): State<AppState>,
    CurrentUser(me): CurrentUser,
    ip: ClientIp,
    ApiJson(body): ApiJson<NewUser>,
) -> ApiResult<UserBody> {
    validate_email(&body.email)?;
    validate_password(&body.password)?;
    let hash = password::hash(&body.password)
        .await
        .map_err(ApiError::internal)?;
    let now = state.clock.now();
    let user = match users::create(&state.pool, &body.email, &hash, body.role, now, false).await {
        Ok(user) => user,
        Err(users::CreateError::EmailTaken) => {
            return Err(ApiError::validation(
                "email",
                "is already used by another user",
            ));
        }
        Err(users::CreateError::NotFirst) => return Err(ApiError::internal("unexpected NotFirst")),
        Err(users::CreateError::Db(e)) => return Err(e.into()),
    };
    audit(
        &state,
        NewAuditEntry::new(me.actor(), "users.create", Outcome::Success, now)
            .target(user.id.to_string())
            .ip(Some(ip.0))
            .metadata(serde_json::json!({ "email": user.email, "role": body.role })),
    )
    .await;
    Ok(ApiOk::created(UserBody { user: user.view() }))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct UserPatch {
    pub role: Option<Role>,
    /// True ends every session of the user and blocks login; false re-enables.
    pub disabled: Option<bool>,
    /// True removes the user's 2FA (lost device) and ends their sessions.
    pub reset_two_factor: Option<bool>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UpdatedUser {
    pub user: UserView,
}

/// Changes a user's role, disables/enables the account or resets its 2FA (needs a 2FA
/// verification within the step-up window).
#[utoipa::path(
    patch,
    path = "/api/users/{id}",
    tag = "auth",
    security(("session" = ["admin"])),
    params(("id" = Uuid, Path)),
    request_body = UserPatch,
    responses(
        (status = 200, body = Envelope<UpdatedUser>),
        (status = 401, description = "`TWO_FACTOR_REQUIRED`: every change to a user needs your 2FA verification within the step-up window", body = ErrorEnvelope),
        (status = 403, description = "`FORBIDDEN`", body = ErrorEnvelope),
        (status = 422, description = "`VALIDATION_FAILED`: unknown user, or demoting/disabling yourself", body = ErrorEnvelope),
    )
)]
async fn update_user(
    State(state): State<AppState>,
    CurrentUser(me): CurrentUser,
    ip: ClientIp,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<UserPatch>,
) -> ApiResult<UpdatedUser> {
    if id == me.user_id
        && (body.disabled == Some(true) || body.role.is_some_and(|r| r < Role::Admin))
    {
        // Keeps at least the acting admin; another admin must do it.
        return Err(ApiError::validation(
            "id",
            "you cannot demote or disable yourself",
        ));
    }
    // The step-up this needs is checked by the guard (`auth::policy::STEP_UP_ROUTES`).
    let reset = body.reset_two_factor == Some(true);
    let now = state.clock.now();
    if reset && users::reset_two_factor(&state.pool, id).await?.is_none() {
        return Err(unknown_user());
    }
    let Some(user) = users::update(&state.pool, id, body.role, body.disabled, now).await? else {
        return Err(unknown_user());
    };
    audit(
        &state,
        NewAuditEntry::new(me.actor(), "users.update", Outcome::Success, now)
            .target(user.id.to_string())
            .ip(Some(ip.0))
            .metadata(serde_json::json!({ "role": body.role, "disabled": body.disabled, "reset_two_factor": reset })),
    )
    .await;
    Ok(ApiOk::new(UpdatedUser { user: user.view() }))
}

fn unknown_user() -> ApiError {
    ApiError::new(ErrorCode::ValidationFailed)
        .message("No user with this id exists.")
        .details(serde_json::json!({ "field": "id", "problem": "unknown user" }))
}
