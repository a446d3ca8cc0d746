//! Account risk storage (`account_risk_limits`, `account_risk_latches`) and the one read the
//! `account_risk` gate and `GET /api/account-risk` take of an account's bots.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sqlx::{PgConnection, PgExecutor, PgPool};
use uuid::Uuid;

use crate::domain::account_risk::{AccountLatch, AccountRiskLimits};
use crate::domain::instruments::Symbol;
use crate::domain::timeframe::Timeframe;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LimitsRow {
    pub broker: String,
    pub account: String,
    pub max_gross_contracts: i32,
    pub max_net_contracts: i32,
    pub daily_loss_limit: Decimal,
    pub max_orders_per_minute: i32,
    pub updated_by: String,
    pub updated_at: DateTime<Utc>,
}

impl LimitsRow {
    pub fn limits(&self) -> AccountRiskLimits {
        let u = |v: i32| u32::try_from(v).unwrap_or(0);
        AccountRiskLimits {
            max_gross_contracts: u(self.max_gross_contracts),
            max_net_contracts: u(self.max_net_contracts),
            daily_loss_limit: self.daily_loss_limit,
            max_orders_per_minute: u(self.max_orders_per_minute),
        }
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LatchRow {
    pub id: Uuid,
    pub broker: String,
    pub account: String,
    pub latched_at: DateTime<Utc>,
    pub reason: String,
    pub daily_pnl: Decimal,
    pub daily_loss_limit: Decimal,
    pub bot_ids: Vec<Uuid>,
    pub rearmed_by: Option<String>,
    pub rearmed_at: Option<DateTime<Utc>>,
}

impl LatchRow {
    pub fn latch(&self) -> AccountLatch {
        AccountLatch {
            latched_at: self.latched_at,
            reason: self.reason.clone(),
            daily_pnl: self.daily_pnl,
            daily_loss_limit: self.daily_loss_limit,
        }
    }
}

pub async fn all_limits(pool: &PgPool) -> Result<Vec<LimitsRow>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM account_risk_limits ORDER BY broker, account")
        .fetch_all(pool)
        .await
}

pub async fn limits<'e>(
    db: impl PgExecutor<'e>,
    broker: &str,
    account: &str,
) -> Result<Option<LimitsRow>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM account_risk_limits WHERE broker = $1 AND account = $2")
        .bind(broker)
        .bind(account)
        .fetch_optional(db)
        .await
}

/// The SQL condition "the account (`broker`, `account`: the statement's placeholders) has
/// limits or an open latch": only then is a LIVE order checked under the account's lock.
pub fn has_rules_sql(broker: &str, account: &str) -> String {
    format!(
        "(EXISTS (SELECT 1 FROM account_risk_limits WHERE broker = {broker} AND account = {account}) \
          OR EXISTS (SELECT 1 FROM account_risk_latches \
                     WHERE broker = {broker} AND account = {account} AND rearmed_at IS NULL))"
    )
}

/// Serialises the account's order check and its write-ahead across nodes: held until the
/// transaction ends, so a second order of the account checks only after the first's
/// `SENDING` row is committed (or rolled back) and reads it (in a later statement: this one's
/// snapshot predates the wait). Returns whether the account has limits or an open latch, the
/// only case in which the order is checked against them (read again after the lock).
pub async fn lock_account(
    conn: &mut PgConnection,
    broker: &str,
    account: &str,
) -> Result<bool, sqlx::Error> {
    static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!(
            "WITH lock AS MATERIALIZED (SELECT pg_advisory_xact_lock(\
                 hashtextextended('account_risk:' || $1 || '/' || $2, 0))) \
             SELECT {} FROM lock",
            has_rules_sql("$1", "$2")
        )
    });
    sqlx::query_scalar(&SQL)
        .bind(broker)
        .bind(account)
        .fetch_one(conn)
        .await
}

/// Stores the account's limits (insert or replace); returns the row as stored.
pub async fn put_limits(
    pool: &PgPool,
    broker: &str,
    account: &str,
    l: &AccountRiskLimits,
    by: &str,
    now: DateTime<Utc>,
) -> Result<LimitsRow, sqlx::Error> {
    let i = |v: u32| i32::try_from(v).unwrap_or(i32::MAX);
    sqlx::query_as(
        "INSERT INTO account_risk_limits (broker, account, max_gross_contracts, \
         max_net_contracts, daily_loss_limit, max_orders_per_minute, updated_by, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         ON CONFLICT (broker, account) DO UPDATE SET \
         max_gross_contracts = EXCLUDED.max_gross_contracts, \
         max_net_contracts = EXCLUDED.max_net_contracts, \
         daily_loss_limit = EXCLUDED.daily_loss_limit, \
         max_orders_per_minute = EXCLUDED.max_orders_per_minute, \
         updated_by = EXCLUDED.updated_by, updated_at = EXCLUDED.updated_at RETURNING *",
    )
    .bind(broker)
    .bind(account)
    .bind(i(l.max_gross_contracts))
    .bind(i(l.max_net_contracts))
    .bind(l.daily_loss_limit)
    .bind(i(l.max_orders_per_minute))
    .bind(by)
    .bind(now)
    .fetch_one(pool)
    .await
}

