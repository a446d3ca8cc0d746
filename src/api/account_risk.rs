//! Account risk (issue 17 part 6): `GET /api/account-risk` (every account's limits, current
//! figures and latch), `PUT /api/account-risk/{broker}/{account}` (operator, 2FA step-up,
//! audited) and `POST /api/account-risk/{broker}/{account}/rearm` (the human re-arm of a
//! latched account; operator, 2FA step-up, audited). The rules live in
//! `domain::account_risk` and `runtime::account_risk`.

use axum::extract::State;
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    ApiError, ApiJson, ApiOk, ApiPath, ApiResult, AppState,
    auth::{ClientIp, CurrentUser, audit, require_recent_step_up},
    envelope::{Envelope, ErrorEnvelope},
};
use crate::domain::account_risk::{AccountLatch, AccountRiskLimits};
use crate::error_code::ErrorCode;
use crate::integrations::brokers::BrokerVendor;
use crate::runtime::account_risk::{self as rules, AccountRiskStatus, PutError};
use crate::store::{
    account_risk as store,
    audit_log::{NewAuditEntry, Outcome},
    system_events::{NewSystemEvent, Severity},
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(account_risk))
        .routes(routes!(put_account_risk))
        .routes(routes!(rearm_account))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AccountRiskBody {
    /// Accounts with limits, a latch, or that LIVE orders go to now; by broker and account.
    pub accounts: Vec<AccountRiskStatus>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AccountLimitsBody {
    pub broker: String,
    pub account: String,
    pub limits: AccountRiskLimits,
    pub updated_by: String,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RearmBody {
    pub broker: String,
    pub account: String,
    /// The latch the re-arm cleared.
    pub cleared: AccountLatch,
    pub rearmed_by: String,
    pub rearmed_at: chrono::DateTime<chrono::Utc>,
}

/// Every broker account's limits, figures (positions per contract, working exposure, day PnL,
/// orders in the last minute) and daily-loss latch.
#[utoipa::path(
    get,
    path = "/api/account-risk",
    tag = "bots",
    responses(
        (status = 200, body = Envelope<AccountRiskBody>),
        (status = 503, description = "`DATABASE_UNAVAILABLE`", body = ErrorEnvelope),
    )
)]
async fn account_risk(State(state): State<AppState>) -> ApiResult<AccountRiskBody> {
    let brokers = state.runtime.brokers();
    let calendar = state.runtime.calendar();
    let accounts = rules::overview(
        &state.pool,
        brokers.as_deref(),
        calendar.as_deref(),
        state.clock.now(),
    )
    .await?;
    Ok(ApiOk::new(AccountRiskBody { accounts }))
}

/// The broker and account of the path, checked: a known broker id, a non-empty account id.
fn account_of(broker: &str, account: &str) -> Result<(), ApiError> {
    if BrokerVendor::parse(broker).is_none() {
        return Err(ApiError::validation(
            "broker",
            "must be a broker id (`ironbeam` or `tradovate`)",
        ));
    }
    if account.trim().is_empty() || account.len() > 64 {
        return Err(ApiError::validation(
            "account",
            "must be the broker's account id (1 to 64 characters)",
        ));
    }
    Ok(())
}

