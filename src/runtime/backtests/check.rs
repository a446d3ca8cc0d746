//! Checking a backtest request: every rule, each refusal naming its field; nothing is written.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

use crate::domain::{
    backtest::{FillModel, request as rules},
    instruments::Symbol,
    risk::{RiskLimits, RiskLimitsPatch},
    strategy_config::{FieldError, StrategyConfig},
    strategy_filters::StrategyFilters,
    timeframe::Timeframe,
};
use crate::integrations::bars;
use crate::runtime::RuntimeHandle;
use crate::store::{backtests::NewBacktest, bots};

use super::{BacktestError, BacktestRequest, DEFAULT_STARTING_CAPITAL};

/// A strategy as a bot stores it, refused by field name.
pub fn parse_strategy(raw: &Value) -> Result<StrategyConfig, FieldError> {
    let kind = raw.get("kind").and_then(Value::as_str);
    let config: StrategyConfig = serde_json::from_value(raw.clone()).map_err(|e| match kind {
        Some("sma_crossover" | "donchian_breakout" | "rsi_mean_reversion") => FieldError {
            field: "strategy.params".into(),
            problem: format!("is not valid: {e}"),
        },
        _ => FieldError {
            field: "strategy.kind".into(),
            problem: "must be one of sma_crossover, donchian_breakout, rsi_mean_reversion".into(),
        },
    })?;
    config.validate()?;
    Ok(config)
}

/// The entry filters of a strategy value. A macro filter cannot be replayed (the FRED values
/// an evaluation saw are not kept per evaluation), so a backtest with one is refused.
fn filters_of(raw: &Value) -> Result<StrategyFilters, BacktestError> {
    let filters = StrategyFilters::from_strategy(raw).map_err(BacktestError::Invalid)?;
    if filters.macro_filter.is_some() {
        return Err(BacktestError::invalid(
            "strategy.filters.macro_filter",
            "cannot be backtested: the FRED values past evaluations would have read are not replayed; remove the macro filter to backtest the strategy (the economic calendar filter is replayed)",
        ));
    }
    Ok(filters)
}

/// sha256 of the canonical `{kind, params}`: equal for equal strategies however their JSON
/// was spelled (key order, defaulted fields).
pub fn strategy_hash(strategy: &StrategyConfig) -> String {
    rules::content_hash(strategy)
}

/// What the inputs hash covers: everything that shapes the run except the bars.
#[derive(Serialize)]
struct Inputs<'a> {
    strategy: &'a StrategyConfig,
    symbol: Symbol,
    timeframe: Timeframe,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    fill: &'a FillModel,
    starting_capital: Decimal,
    risk_limits: &'a RiskLimits,
    /// Entry filters, left out when there are none (earlier hashes stay valid).
    #[serde(skip_serializing_if = "StrategyFilters::is_empty")]
    filters: &'a StrategyFilters,
}

fn parse_symbol(raw: &str) -> Result<Symbol, BacktestError> {
    Symbol::parse(raw).ok_or_else(|| {
        BacktestError::invalid("symbol", format!("must be one of {}", Symbol::names()))
    })
}

fn parse_timeframe(raw: &str) -> Result<Timeframe, BacktestError> {
    serde_json::from_value(Value::String(raw.to_owned()))
        .map_err(|_| BacktestError::invalid("timeframe", "must be one of 1s, 1m, 5m, 15m, 1h, 1d"))
}

/// A request's inputs, checked.
#[derive(Debug, Clone)]
pub(in crate::runtime) struct Checked {
    pub strategy: StrategyConfig,
    /// Entry filters replayed with the run (the economic calendar, the news gate; a macro
    /// filter is refused).
    pub filters: StrategyFilters,
    pub symbol: Symbol,
    pub timeframe: Timeframe,
    pub limits: RiskLimits,
    pub fill: FillModel,
    pub capital: Decimal,
}

impl Checked {
    /// The backtest row of `strategy` over `[from, to)` with these inputs, hashed.
    pub fn new_backtest(
        &self,
        strategy: &StrategyConfig,
        bot_id: Option<Uuid>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        by: Option<&str>,
    ) -> NewBacktest {
        let inputs_hash = rules::content_hash(&Inputs {
            strategy,
            symbol: self.symbol,
            timeframe: self.timeframe,
            from,
            to,
            fill: &self.fill,
            starting_capital: self.capital,
            risk_limits: &self.limits,
            filters: &self.filters,
        });
        let params = serde_json::to_value(strategy)
            .ok()
            .and_then(|v| v.get("params").cloned())
            .unwrap_or(Value::Null);
        NewBacktest {
            bot_id,
            strategy_kind: strategy.kind().to_owned(),
            strategy_params: params,
            strategy_hash: strategy_hash(strategy),
            symbol: self.symbol,
            timeframe: self.timeframe,
            from,
            to,
            slippage_ticks: i32::try_from(self.fill.slippage_ticks).unwrap_or(i32::MAX),
            commission_per_side: self.fill.commission_per_contract,
            starting_capital: self.capital,
            risk_limits: serde_json::to_value(&self.limits).unwrap_or(Value::Null),
            inputs_hash,
            created_by: by.map(str::to_owned),
        }
    }
}

