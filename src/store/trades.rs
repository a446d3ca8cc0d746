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
