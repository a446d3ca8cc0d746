//! The pre-trade risk engine: every gate is evaluated on every call (never stopping at the first
//! block) so a no-trade trace can list all of them. Pure: the caller passes state in (including
//! the daily-loss latch) and stores what comes back.

use super::calendar::{HolidayCalendar, SessionState};
use super::instruments::ContractSpec;
use super::money;
use super::side::Side;
use super::strategy_filters::FilterReadings;
use crate::error_code::ErrorCode;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

#[path = "risk_limits.rs"]
mod limits;
pub use limits::{LimitError, RiskLimits, RiskLimitsPatch};

/// SPEC §2 bot stage. Promotion moves one step at a time; demotion any time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Stage {
    Lab,
    Paper,
    Shadow,
    Live,
}

/// SPEC §2 autonomy tier, ordered `LOCKED < SUPERVISED < LIMITED_AUTONOMY < FULL_AUTONOMY`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AutonomyTier {
    Locked,
    Supervised,
    LimitedAutonomy,
    FullAutonomy,
}

impl Stage {
    pub const ALL: [Stage; 4] = [Stage::Lab, Stage::Paper, Stage::Shadow, Stage::Live];

    pub const fn as_str(self) -> &'static str {
        match self {
            Stage::Lab => "LAB",
            Stage::Paper => "PAPER",
            Stage::Shadow => "SHADOW",
            Stage::Live => "LIVE",
        }
    }

    pub fn parse(raw: &str) -> Option<Stage> {
        Stage::ALL.into_iter().find(|s| s.as_str() == raw)
    }

    /// The next stage up, if any.
    pub const fn next(self) -> Option<Stage> {
        match self {
            Stage::Lab => Some(Stage::Paper),
            Stage::Paper => Some(Stage::Shadow),
            Stage::Shadow => Some(Stage::Live),
            Stage::Live => None,
        }
    }
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl AutonomyTier {
    pub const ALL: [AutonomyTier; 4] = [
        AutonomyTier::Locked,
        AutonomyTier::Supervised,
        AutonomyTier::LimitedAutonomy,
        AutonomyTier::FullAutonomy,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            AutonomyTier::Locked => "LOCKED",
            AutonomyTier::Supervised => "SUPERVISED",
            AutonomyTier::LimitedAutonomy => "LIMITED_AUTONOMY",
            AutonomyTier::FullAutonomy => "FULL_AUTONOMY",
        }
    }
}

impl RiskLimits {
    /// LIMITED_AUTONOMY trades at half size (rounded down, at least 1 when the limit is ≥ 1).
    pub fn scaled_for(&self, tier: AutonomyTier) -> RiskLimits {
        let half = |v: u32| if v == 0 { 0 } else { (v / 2).max(1) };
        match tier {
            AutonomyTier::LimitedAutonomy => RiskLimits {
                max_order_size: half(self.max_order_size),
                max_position: half(self.max_position),
                ..self.clone()
            },
            _ => self.clone(),
        }
    }
}

/// Serialized by its name ([`Gate::as_str`]: the one list of names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    KillSwitch,
    /// The global trading switch (`settings.trading_enabled`): LIVE order flow only.
    TradingSwitch,
    CircuitBreaker,
    MarketSession,
    DataFreshness,
    Stage,
    AutonomyTier,
    MaxOrderSize,
    MaxPosition,
    DailyLoss,
    Drawdown,
    OrderRate,
    PriceCollar,
    /// LIVE: the bot's broker account agrees with our ledger (no open reconciliation mismatch).
    Reconciliation,
    /// `strategy.filters.economic_calendar`: no new entries around scheduled economic events.
    EconomicCalendar,
    /// `strategy.filters.macro_filter`: no new entries while a FRED series is past a threshold.
    MacroFilter,
    /// `strategy.filters.news_gate`: no new entries while a risk-off headline is active, or
    /// while the news classification cannot be trusted.
    NewsGate,
    /// LIVE: the limits across every bot on the same broker account (`account_risk`).
    AccountRisk,
}

