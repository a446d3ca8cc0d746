//! The `summary` beside each bot in `GET /api/bots` and `GET /api/bots/{id}`: autonomy, today's
//! PnL, the latest evaluation and the open breakers that affect the bot. A page costs one SQL
//! statement (`store::bot_summaries::for_bots`) plus in-memory reads of the runtime's breakers,
//! whatever its size.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{ApiError, AppState, ledger::unrealized};
use crate::{
    domain::{
        breaker::BreakerState,
        calendar::{trade_date, trade_date_start},
        risk::AutonomyTier,
    },
    integrations::bars,
    runtime::{events::bot_scope, providers::provider_scope},
    store::{
        bot_summaries::{self, BotSummaryRow},
        bots::Bot,
    },
};

/// The bot's stored autonomy score (what the scorer last computed).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AutonomySummary {
    /// 0–100.
    pub score: i32,
    pub tier: AutonomyTier,
    pub computed_at: DateTime<Utc>,
}

/// PnL of the current CME trade date (it begins 17:00 America/Chicago the evening before).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TodayPnl {
    pub trade_date: NaiveDate,
    /// When `trade_date` began.
    pub trade_date_start: DateTime<Utc>,
    /// USD, net of commissions, of the round trips closed since `trade_date_start` (`"0"`
    /// when none closed: that is known, not missing).
    #[schema(value_type = String)]
    pub realized: Decimal,
    pub trades_closed: i64,
    /// Signed contracts of the bot's position in its symbol (0 when flat or never filled): an
    /// open position makes `unrealized` depend on how fresh `marked_at` is.
    pub position_quantity: i32,
    /// USD of the open position at `mark_price`; `"0"` when flat; null when a position is open
    /// and no bar of the symbol was ever cached (never a made-up zero).
    #[schema(value_type = Option<String>)]
    pub unrealized: Option<Decimal>,
    /// The newest cached close of the symbol (on its tick grid); null when none.
    #[schema(value_type = Option<String>)]
    pub mark_price: Option<Decimal>,
    /// Start of the bar `mark_price` closes (how stale the mark is).
    pub marked_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BotSummary {
    /// Null until the scorer has scored the bot.
    pub autonomy: Option<AutonomySummary>,
    pub today_pnl: TodayPnl,
    /// The latest evaluation: the newest decision trace or no-trade trace (a folded no-trade
    /// row counts at its `last_seen_at`); null when the bot never evaluated.
    pub last_evaluation_at: Option<DateTime<Utc>>,
    /// Breaker scopes in state `OPEN` that stop this bot: its runner's (`bot:<id>`) and the
    /// breaker of the market-data provider it reads bars from (`provider:<id>`).
    pub open_breakers: Vec<String>,
}

/// A bot as the list shows it: every field of the bot, plus `summary`.
#[derive(Debug, Serialize, ToSchema)]
pub struct BotListItem {
    #[serde(flatten)]
    pub bot: Bot,
    pub summary: BotSummary,
}

fn summary_of(
    bot: &Bot,
    row: Option<&BotSummaryRow>,
    open: &[String],
    data_provider: Option<&str>,
    trade_date: NaiveDate,
    day_start: DateTime<Utc>,
) -> BotSummary {
    let spec = bot.symbol.spec();
    let mark_price = row.and_then(|r| r.mark_close);
    let quantity = row.and_then(|r| r.position_quantity).unwrap_or(0);
    let unrealized = if quantity == 0 {
        Some(Decimal::ZERO)
    } else {
        mark_price.map(|mark| unrealized(quantity, row.and_then(|r| r.average_price), mark, &spec))
    };
    let autonomy = row.and_then(|r| {
        Some(AutonomySummary {
            score: r.autonomy_score?,
            tier: r.autonomy_tier?,
            computed_at: r.autonomy_computed_at?,
        })
    });
    let last_evaluation_at = row.and_then(|r| r.last_decision_at.max(r.last_no_trade_at));
    let scopes = [Some(bot_scope(bot.id)), data_provider.map(provider_scope)];
    BotSummary {
        autonomy,
        today_pnl: TodayPnl {
            trade_date,
            trade_date_start: day_start,
            realized: row.map_or(Decimal::ZERO, |r| r.realized_today),
            trades_closed: row.map_or(0, |r| r.trades_closed_today),
            position_quantity: quantity,
            unrealized,
            mark_price,
            marked_at: row.and_then(|r| r.mark_at).filter(|_| mark_price.is_some()),
        },
        last_evaluation_at,
        open_breakers: scopes
            .into_iter()
            .flatten()
            .filter(|s| open.contains(s))
            .collect(),
    }
}

/// Summaries of `bots`, in their order: one statement for the page, breakers from memory.
pub async fn summaries(state: &AppState, bots: &[Bot]) -> Result<Vec<BotSummary>, ApiError> {
    let now = state.clock.now();
    let date = trade_date(now);
    let day_start = trade_date_start(date);
    let ids: Vec<Uuid> = bots.iter().map(|b| b.id).collect();
    let rows: HashMap<Uuid, BotSummaryRow> = bot_summaries::for_bots(&state.pool, &ids, day_start)
        .await?
        .into_iter()
        .map(|r| (r.bot_id, r))
        .collect();
    let open: Vec<String> = state
        .runtime
        .breakers()
        .into_iter()
        .filter(|b| b.state == BreakerState::Open)
        .map(|b| b.scope)
        .collect();
    let data_provider = bars::feed_provider(&state.runtime.integrations());
    Ok(bots
        .iter()
        .map(|b| summary_of(b, rows.get(&b.id), &open, data_provider, date, day_start))
        .collect())
}
