//! `positions`: one row per bot and symbol, the net position after the latest booked fill.
//! The fills are the truth; this row is their running sum, written in the same transaction.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use sqlx::{PgConnection, PgPool};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::domain::{instruments::Symbol, positions::Position, risk::Stage};

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

pub(super) async fn upsert(
    conn: &mut PgConnection,
    bot_id: Uuid,
    p: &Position,
    stage: Stage,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO positions (bot_id, symbol, quantity, average_price, realized_pnl, updated_at, stage) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (bot_id, symbol) DO UPDATE SET \
         quantity = EXCLUDED.quantity, average_price = EXCLUDED.average_price, \
         realized_pnl = EXCLUDED.realized_pnl, updated_at = EXCLUDED.updated_at, \
         stage = EXCLUDED.stage",
    )
    .bind(bot_id)
    .bind(p.symbol)
    .bind(i32::try_from(p.quantity).unwrap_or(i32::MAX))
    .bind((p.quantity != 0).then_some(p.avg_price))
    .bind(p.realized_pnl)
    .bind(now)
    .bind(stage)
    .execute(conn)
    .await?;
    Ok(())
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
