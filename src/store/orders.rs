//! `orders`: every order a bot decided on, keyed by an idempotency key so a restarted runner
//! never books (or sends) the same order twice.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use sqlx::PgPool;
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Clone, Serialize, sqlx::FromRow, ToSchema)]
pub struct Order {
    pub id: Uuid,
    pub bot_id: Uuid,
    pub run_id: Option<Uuid>,
    pub decision_trace_id: Option<Uuid>,
    pub idempotency_key: String,
    pub symbol: String,
    /// `BUY` or `SELL`.
    pub side: String,
    pub quantity: i32,
    /// `MARKET`, `LIMIT` or `STOP`.
    pub order_type: String,
    #[schema(value_type = Option<String>)]
    pub limit_price: Option<Decimal>,
    #[schema(value_type = Option<String>)]
    pub stop_price: Option<Decimal>,
    pub stage: String,
    /// `NEW`, `RECORDED` (SHADOW), `WORKING`, `PARTIALLY_FILLED`, `FILLED`, `CANCELLED`, `REJECTED`.
    pub status: String,
    pub reject_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct NewOrder {
    pub bot_id: Uuid,
    pub run_id: Option<Uuid>,
    pub decision_trace_id: Option<Uuid>,
    pub idempotency_key: String,
    pub symbol: String,
    pub side: String,
    pub quantity: i32,
    pub order_type: String,
    pub limit_price: Option<Decimal>,
    pub stop_price: Option<Decimal>,
    pub stage: String,
    pub status: String,
}

/// Books an order once: a second call with the same idempotency key returns the first row
/// and `false` (nothing new was booked).
pub async fn insert_once(
    pool: &PgPool,
    o: NewOrder,
    now: DateTime<Utc>,
) -> Result<(Order, bool), sqlx::Error> {
    let inserted: Option<Order> = sqlx::query_as(
        "INSERT INTO orders (id, bot_id, run_id, decision_trace_id, idempotency_key, symbol, side, \
         quantity, order_type, limit_price, stop_price, stage, status, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14) \
         ON CONFLICT (idempotency_key) DO NOTHING RETURNING *",
    )
    .bind(Uuid::now_v7())
    .bind(o.bot_id)
    .bind(o.run_id)
    .bind(o.decision_trace_id)
    .bind(&o.idempotency_key)
    .bind(o.symbol)
    .bind(o.side)
    .bind(o.quantity)
    .bind(o.order_type)
    .bind(o.limit_price)
    .bind(o.stop_price)
    .bind(o.stage)
    .bind(o.status)
    .bind(now)
    .fetch_optional(pool)
    .await?;
    if let Some(order) = inserted {
        return Ok((order, true));
    }
    let existing = sqlx::query_as("SELECT * FROM orders WHERE idempotency_key = $1")
        .bind(&o.idempotency_key)
        .fetch_one(pool)
        .await?;
    Ok((existing, false))
}

/// Cancels every working order (kill switch). Returns the ids cancelled.
pub async fn cancel_all_working(
    pool: &PgPool,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "UPDATE orders SET status = 'CANCELLED', reject_reason = $1, updated_at = $2 \
         WHERE status IN ('NEW', 'WORKING', 'PARTIALLY_FILLED') RETURNING id",
    )
    .bind(reason)
    .bind(now)
    .fetch_all(pool)
    .await
}