/// Every rule of a request (see [`submit`](super::submit)); writes nothing.
pub(in crate::runtime) async fn check(
    rt: &RuntimeHandle,
    pool: &PgPool,
    req: &BacktestRequest,
) -> Result<Checked, BacktestError> {
    let now = rt.clock().now();
    let filters;
    let (strategy, symbol, timeframe, limits) = match req.bot_id {
        Some(id) => {
            if req.strategy.is_some() {
                return Err(BacktestError::invalid(
                    "strategy",
                    "give either `bot_id` (the bot's own strategy is tested) or `strategy`, not both",
                ));
            }
            let bot = bots::get(pool, id)
                .await?
                .ok_or(BacktestError::BotNotFound(id))?;
            filters = filters_of(&bot.strategy)?;
            let strategy = parse_strategy(&bot.strategy).map_err(|e| {
                BacktestError::invalid(
                    "bot_id",
                    format!(
                        "the bot's stored strategy is unusable: {} {}",
                        e.field, e.problem
                    ),
                )
            })?;
            let symbol = req.symbol.as_deref().map(parse_symbol).transpose()?;
            let timeframe = req.timeframe.as_deref().map(parse_timeframe).transpose()?;
            let timeframe = timeframe.unwrap_or(bot.timeframe);
            let limits = RiskLimits::from_stored(&bot.risk_limits, timeframe).map_err(|e| {
                BacktestError::invalid("bot_id", format!("the bot's risk limits are unusable: {e}"))
            })?;
            (strategy, symbol.unwrap_or(bot.symbol), timeframe, limits)
        }
        None => {
            let raw = req.strategy.as_ref().ok_or_else(|| {
                BacktestError::invalid("strategy", "is required (or give `bot_id`)")
            })?;
            filters = filters_of(raw)?;
            let strategy = parse_strategy(raw).map_err(BacktestError::Invalid)?;
            let symbol = parse_symbol(
                req.symbol
                    .as_deref()
                    .ok_or_else(|| BacktestError::invalid("symbol", "is required"))?,
            )?;
            let timeframe = parse_timeframe(
                req.timeframe
                    .as_deref()
                    .ok_or_else(|| BacktestError::invalid("timeframe", "is required"))?,
            )?;
            (
                strategy,
                symbol,
                timeframe,
                RiskLimits::defaults_for(timeframe),
            )
        }
    };
    let limits = match &req.risk {
        Some(raw) => limits.merged(&RiskLimitsPatch::parse(raw).map_err(|e| {
            let field = if e.field.is_empty() {
                "risk".to_owned()
            } else {
                format!("risk.{}", e.field)
            };
            BacktestError::invalid(&field, e.problem)
        })?),
        None => limits,
    };
    rules::check_range(timeframe, req.from, req.to, now).map_err(BacktestError::Invalid)?;
    let default_fill = crate::domain::execution::SimParams::default();
    let fill = FillModel {
        slippage_ticks: req.slippage_ticks.unwrap_or(default_fill.slippage_ticks),
        commission_per_contract: req
            .commission_per_side
            .unwrap_or(default_fill.commission_per_contract),
    };
    rules::check_fill(&fill).map_err(BacktestError::Invalid)?;
    let capital = req.starting_capital.unwrap_or(DEFAULT_STARTING_CAPITAL);
    rules::check_capital(capital).map_err(BacktestError::Invalid)?;
    let provider =
        bars::feed_provider(&rt.integrations()).ok_or_else(|| BacktestError::DataUnavailable {
            field: "symbol",
            message: "No market-data provider with bars (databento or polygon) is configured."
                .into(),
        })?;
    let start = bars::history_start(provider);
    if req.to <= start {
        return Err(BacktestError::DataUnavailable {
            field: "to",
            message: format!(
                "{provider} has no bars before {}; the range {} – {} is wholly outside its history.",
                start.date_naive(),
                req.from.to_rfc3339(),
                req.to.to_rfc3339()
            ),
        });
    }
    Ok(Checked {
        strategy,
        filters,
        symbol,
        timeframe,
        limits,
        fill,
        capital,
    })
}
