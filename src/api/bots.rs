//! `/api/bots`: create, list, read and change bots. Lifecycle lives in `bot_lifecycle.rs`.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::{
    ApiError, ApiJson, ApiOk, ApiPath, ApiQuery, ApiResult, AppState,
    auth::{CurrentUser, audit, require_recent_step_up},
    bot_summary::{BotListItem, BotSummary, summaries},
    envelope::{Envelope, ErrorEnvelope},
    pagination::{PageBody, PageParams},
};
use crate::{
    domain::{
        access::Role,
        bot::BotStatus,
        instruments::{ContractSpec, Symbol},
        risk::{RiskLimits, RiskLimitsPatch, Stage},
        strategy_config::StrategyConfig,
        strategy_filters::StrategyFilters,
        timeframe::Timeframe,
    },
    error_code::ErrorCode,
    runtime::RunnerSnapshot,
    store::{
        audit_log::{NewAuditEntry, Outcome},
        bots::{self, Archived, Bot, BotFilter, BotPatch, BotWriteError, NewBot},
        profit_variables,
    },
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_bots, create_bot))
        .routes(routes!(create_starter_set))
        .routes(routes!(get_bot, patch_bot))
}

/// A request's `risk`: any subset of the limits, refused by field name (`risk.<field>`).
fn parse_risk(raw: &Value) -> Result<RiskLimitsPatch, ApiError> {
    RiskLimitsPatch::parse(raw).map_err(|e| {
        let field = if e.field.is_empty() {
            "risk".to_owned()
        } else {
            format!("risk.{}", e.field)
        };
        ApiError::validation(&field, e.problem)
    })
}

/// The bot as the API shows it: `risk_limits` complete (older rows store `{}` or a subset;
/// the engine fills the same defaults). A row that does not parse is shown as stored.
pub(crate) fn with_complete_limits(mut bot: Bot) -> Bot {
    let complete = RiskLimits::from_stored(&bot.risk_limits, bot.timeframe)
        .and_then(|l| serde_json::to_value(l).map_err(|e| e.to_string()));
    match complete {
        Ok(limits) => bot.risk_limits = limits,
        Err(problem) => tracing::warn!(bot_id = %bot.id, %problem, "stored risk_limits unusable"),
    }
    bot
}

/// A submitted strategy: `{kind, params}` plus its entry filters (`filters`, optional), stored
/// together in the bot's `strategy` column.
struct ParsedStrategy {
    config: StrategyConfig,
    filters: StrategyFilters,
}

impl ParsedStrategy {
    fn to_value(&self) -> Result<Value, ApiError> {
        let mut v = serde_json::to_value(&self.config).map_err(ApiError::internal)?;
        self.filters.attach(&mut v);
        Ok(v)
    }
}

fn parse_strategy(raw: Value) -> Result<ParsedStrategy, ApiError> {
    let filters = StrategyFilters::from_strategy(&raw)
        .map_err(|e| ApiError::validation(&e.field, e.problem))?;
    let kind = raw.get("kind").and_then(Value::as_str).map(str::to_owned);
    let config: StrategyConfig =
        serde_json::from_value(raw).map_err(|e| match kind.as_deref() {
            Some("sma_crossover" | "donchian_breakout" | "rsi_mean_reversion") => {
                ApiError::validation("strategy.params", format!("is not valid: {e}"))
            }
            _ => ApiError::validation(
                "strategy.kind",
                "must be one of sma_crossover, donchian_breakout, rsi_mean_reversion",
            ),
        })?;
    config
        .validate()
        .map_err(|e| ApiError::validation(&e.field, e.problem))?;
    Ok(ParsedStrategy { config, filters })
}

fn parse_name(raw: &str) -> Result<String, ApiError> {
    super::hygiene::display_name("name", raw, 100)
}

fn name_taken() -> ApiError {
    ApiError::validation("name", "is already used by another bot")
}