impl Gate {
    /// The gate's name in traces and reports.
    pub const fn as_str(self) -> &'static str {
        match self {
            Gate::KillSwitch => "kill_switch",
            Gate::TradingSwitch => "trading_switch",
            Gate::CircuitBreaker => "circuit_breaker",
            Gate::MarketSession => "market_session",
            Gate::DataFreshness => "data_freshness",
            Gate::Stage => "stage",
            Gate::AutonomyTier => "autonomy_tier",
            Gate::MaxOrderSize => "max_order_size",
            Gate::MaxPosition => "max_position",
            Gate::DailyLoss => "daily_loss",
            Gate::Drawdown => "drawdown",
            Gate::OrderRate => "order_rate",
            Gate::PriceCollar => "price_collar",
            Gate::Reconciliation => "reconciliation",
            Gate::EconomicCalendar => "economic_calendar",
            Gate::MacroFilter => "macro_filter",
            Gate::NewsGate => "news_gate",
            Gate::AccountRisk => "account_risk",
        }
    }
}

impl Serialize for Gate {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Blocker {
    pub gate: Gate,
    pub code: ErrorCode,
    pub reason_human: String,
    pub suggested_fix: String,
}

/// An order the bot proposes; `price` is its limit (or, for a market order, reference) price.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProposedOrder {
    pub side: Side,
    pub quantity: u32,
    pub price: Decimal,
}

/// Everything the gates read. `order` is `None` when the strategy asks for no trade: the
/// order-specific gates are then not applicable, the others still run.
#[derive(Debug, Clone)]
pub struct GateContext<'a> {
    pub now: DateTime<Utc>,
    pub calendar: &'a HolidayCalendar,
    pub spec: &'a ContractSpec,
    pub limits: &'a RiskLimits,
    pub stage: Stage,
    pub tier: AutonomyTier,
    pub is_trading_enabled: bool,
    /// The global trading switch (SPEC §1 LIVE invariant), as mirrored for the runners.
    pub trading_switch_on: bool,
    pub kill_switch_active: bool,
    pub breaker_open: bool,
    /// No open reconciliation mismatch names the bot (LIVE order flow only).
    pub reconciliation_clean: bool,
    /// Timestamp of the newest market data (bar close or last trade); `None` = no data.
    pub last_data_at: Option<DateTime<Utc>>,
    pub last_price: Option<Decimal>,
    /// Signed contracts held now.
    pub position: i64,
    pub order: Option<ProposedOrder>,
    /// Realized + unrealized PnL of the trading day, USD.
    pub daily_pnl: Decimal,
    /// Latch state as stored; only a human re-arm clears it.
    pub daily_loss_latched: bool,
    pub equity: Decimal,
    pub peak_equity: Decimal,
    /// Orders sent in the trailing 60 seconds.
    pub orders_last_minute: u32,
    /// The bot's entry filters (`strategy.filters`) and the stored data they check.
    pub filters: FilterReadings<'a>,
    /// LIVE: the bot's broker account, its limits, figures and latch (`None`: not LIVE, or
    /// no broker account to route to).
    pub account_risk: Option<&'a super::account_risk::AccountRiskView>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KillTrigger {
    pub gate: Gate,
    pub reason_human: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GateReport {
    pub allowed: bool,
    pub blockers: Vec<Blocker>,
    /// Breaches the supervisor must act on with its kill procedure.
    pub kill_triggers: Vec<KillTrigger>,
    /// Latch state to store back (set once breached, never cleared here).
    pub daily_loss_latched: bool,
    pub session: SessionState,
    pub effective_limits: RiskLimits,
    pub drawdown: Decimal,
    pub position_after: i64,
}

fn block(gate: Gate, code: ErrorCode, reason: String, fix: &str) -> Blocker {
    Blocker {
        gate,
        code,
        reason_human: reason,
        suggested_fix: fix.to_string(),
    }
}

/// Evaluates every gate.
pub fn evaluate_gates(ctx: &GateContext<'_>) -> GateReport {
    evaluate_gates_for(ctx, ctx.position, ctx.order.as_ref())
}