/// Every open latch (latched accounts).
pub async fn open_latches(pool: &PgPool) -> Result<Vec<LatchRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT * FROM account_risk_latches WHERE rearmed_at IS NULL ORDER BY broker, account",
    )
    .fetch_all(pool)
    .await
}

pub async fn open_latch<'e>(
    db: impl PgExecutor<'e>,
    broker: &str,
    account: &str,
) -> Result<Option<LatchRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT * FROM account_risk_latches \
         WHERE broker = $1 AND account = $2 AND rearmed_at IS NULL",
    )
    .bind(broker)
    .bind(account)
    .fetch_optional(db)
    .await
}

/// Latches the account unless it is latched already; returns the new row (None: an open
/// latch existed, e.g. another bot's evaluation stored it first).
pub async fn latch(
    pool: &PgPool,
    broker: &str,
    account: &str,
    l: &AccountLatch,
    bot_ids: &[Uuid],
) -> Result<Option<LatchRow>, sqlx::Error> {
    sqlx::query_as(
        "INSERT INTO account_risk_latches (id, broker, account, latched_at, reason, daily_pnl, \
         daily_loss_limit, bot_ids) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         ON CONFLICT (broker, account) WHERE rearmed_at IS NULL DO NOTHING RETURNING *",
    )
    .bind(Uuid::now_v7())
    .bind(broker)
    .bind(account)
    .bind(l.latched_at)
    .bind(&l.reason)
    .bind(l.daily_pnl.round_dp(2))
    .bind(l.daily_loss_limit)
    .bind(bot_ids)
    .fetch_optional(pool)
    .await
}

/// A human re-arm: closes the open latch; None when the account was not latched.
pub async fn rearm(
    pool: &PgPool,
    broker: &str,
    account: &str,
    by: &str,
    now: DateTime<Utc>,
) -> Result<Option<LatchRow>, sqlx::Error> {
    sqlx::query_as(
        "UPDATE account_risk_latches SET rearmed_by = $3, rearmed_at = $4 \
         WHERE broker = $1 AND account = $2 AND rearmed_at IS NULL RETURNING *",
    )
    .bind(broker)
    .bind(account)
    .bind(by)
    .bind(now)
    .fetch_optional(pool)
    .await
}

/// One bot routed to the account, with what the account reading sums.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AccountBotRow {
    pub bot_id: Uuid,
    pub symbol: Symbol,
    /// Its LIVE position (0 when flat, never filled, or the position is not a LIVE one).
    pub quantity: i64,
    /// Its LIVE fills since the trade date began: contracts bought minus sold, signed
    /// quantity × price, commissions.
    pub day_net_quantity: i64,
    pub day_signed_notional: Decimal,
    pub day_commission: Decimal,
    /// Signed quantity its unfinished LIVE orders at the account have not filled yet.
    pub working_signed: i64,
    /// When its newest filled LIVE order was decided (the contract its position is in).
    pub position_at: Option<DateTime<Utc>>,
    /// When its newest unfinished LIVE order at the account was decided.
    pub working_at: Option<DateTime<Utc>>,
}

