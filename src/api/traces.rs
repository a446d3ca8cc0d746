//! `GET|POST /api/bots/{id}/decision-traces` and `/no-trade-traces`. Reads for any signed-in
//! user; writes only for service tokens with `traces:write` (the runner's writer path).

use axum::extract::State;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::{
    ApiError, ApiJson, ApiOk, ApiPath, ApiQuery, ApiResult, AppState,
    auth::ServiceCaller,
    bots::load,
    envelope::{Envelope, ErrorEnvelope},
    pagination::{PageBody, PageParams},
};
use crate::{
    domain::evaluation::{DecisionType, TraceBlocker},
    error_code::ErrorCode,
    store::page::TimeRange,
    store::traces::{
        self, DecisionTrace, NewDecisionTrace, NewNoTradeTrace, NoTradeTrace, TraceRef,
    },
    trace::TraceId,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_decisions, post_decision))
        .routes(routes!(list_no_trades, post_no_trade))
        .routes(routes!(get_decision))
        .routes(routes!(get_no_trade))
}

/// A bot's decision traces, newest first.
#[utoipa::path(
    get,
    path = "/api/bots/{id}/decision-traces",
    tag = "traces",
    params(("id" = Uuid, Path), PageParams),
    responses(
        (status = 200, body = Envelope<PageBody<DecisionTrace>>),
        (status = 404, description = "`BOT_NOT_FOUND`", body = ErrorEnvelope),
        (status = 422, description = "`VALIDATION_FAILED`", body = ErrorEnvelope),
    )
)]
async fn list_decisions(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(q): ApiQuery<PageParams>,
) -> ApiResult<PageBody<DecisionTrace>> {
    let paging = q.validate()?;
    load(&state, id).await?;
    let range = TimeRange {
        from: paging.from,
        to: paging.to,
    };
    let page = traces::decision_page(&state.pool, id, range, paging.after, paging.limit).await?;
    Ok(ApiOk::new(page.into()))
}

/// A bot's no-trade traces, newest first (folded rows carry `count` and `last_seen_at`).
#[utoipa::path(
    get,
    path = "/api/bots/{id}/no-trade-traces",
    tag = "traces",
    params(("id" = Uuid, Path), PageParams),
    responses(
        (status = 200, body = Envelope<PageBody<NoTradeTrace>>),
        (status = 404, description = "`BOT_NOT_FOUND`", body = ErrorEnvelope),
        (status = 422, description = "`VALIDATION_FAILED`", body = ErrorEnvelope),
    )
)]
async fn list_no_trades(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(q): ApiQuery<PageParams>,
) -> ApiResult<PageBody<NoTradeTrace>> {
    let paging = q.validate()?;
    load(&state, id).await?;
    let range = TimeRange {
        from: paging.from,
        to: paging.to,
    };
    let page = traces::no_trade_page(&state.pool, id, range, paging.after, paging.limit).await?;
    Ok(ApiOk::new(page.into()))
}

/// The bot id and trace reference of a single-trace read, parsed here so a malformed one is
/// `VALIDATION_FAILED` naming the field, not a bare 400.
fn parse_trace_path(id: &str, trace_id: &str) -> Result<(Uuid, TraceRef), ApiError> {
    let bot = parse_uuid("id", id)?;
    let r = TraceRef::parse(trace_id).ok_or_else(|| {
        ApiError::validation(
            "trace_id",
            "is neither a trace row id (UUID) nor a W3C trace id (32 hex digits)",
        )
    })?;
    Ok((bot, r))
}

/// A path UUID, or `VALIDATION_FAILED` naming `field`.
pub(crate) fn parse_uuid(field: &str, raw: &str) -> Result<Uuid, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::validation(field, "is not a UUID"))
}

fn trace_not_found(kind: &str, raw: &str, bot: Uuid) -> ApiError {
    ApiError::new(ErrorCode::TraceNotFound)
        .message(format!("no {kind} trace {raw} for bot {bot}"))
        .details(json!({ "bot_id": bot, "trace_id": raw }))
}

