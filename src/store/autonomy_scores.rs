//! `autonomy_scores` (SPEC §6) and the evidence the scorer reads from Postgres, gathered for
//! many bots at once (one statement per kind of evidence, `bot_id = ANY($1)`).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgPool, types::Json};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::domain::{autonomy::Breakdown, risk::AutonomyTier};

#[derive(Debug, Clone, Serialize, sqlx::FromRow, ToSchema)]
pub struct AutonomyScoreRow {
    pub bot_id: Uuid,
    pub autonomy_score: i32,
    pub data_reliability_score: i32,
    pub decision_quality_score: i32,
    pub risk_discipline_score: i32,
    pub execution_health_score: i32,
    pub supervisor_trust_score: i32,
    pub autonomy_tier: AutonomyTier,
    /// Every sub-score with its evidence, every gate with pass/fail, evidence and fix.
    #[schema(value_type = Object)]
    pub breakdown: Json<Breakdown>,
    pub last_updated_at: DateTime<Utc>,
}

pub async fn upsert(pool: &PgPool, r: &AutonomyScoreRow) -> Result<(), sqlx::Error> {
    upsert_many(pool, &[r]).await
}

/// Rows per statement of [`upsert_many`] (each carries its breakdown, a few kB of JSON).
const UPSERT_CHUNK: usize = 500;

/// Stores a scoring pass: one statement per [`UPSERT_CHUNK`] rows, not one per bot (a pass
/// over a fleet of thousands every 30 s).
pub async fn upsert_many(pool: &PgPool, rows: &[&AutonomyScoreRow]) -> Result<(), sqlx::Error> {
    for chunk in rows.chunks(UPSERT_CHUNK) {
        let score = |f: fn(&&AutonomyScoreRow) -> i32| chunk.iter().map(f).collect::<Vec<_>>();
        let breakdowns = chunk
            .iter()
            .map(|r| serde_json::to_value(&r.breakdown.0))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
        sqlx::query(
            "INSERT INTO autonomy_scores (bot_id, autonomy_score, data_reliability_score, \
             decision_quality_score, risk_discipline_score, execution_health_score, \
             supervisor_trust_score, autonomy_tier, breakdown, last_updated_at) \
             SELECT * FROM UNNEST($1::uuid[], $2::int4[], $3::int4[], $4::int4[], $5::int4[], \
                 $6::int4[], $7::int4[], $8::text[], $9::jsonb[], $10::timestamptz[]) \
             ON CONFLICT (bot_id) DO UPDATE SET autonomy_score = EXCLUDED.autonomy_score, \
             data_reliability_score = EXCLUDED.data_reliability_score, \
             decision_quality_score = EXCLUDED.decision_quality_score, \
             risk_discipline_score = EXCLUDED.risk_discipline_score, \
             execution_health_score = EXCLUDED.execution_health_score, \
             supervisor_trust_score = EXCLUDED.supervisor_trust_score, \
             autonomy_tier = EXCLUDED.autonomy_tier, breakdown = EXCLUDED.breakdown, \
             last_updated_at = EXCLUDED.last_updated_at",
        )
        .bind(chunk.iter().map(|r| r.bot_id).collect::<Vec<_>>())
        .bind(score(|r| r.autonomy_score))
        .bind(score(|r| r.data_reliability_score))
        .bind(score(|r| r.decision_quality_score))
        .bind(score(|r| r.risk_discipline_score))
        .bind(score(|r| r.execution_health_score))
        .bind(score(|r| r.supervisor_trust_score))
        .bind(
            chunk
                .iter()
                .map(|r| r.autonomy_tier.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(breakdowns)
        .bind(chunk.iter().map(|r| r.last_updated_at).collect::<Vec<_>>())
        .execute(pool)
        .await?;
    }
    Ok(())
}

pub async fn get(pool: &PgPool, bot_id: Uuid) -> Result<Option<AutonomyScoreRow>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM autonomy_scores WHERE bot_id = $1")
        .bind(bot_id)
        .fetch_optional(pool)
        .await
}

/// Every bot's stored tier (the runners' tier book is seeded from it on start).
pub async fn tiers(pool: &PgPool) -> Result<Vec<(Uuid, AutonomyTier)>, sqlx::Error> {
    sqlx::query_as("SELECT bot_id, autonomy_tier FROM autonomy_scores")
        .fetch_all(pool)
        .await
}

/// Bots per tier; bots never scored count as LOCKED (no evidence).
pub async fn tier_counts(pool: &PgPool) -> Result<Vec<(AutonomyTier, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT COALESCE(s.autonomy_tier, 'LOCKED') AS tier, count(*) FROM bots b \
         LEFT JOIN autonomy_scores s ON s.bot_id = b.id GROUP BY 1",
    )
    .fetch_all(pool)
    .await
}

