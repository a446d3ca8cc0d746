//! `positions`: one row per bot and symbol, the net position after the latest booked fill.
//! The fills are the truth; this row is their running sum, written in the same transaction.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use sqlx::PgPool;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::domain::{instruments::Symbol, risk::Stage};

#[derive(Debug, Clone, Serialize, sqlx::FromRow, ToSchema)]
pub struct PositionRow {
    pub bot_id: Uuid,
    pub symbol: Symbol,
    /// Signed contracts: + long, − short.
    pub quantity: i32,
    #[schema(value_type = Option<String>)]
    pub average_price: Option<Decimal>,
    /// Gross realized PnL, USD.
    #[schema(value_type = String)]
    pub realized_pnl: Decimal,
    pub updated_at: DateTime<Utc>,
    /// The stage of the fills behind it: PAPER (simulated), SHADOW (hypothetical, never sent),
    /// LIVE; `null` for a row older than the SHADOW book.
    pub stage: Option<Stage>,
}

pub async fn get(
    pool: &PgPool,
    bot_id: Uuid,
    symbol: Symbol,
) -> Result<Option<PositionRow>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM positions WHERE bot_id = $1 AND symbol = $2")
        .bind(bot_id)
        .bind(symbol)
        .fetch_optional(pool)
        .await
}