/// One decision trace of the bot, by row id or W3C trace id (another bot's trace is not found).
#[utoipa::path(
    get,
    path = "/api/bots/{id}/decision-traces/{trace_id}",
    tag = "traces",
    params(
        ("id" = Uuid, Path, description = "Bot id"),
        ("trace_id" = String, Path, description = "The trace's row id (UUID, the list items' `id`) or the W3C trace id of the evaluation that wrote it (32 hex, the list items' `trace_id`)"),
    ),
    responses(
        (status = 200, body = Envelope<DecisionTraceBody>),
        (status = 404, description = "`BOT_NOT_FOUND`, `TRACE_NOT_FOUND`", body = ErrorEnvelope),
        (status = 422, description = "`VALIDATION_FAILED`: `id` or `trace_id` malformed", body = ErrorEnvelope),
    )
)]
async fn get_decision(
    State(state): State<AppState>,
    ApiPath((id, trace_id)): ApiPath<(String, String)>,
) -> ApiResult<DecisionTraceBody> {
    let (bot, r) = parse_trace_path(&id, &trace_id)?;
    load(&state, bot).await?;
    let row = traces::find_decision(&state.pool, bot, &r)
        .await?
        .ok_or_else(|| trace_not_found("decision", &trace_id, bot))?;
    Ok(ApiOk::new(DecisionTraceBody {
        decision_trace: row,
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NoTradeTraceDetail {
    pub no_trade_trace: NoTradeTrace,
}

/// One no-trade trace of the bot, by row id or W3C trace id (another bot's trace is not found).
#[utoipa::path(
    get,
    path = "/api/bots/{id}/no-trade-traces/{trace_id}",
    tag = "traces",
    params(
        ("id" = Uuid, Path, description = "Bot id"),
        ("trace_id" = String, Path, description = "The trace's row id (UUID, the list items' `id`) or the W3C trace id of the evaluation that wrote it (32 hex, the list items' `trace_id`)"),
    ),
    responses(
        (status = 200, body = Envelope<NoTradeTraceDetail>),
        (status = 404, description = "`BOT_NOT_FOUND`, `TRACE_NOT_FOUND`", body = ErrorEnvelope),
        (status = 422, description = "`VALIDATION_FAILED`: `id` or `trace_id` malformed", body = ErrorEnvelope),
    )
)]
async fn get_no_trade(
    State(state): State<AppState>,
    ApiPath((id, trace_id)): ApiPath<(String, String)>,
) -> ApiResult<NoTradeTraceDetail> {
    let (bot, r) = parse_trace_path(&id, &trace_id)?;
    load(&state, bot).await?;
    let row = traces::find_no_trade(&state.pool, bot, &r)
        .await?
        .ok_or_else(|| trace_not_found("no-trade", &trace_id, bot))?;
    Ok(ApiOk::new(NoTradeTraceDetail {
        no_trade_trace: row,
    }))
}

fn code_field(field: &str, v: &str) -> Result<(), ApiError> {
    let ok = v.len() <= 64
        && v.starts_with(|c: char| c.is_ascii_uppercase())
        && v.chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(ApiError::validation(
            field,
            "must be an UPPER_SNAKE_CASE code (≤ 64 chars)",
        ))
    }
}

fn text_field(field: &str, v: &str) -> Result<(), ApiError> {
    if v.trim().is_empty() || v.chars().count() > 2000 {
        Err(ApiError::validation(field, "must be 1 to 2000 characters"))
    } else {
        Ok(())
    }
}

fn object_field(field: &str, v: &Option<Value>) -> Result<Value, ApiError> {
    match v {
        None => Ok(json!({})),
        Some(v @ Value::Object(_)) => Ok(v.clone()),
        Some(_) => Err(ApiError::validation(field, "must be a JSON object")),
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PostDecisionTrace {
    pub run_id: Option<Uuid>,
    pub trade_log_id: Option<Uuid>,
    #[schema(value_type = DecisionType)]
    pub decision_type: String,
    pub reason_human: String,
    pub reason_code: String,
    #[schema(value_type = Option<Object>)]
    pub signals: Option<Value>,
    #[schema(value_type = Option<Object>)]
    pub variables_snapshot: Option<Value>,
    /// 0–1.
    pub confidence: f64,
    pub expected_value: f64,
    #[schema(value_type = Option<Object>)]
    pub risk_snapshot: Option<Value>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DecisionTraceBody {
    pub decision_trace: DecisionTrace,
}

/// Records a decision trace (internal writers: service token with `traces:write`).
#[utoipa::path(
    post,
    path = "/api/bots/{id}/decision-traces",
    tag = "traces",
    security(("service_token" = ["traces:write"])),
    params(("id" = Uuid, Path)),
    request_body = PostDecisionTrace,
    responses(
        (status = 201, body = Envelope<DecisionTraceBody>),
        (status = 403, description = "`FORBIDDEN`: sessions and tokens without the scope", body = ErrorEnvelope),
        (status = 404, description = "`BOT_NOT_FOUND`", body = ErrorEnvelope),
        (status = 422, description = "`VALIDATION_FAILED`", body = ErrorEnvelope),
    )
)]
async fn post_decision(
    State(state): State<AppState>,
    _caller: ServiceCaller,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<PostDecisionTrace>,
) -> ApiResult<DecisionTraceBody> {
    let decision_type = DecisionType::parse(&body.decision_type)
        .ok_or_else(|| ApiError::validation("decision_type", "must be ENTRY, EXIT or ADJUST"))?;
    text_field("reason_human", &body.reason_human)?;
    code_field("reason_code", &body.reason_code)?;
    if !(body.confidence.is_finite() && (0.0..=1.0).contains(&body.confidence)) {
        return Err(ApiError::validation(
            "confidence",
            "must be between 0 and 1",
        ));
    }
    if !body.expected_value.is_finite() {
        return Err(ApiError::validation(
            "expected_value",
            "must be a finite number",
        ));
    }
    let signals = object_field("signals", &body.signals)?;
    let variables_snapshot = object_field("variables_snapshot", &body.variables_snapshot)?;
    let risk_snapshot = object_field("risk_snapshot", &body.risk_snapshot)?;
    load(&state, id).await?;
    // A decision explains its own bot's trade, never another bot's.
    if let Some(trade_id) = body.trade_log_id
        && crate::store::trades::get_for_bot(&state.pool, id, trade_id)
            .await?
            .is_none()
    {
        return Err(ApiError::validation(
            "trade_log_id",
            "names no trade of this bot",
        ));
    }
    let row = traces::insert_decision(
        &state.pool,
        NewDecisionTrace {
            bot_id: id,
            run_id: body.run_id,
            trade_log_id: body.trade_log_id,
            decision_type,
            reason_human: body.reason_human,
            reason_code: body.reason_code,
            signals,
            variables_snapshot,
            confidence: body.confidence,
            expected_value: body.expected_value,
            risk_snapshot,
            trace_id: TraceId::current(),
        },
        None,
        state.clock.now(),
    )
    .await
    .map_err(|e| match &e {
        sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
            ApiError::validation("trade_log_id", "names no trade")
        }
        _ => e.into(),
    })?;
    Ok(ApiOk::created(DecisionTraceBody {
        decision_trace: row,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PostNoTradeTrace {
    pub run_id: Option<Uuid>,
    pub suppression_type: String,
    pub suppression_decision: String,
    pub reason_human: String,
    pub reason_code: String,
    /// Every gate that blocked (`code` such as `MARKET_CLOSED`).
    pub blocked_by: Vec<TraceBlocker>,
    #[schema(value_type = Option<Object>)]
    pub signals: Option<Value>,
    #[schema(value_type = Option<Object>)]
    pub variables_snapshot: Option<Value>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NoTradeTraceBody {
    pub no_trade_trace: NoTradeTrace,
    /// True when folded into the previous identical suppression (count bumped).
    pub folded: bool,
}

/// Records a no-trade trace; consecutive identical suppressions (same `reason_code` and
/// `blocked_by`) fold into the latest row (201 new, 200 folded).
#[utoipa::path(
    post,
    path = "/api/bots/{id}/no-trade-traces",
    tag = "traces",
    security(("service_token" = ["traces:write"])),
    params(("id" = Uuid, Path)),
    request_body = PostNoTradeTrace,
    responses(
        (status = 201, body = Envelope<NoTradeTraceBody>),
        (status = 200, description = "Folded into the latest row", body = Envelope<NoTradeTraceBody>),
        (status = 403, description = "`FORBIDDEN`: sessions and tokens without the scope", body = ErrorEnvelope),
        (status = 404, description = "`BOT_NOT_FOUND`", body = ErrorEnvelope),
        (status = 422, description = "`VALIDATION_FAILED`", body = ErrorEnvelope),
    )
)]
async fn post_no_trade(
    State(state): State<AppState>,
    _caller: ServiceCaller,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<PostNoTradeTrace>,
) -> ApiResult<NoTradeTraceBody> {
    code_field("suppression_type", &body.suppression_type)?;
    code_field("suppression_decision", &body.suppression_decision)?;
    text_field("reason_human", &body.reason_human)?;
    code_field("reason_code", &body.reason_code)?;
    if body.blocked_by.is_empty() || body.blocked_by.len() > 32 {
        return Err(ApiError::validation(
            "blocked_by",
            "must list 1 to 32 gates",
        ));
    }
    for (i, b) in body.blocked_by.iter().enumerate() {
        code_field(&format!("blocked_by[{i}].code"), &b.code)?;
        text_field(&format!("blocked_by[{i}].gate"), &b.gate)?;
        text_field(&format!("blocked_by[{i}].reason_human"), &b.reason_human)?;
        text_field(&format!("blocked_by[{i}].suggested_fix"), &b.suggested_fix)?;
    }
    let signals = object_field("signals", &body.signals)?;
    let variables_snapshot = object_field("variables_snapshot", &body.variables_snapshot)?;
    load(&state, id).await?;
    let (row, folded) = traces::record_no_trade(
        &state.pool,
        NewNoTradeTrace {
            bot_id: id,
            run_id: body.run_id,
            suppression_type: body.suppression_type,
            suppression_decision: body.suppression_decision,
            reason_human: body.reason_human,
            reason_code: body.reason_code,
            blocked_by: body.blocked_by,
            signals,
            variables_snapshot,
            trace_id: TraceId::current(),
        },
        state.clock.now(),
    )
    .await?;
    let body = NoTradeTraceBody {
        no_trade_trace: row,
        folded,
    };
    Ok(if folded {
        ApiOk::new(body)
    } else {
        ApiOk::created(body)
    })
}