/// [`evaluate_gates`] for `position` and `order` in place of the context's own (what an
/// evaluation plans), without a copy of the context per bar.
pub fn evaluate_gates_for(
    ctx: &GateContext<'_>,
    position: i64,
    order: Option<&ProposedOrder>,
) -> GateReport {
    let mut blockers = Vec::new();
    let mut kill_triggers = Vec::new();
    let limits = ctx.limits.scaled_for(ctx.tier);
    let position_after = order.map_or(position, |o| {
        position + o.side.sign() * i64::from(o.quantity)
    });
    // Exposure-raising orders are the ones loss and drawdown gates stop; exits stay possible.
    let raises_exposure = order.is_some() && position_after.abs() > position.abs();

    if ctx.kill_switch_active {
        blockers.push(block(Gate::KillSwitch, ErrorCode::KillSwitchActive,
            "The kill switch is active: no new orders.".into(),
            "Investigate why it was pulled, then re-arm it (POST /api/system/kill-switch) as a human."));
    }
    if ctx.stage == Stage::Live && !ctx.trading_switch_on {
        blockers.push(block(
            Gate::TradingSwitch,
            ErrorCode::LiveTradingDisabled,
            "The global trading switch is off: no LIVE order may be sent.".into(),
            "An admin turns it back on (POST /api/system/trading-switch) once it is safe to trade LIVE.",
        ));
    }
    if ctx.stage == Stage::Live && !ctx.reconciliation_clean {
        blockers.push(block(
            Gate::Reconciliation,
            ErrorCode::ReconciliationMismatch,
            "The bot's broker account is not reconciled with our ledger (an open mismatch names the bot, an order of the bot is still unresolved (SENDING), or the account could not be read yet): no LIVE order may be sent.".into(),
            ErrorCode::ReconciliationMismatch.suggested_fix(),
        ));
    }
    if ctx.breaker_open {
        blockers.push(block(Gate::CircuitBreaker, ErrorCode::CircuitBreakerOpen,
            "The bot's circuit breaker is open after repeated failures.".into(),
            "Read the bot's system events for the failures; the breaker half-opens after its cool-down."));
    }

    let session = ctx.calendar.is_open(ctx.now);
    if !session.is_open() {
        let next = ctx.calendar.next_open(ctx.now).map_or_else(
            || "no open session within 30 days".to_string(),
            |t| format!("next open {}", t.to_rfc3339()),
        );
        blockers.push(block(
            Gate::MarketSession,
            ErrorCode::MarketClosed,
            format!("CME Globex equity session is not open ({session:?}); {next}."),
            "Wait for the session to open; the bot resumes on its own.",
        ));
    }

    match ctx.last_data_at {
        None => blockers.push(block(
            Gate::DataFreshness,
            ErrorCode::DataUnavailable,
            "No market data has been received.".into(),
            "Check the market-data integration on the Connections page.",
        )),
        Some(t) => {
            let age = super::instants::seconds_between(ctx.now, t);
            if age > i64::from(limits.max_data_age_seconds) {
                blockers.push(block(Gate::DataFreshness, ErrorCode::DataStale,
                    format!("Newest market data is {age} s old (limit {} s).", limits.max_data_age_seconds),
                    "Check the market-data provider's health; the bot resumes when fresh bars arrive."));
            }
        }
    }

    match ctx.stage {
        Stage::Lab => blockers.push(block(
            Gate::Stage,
            ErrorCode::PromotionGateFailed,
            "Bot is in LAB: backtests only, it cannot trade.".into(),
            "Promote the bot to PAPER once its backtests pass the promotion gates.",
        )),
        Stage::Live if !ctx.is_trading_enabled => blockers.push(block(
            Gate::Stage,
            ErrorCode::LiveTradingDisabled,
            "Bot is LIVE but trading is not enabled for it.".into(),
            "Enable trading on the bot (is_trading_enabled) after reviewing its limits.",
        )),
        _ => {}
    }

    let tier_ok = match ctx.tier {
        AutonomyTier::Locked => false,
        AutonomyTier::Supervised => matches!(ctx.stage, Stage::Lab | Stage::Paper),
        AutonomyTier::LimitedAutonomy | AutonomyTier::FullAutonomy => true,
    };
    if !tier_ok {
        let need = if ctx.tier == AutonomyTier::Locked {
            "SUPERVISED"
        } else {
            "LIMITED_AUTONOMY"
        };
        blockers.push(block(
            Gate::AutonomyTier,
            ErrorCode::AutonomyTierInsufficient,
            format!(
                "Autonomy tier {} cannot trade at stage {} (needs at least {need}).",
                ctx.tier.as_str(),
                ctx.stage.as_str()
            ),
            "Raise the bot's autonomy score (see its autonomy breakdown) or demote its stage.",
        ));
    }

    let limit_fix = "Reduce the order, or raise the bot's risk limits if that is intended.";
    if let Some(o) = order {
        if o.quantity > limits.max_order_size {
            blockers.push(block(
                Gate::MaxOrderSize,
                ErrorCode::RiskLimitBreached,
                format!(
                    "Order of {} contracts exceeds max_order_size {} (tier {}).",
                    o.quantity,
                    limits.max_order_size,
                    ctx.tier.as_str()
                ),
                limit_fix,
            ));
        }
        if position_after.unsigned_abs() > u64::from(limits.max_position) && raises_exposure {
            blockers.push(block(Gate::MaxPosition, ErrorCode::RiskLimitBreached,
                format!("Position after the order would be {position_after} contracts; max_position is {}.",
                    limits.max_position), limit_fix));
        }
        if ctx.orders_last_minute >= limits.max_orders_per_minute {
            blockers.push(block(
                Gate::OrderRate,
                ErrorCode::RiskLimitBreached,
                format!(
                    "{} orders in the last minute; max_orders_per_minute is {}.",
                    ctx.orders_last_minute, limits.max_orders_per_minute
                ),
                "Wait for the rate window to pass; check the strategy for order churn.",
            ));
        }
        match ctx.last_price {
            None => blockers.push(block(
                Gate::PriceCollar,
                ErrorCode::DataUnavailable,
                "No last price to check the order's price against.".into(),
                "Check the market-data integration; orders resume when prices arrive.",
            )),
            Some(last) => {
                let collar = ctx.spec.tick_size * Decimal::from(limits.price_collar_ticks);
                if (o.price - last).abs() > collar {
                    blockers.push(block(
                        Gate::PriceCollar,
                        ErrorCode::RiskLimitBreached,
                        format!(
                            "Order price {} is more than {} ticks from the last price {last}.",
                            o.price, limits.price_collar_ticks
                        ),
                        limit_fix,
                    ));
                }
            }
        }
    }

    let mut latched = ctx.daily_loss_latched;
    // Day PnL at or below minus the limit: minus the day PnL at or above it.
    if !latched && money::cmp_diff(&Decimal::ZERO, &ctx.daily_pnl, &limits.daily_loss_limit).is_ge()
    {
        latched = true;
        kill_triggers.push(KillTrigger {
            gate: Gate::DailyLoss,
            reason_human: format!(
                "Daily loss {} USD reached the limit {} USD.",
                -ctx.daily_pnl, limits.daily_loss_limit
            ),
        });
    }
    if latched && (raises_exposure || order.is_none()) {
        blockers.push(block(
            Gate::DailyLoss,
            ErrorCode::RiskLimitBreached,
            format!(
                "Daily loss limit {} USD is latched (day PnL {} USD).",
                limits.daily_loss_limit, ctx.daily_pnl
            ),
            "A human must review the day's trades and re-arm the bot (POST /api/bots/{id}/rearm).",
        ));
    }
    // Compared from the two amounts (the difference is built only to be reported):
    // max(peak - equity, 0) ≥ limit when peak - equity ≥ limit, or when the limit is ≤ 0.
    let drawdown = if money::cmp(&ctx.peak_equity, &ctx.equity).is_gt() {
        ctx.peak_equity - ctx.equity
    } else {
        Decimal::ZERO
    };
    let drawdown_breached = money::cmp_diff(&ctx.peak_equity, &ctx.equity, &limits.max_drawdown)
        .is_ge()
        || money::cmp(&limits.max_drawdown, &Decimal::ZERO).is_le();
    if drawdown_breached {
        kill_triggers.push(KillTrigger {
            gate: Gate::Drawdown,
            reason_human: format!(
                "Drawdown {drawdown} USD reached max_drawdown {} USD.",
                limits.max_drawdown
            ),
        });
        if raises_exposure || order.is_none() {
            blockers.push(block(
                Gate::Drawdown,
                ErrorCode::RiskLimitBreached,
                format!(
                    "Drawdown {drawdown} USD is at or beyond max_drawdown {} USD.",
                    limits.max_drawdown
                ),
                "Review the bot's performance; re-arm only after deciding it should keep trading.",
            ));
        }
    }

    // Entry filters block what raises exposure (and say so when nothing is proposed).
    super::strategy_filters::evaluate(
        &ctx.filters,
        ctx.now,
        raises_exposure || order.is_none(),
        &mut blockers,
    );

    if ctx.stage == Stage::Live
        && let Some(view) = ctx.account_risk
    {
        blockers.extend(super::account_risk::check(
            view,
            &super::account_risk::contract_key(ctx.spec.symbol, ctx.now),
            position,
            order,
        ));
    }

    GateReport {
        allowed: blockers.is_empty(),
        blockers,
        kill_triggers,
        daily_loss_latched: latched,
        session,
        effective_limits: limits,
        drawdown,
        position_after,
    }
}

#[cfg(test)]
#[path = "risk_tests.rs"]
mod tests;