/// The bots routed to `broker`/`account`: at stage LIVE or holding a LIVE position, whose
/// newest LIVE order went there, or that sent no LIVE order yet when `default_route` (the
/// account is where LIVE orders go now).
pub async fn account_bots<'e>(
    db: impl PgExecutor<'e>,
    broker: &str,
    account: &str,
    default_route: bool,
    day_start: DateTime<Utc>,
) -> Result<Vec<AccountBotRow>, sqlx::Error> {
    sqlx::query_as(
        "WITH here AS ( \
             SELECT b.id, b.symbol FROM bots b \
             LEFT JOIN positions p ON p.bot_id = b.id AND p.symbol = b.symbol \
             LEFT JOIN LATERAL (SELECT broker, broker_account FROM orders \
                 WHERE bot_id = b.id AND stage = 'LIVE' AND broker IS NOT NULL \
                 ORDER BY created_at DESC LIMIT 1) o ON true \
             WHERE (b.stage = 'LIVE' OR p.stage = 'LIVE') \
             AND ((o.broker = $1 AND o.broker_account = $2) OR (o.broker IS NULL AND $3)) \
         ) \
         SELECT h.id AS bot_id, h.symbol, \
                CASE WHEN p.stage = 'LIVE' THEN p.quantity ELSE 0 END::bigint AS quantity, \
                d.net_quantity AS day_net_quantity, d.signed_notional AS day_signed_notional, \
                d.commission AS day_commission, \
                COALESCE((SELECT sum(CASE WHEN o.side = 'BUY' THEN 1 ELSE -1 END \
                    * (o.quantity - COALESCE((SELECT sum(f.quantity) FROM fills f \
                        WHERE f.order_id = o.id), 0))) \
                    FROM orders o WHERE o.bot_id = h.id AND o.stage = 'LIVE' \
                    AND o.broker = $1 AND o.broker_account = $2 \
                    AND o.status IN ('SENDING', 'WORKING', 'PARTIALLY_FILLED')), 0)::bigint \
                    AS working_signed, \
                (SELECT COALESCE(o.decision_bar_at, o.created_at) FROM orders o \
                    WHERE o.bot_id = h.id AND o.stage = 'LIVE' \
                    AND EXISTS (SELECT 1 FROM fills f WHERE f.order_id = o.id) \
                    ORDER BY o.created_at DESC LIMIT 1) AS position_at, \
                (SELECT COALESCE(o.decision_bar_at, o.created_at) FROM orders o \
                    WHERE o.bot_id = h.id AND o.stage = 'LIVE' \
                    AND o.broker = $1 AND o.broker_account = $2 \
                    AND o.status IN ('SENDING', 'WORKING', 'PARTIALLY_FILLED') \
                    ORDER BY o.created_at DESC LIMIT 1) AS working_at \
         FROM here h LEFT JOIN positions p ON p.bot_id = h.id AND p.symbol = h.symbol \
         CROSS JOIN LATERAL (SELECT \
                COALESCE(sum(CASE WHEN o.side = 'BUY' THEN f.quantity ELSE -f.quantity END), 0) \
                    ::bigint AS net_quantity, \
                COALESCE(sum(CASE WHEN o.side = 'BUY' THEN f.quantity ELSE -f.quantity END \
                    * f.price), 0) AS signed_notional, \
                COALESCE(sum(f.commission), 0) AS commission \
             FROM fills f JOIN orders o ON o.id = f.order_id \
             WHERE f.bot_id = h.id AND o.stage = 'LIVE' AND f.filled_at >= $4) d \
         ORDER BY h.id",
    )
    .bind(broker)
    .bind(account)
    .bind(default_route)
    .bind(day_start)
    .fetch_all(db)
    .await
}

/// A listed contract's prices for the account reading.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ContractPrices {
    pub symbol: Symbol,
    /// `ESZ26`.
    pub contract: String,
    /// Its newest cached bar: close, start and length.
    pub mark_close: Option<Decimal>,
    pub mark_ts: Option<DateTime<Utc>>,
    pub mark_timeframe: Option<Timeframe>,
    /// Its last cached close from a bar that began before the trade date.
    pub day_start_close: Option<Decimal>,
}

/// The prices of each listed contract asked (root and contract code, in pairs): a position is
/// valued at its own contract's bars, never at another month's.
pub async fn contract_prices<'e>(
    db: impl PgExecutor<'e>,
    contracts: &[(Symbol, String)],
    day_start: DateTime<Utc>,
) -> Result<Vec<ContractPrices>, sqlx::Error> {
    let symbols: Vec<&str> = contracts.iter().map(|(s, _)| s.as_str()).collect();
    let codes: Vec<&str> = contracts.iter().map(|(_, c)| c.as_str()).collect();
    sqlx::query_as(
        "SELECT k.symbol, k.contract, m.close AS mark_close, m.ts AS mark_ts, \
                m.timeframe AS mark_timeframe, \
                (SELECT close FROM market_bars WHERE symbol = k.symbol AND contract = k.contract \
                    AND ts < $3 ORDER BY ts DESC LIMIT 1) AS day_start_close \
         FROM unnest($1::text[], $2::text[]) AS k(symbol, contract) \
         LEFT JOIN LATERAL (SELECT close, ts, timeframe FROM market_bars \
             WHERE symbol = k.symbol AND contract = k.contract ORDER BY ts DESC LIMIT 1) m ON true",
    )
    .bind(symbols)
    .bind(codes)
    .bind(day_start)
    .fetch_all(db)
    .await
}

/// LIVE orders written for the account at or after `since`.
pub async fn orders_since<'e>(
    db: impl PgExecutor<'e>,
    broker: &str,
    account: &str,
    since: DateTime<Utc>,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT count(*) FROM orders WHERE stage = 'LIVE' AND broker = $1 \
         AND broker_account = $2 AND created_at >= $3",
    )
    .bind(broker)
    .bind(account)
    .bind(since)
    .fetch_one(db)
    .await
}