/// What Postgres proves about one bot (the in-memory half comes from the runtime).
#[derive(Debug, Clone, Default)]
pub struct StoredEvidence {
    pub bar_reads_24h: u64,
    pub bar_read_errors_24h: u64,
    pub last_bar_read_ok_at: Option<DateTime<Utc>>,
    pub usage_ok_24h: u64,
    pub traces_24h: u64,
    pub last_decision_at: Option<DateTime<Utc>>,
    pub closed_trades_30d: u64,
    pub winning_trades_30d: u64,
    /// Closed PAPER trades in 30 days (count, net), else the newest SUCCEEDED backtest of
    /// the bot or linked to it as its evidence.
    pub realized: Option<crate::domain::autonomy::Realized>,
    pub kills_7d: u64,
    pub risk_blocks_24h: u64,
    pub orders_7d: u64,
    pub filled_7d: u64,
    pub recorded_7d: u64,
    pub cancelled_7d: u64,
    pub fills_total: u64,
    pub ever_ran: bool,
    pub restarts: u64,
    pub last_heartbeat_at: Option<DateTime<Utc>>,
}

fn n(v: i64) -> u64 {
    v.max(0).unsigned_abs()
}

/// Evidence for `bots` as of `now`; `broker_errors_24h` is system-wide (brokers are shared).
pub async fn evidence(
    pool: &PgPool,
    bots: &[Uuid],
    now: DateTime<Utc>,
) -> Result<(HashMap<Uuid, StoredEvidence>, u64), sqlx::Error> {
    let mut out: HashMap<Uuid, StoredEvidence> = bots
        .iter()
        .map(|b| (*b, StoredEvidence::default()))
        .collect();
    let day = now - chrono::Duration::hours(24);
    let week = now - chrono::Duration::days(7);
    let month = now - chrono::Duration::days(30);

    /// (bot, bar reads, failed bar reads, last good bar read, OK events of any action)
    type UsageRow = (Uuid, i64, i64, Option<DateTime<Utc>>, i64);
    // From the hourly rollup: the hours that begin inside the window, so between 23 and 24 h
    // of events, never one from before it (a missing signal counts against the bot).
    let usage: Vec<UsageRow> = sqlx::query_as(
        "SELECT bot_id, sum(bar_reads)::int8, sum(bar_read_errors)::int8, \
                max(last_bar_read_ok_at), sum(ok_count)::int8 \
         FROM bot_usage_hourly WHERE bot_id = ANY($1) AND bucket > $2 GROUP BY bot_id",
    )
    .bind(bots)
    .bind(day)
    .fetch_all(pool)
    .await?;
    for (bot, reads, errors, last_ok, ok) in usage {
        if let Some(e) = out.get_mut(&bot) {
            (e.bar_reads_24h, e.bar_read_errors_24h) = (n(reads), n(errors));
            (e.last_bar_read_ok_at, e.usage_ok_24h) = (last_ok, n(ok));
        }
    }

    // Per bot: the day's range and the newest row, both from the bot's index (not every
    // decision the bot ever made).
    let decisions: Vec<(Uuid, i64, Option<DateTime<Utc>>)> = sqlx::query_as(
        "SELECT b.id, \
                (SELECT count(*) FROM decision_traces d WHERE d.bot_id = b.id AND d.created_at > $2), \
                (SELECT max(created_at) FROM decision_traces d WHERE d.bot_id = b.id) \
         FROM unnest($1::uuid[]) AS b(id)",
    )
    .bind(bots)
    .bind(day)
    .fetch_all(pool)
    .await?;
    for (bot, count, last) in decisions {
        if let Some(e) = out.get_mut(&bot) {
            e.traces_24h += n(count);
            e.last_decision_at = last;
        }
    }
    let suppressions: Vec<(Uuid, i64, i64)> = sqlx::query_as(
        "SELECT bot_id, COALESCE(sum(count), 0)::int8, \
                COALESCE(sum(count) FILTER (WHERE blocked_by @> '[{\"code\": \"RISK_LIMIT_BREACHED\"}]'), 0)::int8 \
         FROM no_trade_traces WHERE bot_id = ANY($1) AND last_seen_at > $2 GROUP BY bot_id",
    )
    .bind(bots)
    .bind(day)
    .fetch_all(pool)
    .await?;
    for (bot, count, risk) in suppressions {
        if let Some(e) = out.get_mut(&bot) {
            e.traces_24h += n(count);
            e.risk_blocks_24h = n(risk);
        }
    }

    let trades: Vec<(Uuid, i64, i64)> = sqlx::query_as(
        "SELECT bot_id, count(*), count(*) FILTER (WHERE realized_pnl - commission > 0) \
         FROM trades WHERE bot_id = ANY($1) AND closed_at > $2 GROUP BY bot_id",
    )
    .bind(bots)
    .bind(month)
    .fetch_all(pool)
    .await?;
    for (bot, closed, won) in trades {
        if let Some(e) = out.get_mut(&bot) {
            (e.closed_trades_30d, e.winning_trades_30d) = (n(closed), n(won));
        }
    }

    // Realized results: paper first, then the newest backtest.
    use crate::domain::autonomy::{Realized, RealizedSource};
    let paper: Vec<(Uuid, i64, rust_decimal::Decimal)> = sqlx::query_as(
        "SELECT bot_id, count(*), COALESCE(sum(realized_pnl - commission), 0) FROM trades \
         WHERE bot_id = ANY($1) AND stage = 'PAPER' AND closed_at > $2 \
           AND realized_pnl IS NOT NULL GROUP BY bot_id",
    )
    .bind(bots)
    .bind(month)
    .fetch_all(pool)
    .await?;
    for (bot, trades, net) in paper {
        if let Some(e) = out.get_mut(&bot) {
            e.realized = Some(Realized {
                source: RealizedSource::Paper,
                trades: n(trades),
                net_pnl: net,
            });
        }
    }
    let backtested: Vec<(Uuid, Option<i64>, Option<rust_decimal::Decimal>)> = sqlx::query_as(
        "SELECT DISTINCT ON (k.bot_id) k.bot_id, (b.metrics->>'trades')::int8, \
             (b.metrics->>'net_pnl')::numeric \
         FROM (SELECT id AS backtest_id, bot_id FROM backtests WHERE bot_id = ANY($1) \
               UNION SELECT backtest_id, bot_id FROM bot_backtest_evidence WHERE bot_id = ANY($1)) k \
         JOIN backtests b ON b.id = k.backtest_id \
         WHERE b.metrics IS NOT NULL AND b.completed_at IS NOT NULL \
         ORDER BY k.bot_id, b.completed_at DESC, b.id DESC",
    )
    .bind(bots)
    .fetch_all(pool)
    .await?;
    for (bot, trades, net) in backtested {
        if let (Some(e), Some(net)) = (out.get_mut(&bot), net)
            && e.realized.is_none()
        {
            e.realized = Some(Realized {
                source: RealizedSource::Backtest,
                trades: n(trades.unwrap_or(0)),
                net_pnl: net,
            });
        }
    }

    let kills: Vec<(Uuid, i64)> = sqlx::query_as(
        "SELECT bot_id, count(*) FROM system_events WHERE bot_id = ANY($1) AND created_at > $2 \
         AND code IN ('BOT_KILLED', 'RISK_KILL_TRIGGER') GROUP BY bot_id",
    )
    .bind(bots)
    .bind(week)
    .fetch_all(pool)
    .await?;
    for (bot, k) in kills {
        if let Some(e) = out.get_mut(&bot) {
            e.kills_7d = n(k);
        }
    }

    let orders: Vec<(Uuid, i64, i64, i64, i64)> = sqlx::query_as(
        "SELECT bot_id, count(*), count(*) FILTER (WHERE status = 'FILLED'), \
                count(*) FILTER (WHERE status = 'RECORDED'), count(*) FILTER (WHERE status = 'CANCELLED') \
         FROM orders WHERE bot_id = ANY($1) AND created_at > $2 GROUP BY bot_id",
    )
    .bind(bots)
    .bind(week)
    .fetch_all(pool)
    .await?;
    for (bot, all, filled, recorded, cancelled) in orders {
        if let Some(e) = out.get_mut(&bot) {
            (e.orders_7d, e.filled_7d) = (n(all), n(filled));
            (e.recorded_7d, e.cancelled_7d) = (n(recorded), n(cancelled));
        }
    }
    let fills: Vec<(Uuid, i64)> =
        sqlx::query_as("SELECT bot_id, count(*) FROM fills WHERE bot_id = ANY($1) GROUP BY bot_id")
            .bind(bots)
            .fetch_all(pool)
            .await?;
    for (bot, f) in fills {
        if let Some(e) = out.get_mut(&bot) {
            e.fills_total = n(f);
        }
    }

    let instances: Vec<(Uuid, i32, Option<DateTime<Utc>>)> = sqlx::query_as(
        "SELECT bot_id, restart_count, last_heartbeat_at FROM bot_instances WHERE bot_id = ANY($1)",
    )
    .bind(bots)
    .fetch_all(pool)
    .await?;
    for (bot, restarts, beat) in instances {
        if let Some(e) = out.get_mut(&bot) {
            e.ever_ran = true;
            e.restarts = n(i64::from(restarts));
            e.last_heartbeat_at = beat;
        }
    }

    let broker_errors: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM integration_usage_events WHERE provider_id = ANY($1) \
         AND status = 'ERROR' AND created_at > $2",
    )
    .bind(&["ironbeam", "tradovate"][..])
    .bind(day)
    .fetch_one(pool)
    .await?;
    Ok((out, n(broker_errors)))
}
