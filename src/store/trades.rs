//! `trades`: round trips. A trade opens on the fill that leaves a flat position, grows with
//! fills in its direction, realizes PnL on reducing fills and closes when the position is flat
//! again (a flip closes it and opens the next). Written only by [`super::fills::book`].

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use sqlx::PgPool;
use utoipa::ToSchema;
use uuid::Uuid;

use super::page::{Cursor, Page, TimeRange, bot_page};
use crate::domain::{instruments::Symbol, risk::Stage, side::TradeSide};

#[derive(Debug, Clone, Serialize, sqlx::FromRow, ToSchema)]
pub struct Trade {
    pub id: Uuid,
    pub bot_id: Uuid,
    pub run_id: Option<Uuid>,
    pub symbol: Symbol,
    pub side: TradeSide,
    /// Largest open quantity of the round trip, contracts.
    pub quantity: i32,
    /// Average entry price.
    #[schema(value_type = String)]
    pub entry_price: Decimal,
    /// Average exit price of the quantity closed so far.
    #[schema(value_type = Option<String>)]
    pub exit_price: Option<Decimal>,
    pub opened_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    /// Gross realized PnL, USD.
    #[schema(value_type = Option<String>)]
    pub realized_pnl: Option<Decimal>,
    /// Commissions of every fill of the trade, USD.
    #[schema(value_type = String)]
    pub commission: Decimal,
    pub stage: Stage,
    pub created_at: DateTime<Utc>,
}

pub async fn get(pool: &PgPool, id: Uuid) -> Result<Option<Trade>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM trades WHERE id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await
}

/// One trade of `bot_id` (`None` for an unknown id or another bot's trade).
pub async fn get_for_bot(
    pool: &PgPool,
    bot_id: Uuid,
    id: Uuid,
) -> Result<Option<Trade>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM trades WHERE id = $1 AND bot_id = $2")
        .bind(id)
        .bind(bot_id)
        .fetch_optional(pool)
        .await
}

pub async fn page(
    pool: &PgPool,
    bot_id: Uuid,
    range: TimeRange,
    after: Option<Cursor>,
    limit: i64,
) -> Result<Page<Trade>, sqlx::Error> {
    bot_page(pool, "trades", bot_id, range, after, limit, |t: &Trade| {
        Cursor {
            created_at: t.created_at,
            id: t.id,
        }
    })
    .await
}

/// A bot's closed trades at `stage` summed for the promotion out of it (PAPER → SHADOW,
/// SHADOW → LIVE): sessions are the distinct CME trade dates (17:00 America/Chicago roll) of
/// their closes; a trade's net is its realized PnL less its commission.
pub async fn stage_results(
    pool: &PgPool,
    bot_id: Uuid,
    stage: Stage,
) -> Result<crate::domain::backtest::evidence::StageResults, sqlx::Error> {
    type Row = (
        i64,
        i64,
        rust_decimal::Decimal,
        rust_decimal::Decimal,
        rust_decimal::Decimal,
        Option<DateTime<Utc>>,
        Option<DateTime<Utc>>,
    );
    let (sessions, trades, wins, losses, net, first, last): Row = sqlx::query_as(
        "SELECT count(DISTINCT ((closed_at AT TIME ZONE 'America/Chicago') + interval '7 hours')::date), \
             count(*), COALESCE(sum(net) FILTER (WHERE net > 0), 0), \
             COALESCE(sum(net) FILTER (WHERE net < 0), 0), COALESCE(sum(net), 0), \
             min(closed_at), max(closed_at) \
         FROM (SELECT closed_at, realized_pnl - commission AS net FROM trades \
               WHERE bot_id = $1 AND stage = $2 AND closed_at IS NOT NULL \
                 AND realized_pnl IS NOT NULL) t",
    )
    .bind(bot_id)
    .bind(stage.as_str())
    .fetch_one(pool)
    .await?;
    let n = |v: i64| u64::try_from(v).unwrap_or(0);
    Ok(crate::domain::backtest::evidence::StageResults {
        sessions: n(sessions),
        trades: n(trades),
        gross_wins: wins,
        gross_losses: losses,
        net_pnl: net,
        first_closed_at: first,
        last_closed_at: last,
    })
}

/// A round trip's close, for today's PnL sparklines: net = realized − commission.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ClosedNet {
    pub bot_id: Uuid,
    pub closed_at: DateTime<Utc>,
    pub net: Decimal,
}

/// Every round trip closed at or after `since` (all bots), oldest first, at most `limit`
/// (the newest `limit` when there are more).
pub async fn closed_since(
    pool: &PgPool,
    since: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<ClosedNet>, sqlx::Error> {
    sqlx::query_as(
        "SELECT bot_id, closed_at, net FROM ( \
             SELECT bot_id, closed_at, id, coalesce(realized_pnl, 0) - commission AS net \
             FROM trades WHERE closed_at >= $1 ORDER BY closed_at DESC, id DESC LIMIT $2 \
         ) t ORDER BY closed_at, id",
    )
    .bind(since)
    .bind(limit)
    .fetch_all(pool)
    .await
}