/// Sets the account's limits (replacing any). They apply at the next LIVE evaluation of
/// every bot routed to the account. Needs a recent 2FA step-up; audited.
#[utoipa::path(
    put,
    path = "/api/account-risk/{broker}/{account}",
    tag = "bots",
    security(("session" = ["operator"])),
    params(("broker" = String, Path), ("account" = String, Path)),
    request_body = AccountRiskLimits,
    responses(
        (status = 200, body = Envelope<AccountLimitsBody>),
        (status = 401, description = "`TWO_FACTOR_REQUIRED`: no recent step-up", body = ErrorEnvelope),
        (status = 403, description = "`FORBIDDEN`: viewers", body = ErrorEnvelope),
        (status = 422, description = "`VALIDATION_FAILED`: `details.fields` names each bad field", body = ErrorEnvelope),
    )
)]
async fn put_account_risk(
    State(state): State<AppState>,
    CurrentUser(me): CurrentUser,
    ip: ClientIp,
    ApiPath((broker, account)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<AccountRiskLimits>,
) -> ApiResult<AccountLimitsBody> {
    require_recent_step_up(&state, &me)?;
    account_of(&broker, &account)?;
    let now = state.clock.now();
    let before = store::limits(&state.pool, &broker, &account).await?;
    let row = match rules::put_limits(&state.pool, &broker, &account, &body, &me.email, now).await {
        Ok(row) => row,
        Err(PutError::Db(e)) => return Err(e.into()),
        Err(PutError::Invalid(problems)) => {
            let first = &problems[0];
            return Err(ApiError::new(ErrorCode::ValidationFailed)
                .message(
                    problems
                        .iter()
                        .map(|p| format!("`{}` {}", p.field, p.problem))
                        .collect::<Vec<_>>()
                        .join("; "),
                )
                .details(json!({
                    "field": first.field, "problem": first.problem, "fields": problems,
                })));
        }
    };
    audit(
        &state,
        NewAuditEntry::new(me.actor(), "account_risk.update", Outcome::Success, now)
            .target(format!("account:{broker}/{account}"))
            .ip(Some(ip.0))
            .metadata(json!({
                "from": before.map(|b| b.limits()), "to": row.limits(),
            })),
    )
    .await;
    Ok(ApiOk::new(AccountLimitsBody {
        limits: row.limits(),
        broker: row.broker,
        account: row.account,
        updated_by: row.updated_by,
        updated_at: row.updated_at,
    }))
}

/// Re-arms a latched account (a human's decision after reviewing its trades): its bots may
/// raise exposure again. The day roll never does this. Needs a recent 2FA step-up; audited.
#[utoipa::path(
    post,
    path = "/api/account-risk/{broker}/{account}/rearm",
    tag = "bots",
    security(("session" = ["operator"])),
    params(("broker" = String, Path), ("account" = String, Path)),
    responses(
        (status = 200, body = Envelope<RearmBody>),
        (status = 401, description = "`TWO_FACTOR_REQUIRED`: no recent step-up", body = ErrorEnvelope),
        (status = 403, description = "`FORBIDDEN`: viewers", body = ErrorEnvelope),
        (status = 409, description = "`ACCOUNT_NOT_LATCHED`", body = ErrorEnvelope),
        (status = 422, description = "`VALIDATION_FAILED`: an unknown broker", body = ErrorEnvelope),
    )
)]
async fn rearm_account(
    State(state): State<AppState>,
    CurrentUser(me): CurrentUser,
    ip: ClientIp,
    ApiPath((broker, account)): ApiPath<(String, String)>,
) -> ApiResult<RearmBody> {
    require_recent_step_up(&state, &me)?;
    account_of(&broker, &account)?;
    let now = state.clock.now();
    let Some(row) = store::rearm(&state.pool, &broker, &account, &me.email, now).await? else {
        return Err(ApiError::new(ErrorCode::AccountNotLatched)
            .message(format!("Account {broker}/{account} is not latched.")));
    };
    audit(
        &state,
        NewAuditEntry::new(me.actor(), "account_risk.rearm", Outcome::Success, now)
            .target(format!("account:{broker}/{account}"))
            .ip(Some(ip.0))
            .metadata(json!({
                "latch_id": row.id, "latched_at": row.latched_at, "daily_pnl": row.daily_pnl,
            })),
    )
    .await;
    state
        .record_event(
            NewSystemEvent::new(
                Severity::Info,
                "ACCOUNT_RISK_REARMED",
                format!("account {broker}/{account} re-armed by {}", me.email),
            )
            .metadata(json!({ "broker": broker, "account": account, "latch_id": row.id })),
        )
        .await;
    Ok(ApiOk::new(RearmBody {
        cleared: row.latch(),
        broker: row.broker,
        account: row.account,
        rearmed_by: me.email,
        rearmed_at: now,
    }))
}