fn write_error(err: BotWriteError) -> ApiError {
    match err {
        BotWriteError::NameTaken => name_taken(),
        BotWriteError::Db(e) => e.into(),
    }
}

pub(crate) fn not_found(id: Uuid) -> ApiError {
    ApiError::new(ErrorCode::BotNotFound)
        .message(format!("No bot with id {id} exists."))
        .details(json!({ "bot_id": id }))
}

pub(crate) async fn load(state: &AppState, id: Uuid) -> Result<Bot, ApiError> {
    bots::get(&state.pool, id)
        .await?
        .ok_or_else(|| not_found(id))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateBot {
    pub name: String,
    #[schema(value_type = Symbol)]
    pub symbol: String,
    #[schema(value_type = Timeframe)]
    pub timeframe: String,
    /// `LAB`: every later stage is reached by promotion, through its evidence gate.
    #[schema(value_type = Stage)]
    pub stage: String,
    /// `{kind, params, filters?}` (`filters`: `StrategyFilters`, entry filters).
    #[schema(value_type = Object)]
    pub strategy: Value,
    /// Any subset; the rest take the desk defaults for the timeframe. The bot stores (and
    /// shows) the complete limits.
    #[schema(value_type = Option<RiskLimitsPatch>)]
    pub risk: Option<Value>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BotBody {
    pub bot: Bot,
}

impl BotBody {
    /// The bot as every response shows it: with its complete risk limits.
    pub(crate) fn of(bot: Bot) -> Self {
        BotBody {
            bot: with_complete_limits(bot),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BotDetail {
    pub bot: Bot,
    pub contract: ContractSpec,
    /// The supervision runtime's view of the runner (None: no runner in this process).
    pub runner: Option<RunnerSnapshot>,
    /// Autonomy, today's PnL, latest evaluation and open breakers (as in `GET /api/bots`).
    pub summary: BotSummary,
}

/// Creates a bot (STOPPED, in LAB).
#[utoipa::path(
    post,
    path = "/api/bots",
    tag = "bots",
    security(("session" = ["operator"])),
    request_body = CreateBot,
    responses(
        (status = 201, body = Envelope<BotBody>),
        (status = 422, description = "`VALIDATION_FAILED`; `details.field` names the field", body = ErrorEnvelope),
    )
)]
async fn create_bot(
    State(state): State<AppState>,
    CurrentUser(me): CurrentUser,
    ApiJson(body): ApiJson<CreateBot>,
) -> ApiResult<BotBody> {
    let name = parse_name(&body.name)?;
    let symbol = Symbol::parse(&body.symbol).ok_or_else(|| {
        ApiError::validation("symbol", format!("must be one of {}", Symbol::names()))
    })?;
    let timeframe: Timeframe = serde_json::from_value(Value::String(body.timeframe.clone()))
        .map_err(|_| ApiError::validation("timeframe", "must be one of 1s, 1m, 5m, 15m, 1h, 1d"))?;
    let stage =
        Stage::parse(&body.stage).ok_or_else(|| ApiError::validation("stage", "must be LAB"))?;
    // Every stage above LAB is reached through its promotion's evidence gate, which a bot not
    // yet created cannot meet: created at PAPER it would trade without the backtest the gate asks.
    if stage != Stage::Lab {
        return Err(ApiError::validation(
            "stage",
            format!(
                "cannot be {stage} at creation: a new bot starts in LAB (PAPER needs a backtest of it, \
                 SHADOW its PAPER results, LIVE its SHADOW results)"
            ),
        )
        .fix("Create the bot in LAB, backtest it in the Strategy Lab, then promote it one stage at a time."));
    }
    let strategy = parse_strategy(body.strategy)?;
    let risk = match &body.risk {
        Some(raw) => parse_risk(raw)?,
        None => RiskLimitsPatch::default(),
    };
    let risk_limits = RiskLimits::defaults_for(timeframe).merged(&risk);
    let now = state.clock.now();
    // The bot and the variables it uses land together.
    let mut tx = state.pool.begin().await?;
    let bot = bots::insert(
        &mut *tx,
        NewBot {
            name,
            symbol,
            timeframe,
            stage,
            strategy: strategy.to_value()?,
            risk_limits: serde_json::to_value(&risk_limits).map_err(ApiError::internal)?,
            created_by: Some(me.email.clone()),
        },
        now,
    )
    .await
    .map_err(write_error)?;
    profit_variables::sync_bot(&mut *tx, bot.id, strategy.config.variables(), now).await?;
    let series = strategy.filters.macro_filter.as_ref().map(|m| m.series_id);
    crate::store::macro_data::sync_bot_series(&mut *tx, bot.id, series, now).await?;
    tx.commit().await?;
    audit(
        &state,
        NewAuditEntry::new(
            me.actor(),
            "bot.create",
            Outcome::Success,
            state.clock.now(),
        )
        .target(format!("bot:{}", bot.id))
        .metadata(json!({ "name": bot.name, "stage": bot.stage })),
    )
    .await;
    Ok(ApiOk::created(BotBody { bot }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BotsQuery {
    /// Page size, 1–500 (default 50).
    pub limit: Option<i64>,
    pub cursor: Option<String>,
    pub from: Option<chrono::DateTime<chrono::Utc>>,
    pub to: Option<chrono::DateTime<chrono::Utc>>,
    pub stage: Option<String>,
    pub status: Option<String>,
    pub symbol: Option<String>,
    /// `exclude` (default): bots not archived; `include`: all; `only`: archived bots.
    pub archived: Option<String>,
}

/// Bots, newest first, filtered by stage, status and symbol (archived bots only on request). Each item is the bot plus its
/// `summary` (autonomy, today's PnL, latest evaluation, open breakers), read for the whole
/// page at once.
#[utoipa::path(
    get,
    path = "/api/bots",
    tag = "bots",
    params(BotsQuery),
    responses(
        (status = 200, body = Envelope<PageBody<BotListItem>>),
        (status = 422, description = "`VALIDATION_FAILED`", body = ErrorEnvelope),
    )
)]
async fn list_bots(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<BotsQuery>,
) -> ApiResult<PageBody<BotListItem>> {
    let paging = PageParams {
        limit: q.limit,
        cursor: q.cursor,
        from: q.from,
        to: q.to,
    }
    .validate()?;
    let stage = match q.stage.as_deref() {
        None => None,
        Some(s) => Some(Stage::parse(s).ok_or_else(|| {
            ApiError::validation("stage", "must be one of LAB, PAPER, SHADOW, LIVE")
        })?),
    };
    let status = match q.status.as_deref() {
        None => None,
        Some(s) => Some(BotStatus::parse(s).ok_or_else(|| {
            ApiError::validation("status", "must be a SPEC bot status (e.g. RUNNING)")
        })?),
    };
    let symbol = match q.symbol.as_deref() {
        None => None,
        Some(s) => Some(
            Symbol::parse(s)
                .ok_or_else(|| ApiError::validation("symbol", "is not a known symbol"))?,
        ),
    };
    let archived = match q.archived.as_deref() {
        None => Archived::Exclude,
        Some(s) => Archived::parse(s).ok_or_else(|| {
            ApiError::validation("archived", "must be one of exclude, include, only")
        })?,
    };
    let filter = BotFilter {
        archived,
        stage,
        status,
        symbol,
        from: paging.from,
        to: paging.to,
    };
    let page = bots::list(&state.pool, &filter, paging.after, paging.limit).await?;
    let items: Vec<Bot> = page.items.into_iter().map(with_complete_limits).collect();
    let summaries = summaries(&state, &items).await?;
    Ok(ApiOk::new(PageBody {
        items: items
            .into_iter()
            .zip(summaries)
            .map(|(bot, summary)| BotListItem { bot, summary })
            .collect(),
        next_cursor: page.next_cursor,
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StarterSetBody {
    /// Bots this call created (LAB, STOPPED).
    pub created: Vec<Bot>,
    /// Names of the set that already existed and were left as they are.
    pub existing: Vec<String>,
}

/// Creates the documented starter set: one LAB bot per strategy kind on ES and NQ (5m, desk
/// default limits; see `domain::starter_bots`). Idempotent by name: a second call creates
/// nothing and lists every name as `existing`.
#[utoipa::path(
    post,
    path = "/api/bots/starter-set",
    tag = "bots",
    security(("session" = ["operator"])),
    responses(
        (status = 200, body = Envelope<StarterSetBody>),
        (status = 503, description = "`DATABASE_UNAVAILABLE`", body = ErrorEnvelope),
    )
)]
async fn create_starter_set(
    State(state): State<AppState>,
    CurrentUser(me): CurrentUser,
) -> ApiResult<StarterSetBody> {
    let now = state.clock.now();
    let set = crate::runtime::starter_bots::create(&state.pool, Some(&me.email), now).await?;
    if !set.created.is_empty() {
        audit(
            &state,
            NewAuditEntry::new(me.actor(), "bot.starter_set", Outcome::Success, now).metadata(
                json!({ "created": set.created.iter().map(|b| &b.name).collect::<Vec<_>>() }),
            ),
        )
        .await;
    }
    Ok(ApiOk::new(StarterSetBody {
        created: set.created.into_iter().map(with_complete_limits).collect(),
        existing: set.existing,
    }))
}

/// One bot with its contract specification and runner snapshot.
#[utoipa::path(
    get,
    path = "/api/bots/{id}",
    tag = "bots",
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, body = Envelope<BotDetail>),
        (status = 404, description = "`BOT_NOT_FOUND`", body = ErrorEnvelope),
    )
)]
async fn get_bot(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<BotDetail> {
    let bot = with_complete_limits(load(&state, id).await?);
    let contract = bot.symbol.spec();
    let runner = state.runtime.runner(id);
    let summary = summaries(&state, std::slice::from_ref(&bot))
        .await?
        .pop()
        .ok_or_else(|| ApiError::internal("no summary for a loaded bot"))?;
    Ok(ApiOk::new(BotDetail {
        bot,
        contract,
        runner,
        summary,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchBot {
    pub name: Option<String>,
    /// Any subset: merged onto the bot's current limits.
    #[schema(value_type = Option<RiskLimitsPatch>)]
    pub risk: Option<Value>,
    /// Only while the bot is STOPPED.
    #[schema(value_type = Option<Object>)]
    pub strategy: Option<Value>,
    /// Turning it on needs an admin; audited.
    pub is_trading_enabled: Option<bool>,
}

/// Changes name, risk limits, strategy (while STOPPED) or `is_trading_enabled`. The stage
/// changes only by promotion/demotion.
#[utoipa::path(
    patch,
    path = "/api/bots/{id}",
    tag = "bots",
    security(("session" = ["operator"])),
    params(("id" = Uuid, Path)),
    request_body = PatchBot,
    responses(
        (status = 200, body = Envelope<BotBody>),
        (status = 401, description = "`TWO_FACTOR_REQUIRED`: turning a LIVE bot's trading on without a recent step-up", body = ErrorEnvelope),
        (status = 403, description = "`FORBIDDEN`: enabling trading needs an admin", body = ErrorEnvelope),
        (status = 404, description = "`BOT_NOT_FOUND`", body = ErrorEnvelope),
        (status = 409, description = "`INVALID_STATE_TRANSITION`: strategy change while not STOPPED", body = ErrorEnvelope),
        (status = 422, description = "`VALIDATION_FAILED`", body = ErrorEnvelope),
    )
)]
async fn patch_bot(
    State(state): State<AppState>,
    CurrentUser(me): CurrentUser,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<PatchBot>,
) -> ApiResult<BotBody> {
    // Locked: the risk merge and the STOPPED check read what the update then writes over.
    let mut tx = state.pool.begin().await?;
    let bot = bots::lock(&mut *tx, id)
        .await?
        .ok_or_else(|| not_found(id))?;
    let mut patch = BotPatch::default();
    if let Some(name) = &body.name {
        patch.name = Some(parse_name(name)?);
    }
    if let Some(raw) = &body.risk {
        let risk = parse_risk(raw)?;
        // A complete `risk` replaces the stored limits even when those no longer parse.
        let limits = match risk.complete() {
            Some(limits) => limits,
            None => RiskLimits::from_stored(&bot.risk_limits, bot.timeframe)
                .map_err(|problem| {
                    ApiError::validation(
                        "risk",
                        format!(
                            "cannot be merged: the stored limits are unusable ({problem}); \
                             send all seven fields to replace them"
                        ),
                    )
                })?
                .merged(&risk),
        };
        patch.risk_limits = Some(serde_json::to_value(&limits).map_err(ApiError::internal)?);
    }
    let mut new_strategy = None;
    if let Some(strategy) = body.strategy {
        let parsed = parse_strategy(strategy)?;
        if bot.status != BotStatus::Stopped {
            return Err(ApiError::new(ErrorCode::InvalidStateTransition)
                .message(format!(
                    "The strategy can change only while the bot is STOPPED; it is {}.",
                    bot.status
                ))
                .fix("Stop the bot (POST /api/bots/{id}/stop), change the strategy, then start it again.")
                .details(json!({ "status": bot.status })));
        }
        patch.strategy = Some(parsed.to_value()?);
        new_strategy = Some(parsed);
    }
    if body.is_trading_enabled == Some(true) {
        me.require(Role::Admin)?;
        // A LIVE bot's own switch is half of the LIVE gate: turning it on asks what turning
        // the global switch on asks (turning either off never does).
        if !bot.is_trading_enabled && bot.stage == Stage::Live {
            require_recent_step_up(&state, &me)?;
        }
    }
    patch.is_trading_enabled = body.is_trading_enabled;
    let now = state.clock.now();
    let updated = bots::update(&mut *tx, id, patch, now)
        .await
        .map_err(write_error)?
        .ok_or_else(|| not_found(id))?;
    if let Some(strategy) = &new_strategy {
        profit_variables::sync_bot(&mut *tx, id, strategy.config.variables(), now).await?;
        let series = strategy.filters.macro_filter.as_ref().map(|m| m.series_id);
        crate::store::macro_data::sync_bot_series(&mut *tx, id, series, now).await?;
    }
    tx.commit().await?;
    state.runtime.bot_changed(id).await;
    if body.is_trading_enabled == Some(false) && bot.is_trading_enabled {
        crate::runtime::safety::trading_off(&state.runtime, &state.pool, Some(id), &me.email)
            .await?;
    }
    let updated = with_complete_limits(updated);
    if let Some(enabled) = body.is_trading_enabled
        && enabled != bot.is_trading_enabled
    {
        audit(
            &state,
            NewAuditEntry::new(
                me.actor(),
                "bot.trading_enabled",
                Outcome::Success,
                state.clock.now(),
            )
            .target(format!("bot:{id}"))
            .metadata(json!({ "from": bot.is_trading_enabled, "to": enabled })),
        )
        .await;
    }
    audit(
        &state,
        NewAuditEntry::new(
            me.actor(),
            "bot.update",
            Outcome::Success,
            state.clock.now(),
        )
        .target(format!("bot:{id}"))
        .metadata(json!({
            "name": body.name.is_some(),
            "risk": updated.risk_limits != with_complete_limits(bot.clone()).risk_limits,
            "strategy": updated.strategy != bot.strategy,
        })),
    )
    .await;
    Ok(ApiOk::new(BotBody { bot: updated }))
}
