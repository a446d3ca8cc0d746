//! What the bot list shows beside each bot, for a whole page in one statement: the stored
//! autonomy score, the position and its latest mark, the round trips closed since the trade
//! date began, and the latest evaluation (decision or no-trade trace, folded `last_seen_at`
//! included). Every part is read through an index keyed by the bot (or the symbol, for the mark).

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sqlx::PgPool;
use uuid::Uuid;

use crate::domain::risk::AutonomyTier;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct BotSummaryRow {
    pub bot_id: Uuid,
    pub autonomy_score: Option<i32>,
    pub autonomy_tier: Option<AutonomyTier>,
    pub autonomy_computed_at: Option<DateTime<Utc>>,
    /// Signed contracts of the bot's position in its symbol; `None` before its first fill.
    pub position_quantity: Option<i32>,
    pub average_price: Option<Decimal>,
    /// Net (gross − commissions) realized PnL of the round trips closed at or after `day_start`.
    pub realized_today: Decimal,
    pub trades_closed_today: i64,
    /// Close and start of the newest cached bar of the bot's symbol (any provider/timeframe).
    pub mark_close: Option<Decimal>,
    pub mark_at: Option<DateTime<Utc>>,
    pub last_decision_at: Option<DateTime<Utc>>,
    /// `last_seen_at` of the newest no-trade row (a folded row's latest evaluation).
    pub last_no_trade_at: Option<DateTime<Utc>>,
}

/// One row per existing bot of `ids` (in no particular order).
pub async fn for_bots(
    pool: &PgPool,
    ids: &[Uuid],
    day_start: DateTime<Utc>,
) -> Result<Vec<BotSummaryRow>, sqlx::Error> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    sqlx::query_as(
        "WITH marks AS ( \
             SELECT s.symbol, m.close, m.ts \
             FROM (SELECT DISTINCT symbol FROM bots WHERE id = ANY($1)) s \
             CROSS JOIN LATERAL ( \
                 SELECT close, ts FROM market_bars WHERE symbol = s.symbol ORDER BY ts DESC LIMIT 1 \
             ) m \
         ) \
         SELECT b.id AS bot_id, \
                a.autonomy_score, a.autonomy_tier, a.last_updated_at AS autonomy_computed_at, \
                p.quantity AS position_quantity, p.average_price, \
                t.realized AS realized_today, t.n AS trades_closed_today, \
                m.close AS mark_close, m.ts AS mark_at, \
                d.created_at AS last_decision_at, n.last_seen_at AS last_no_trade_at \
         FROM bots b \
         LEFT JOIN autonomy_scores a ON a.bot_id = b.id \
         LEFT JOIN positions p ON p.bot_id = b.id AND p.symbol = b.symbol \
         LEFT JOIN marks m ON m.symbol = b.symbol \
         CROSS JOIN LATERAL ( \
             SELECT coalesce(sum(coalesce(realized_pnl, 0) - commission), 0) AS realized, count(*) AS n \
             FROM trades WHERE bot_id = b.id AND closed_at >= $2 \
         ) t \
         LEFT JOIN LATERAL ( \
             SELECT created_at FROM decision_traces WHERE bot_id = b.id \
             ORDER BY created_at DESC, id DESC LIMIT 1 \
         ) d ON true \
         LEFT JOIN LATERAL ( \
             SELECT last_seen_at FROM no_trade_traces WHERE bot_id = b.id \
             ORDER BY created_at DESC, id DESC LIMIT 1 \
         ) n ON true \
         WHERE b.id = ANY($1)",
    )
    .bind(ids)
    .bind(day_start)
    .fetch_all(pool)
    .await
}
