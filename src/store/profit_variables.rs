//! `profit_variables` (SPEC §6): the variables strategies use and the integration each comes from.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::{Acquire, PgPool, Postgres, QueryBuilder};
use utoipa::ToSchema;
use uuid::Uuid;

use super::page::{Cursor, Page, TimeRange, push_window};
use crate::domain::strategies::VariableDecl;

/// Strategy variables are read from bars, so they come from the market-data integration (the
/// registry's `Category::MarketData`, serialized `market_data`).
pub const MARKET_DATA: &str = "market_data";

/// Serializes `sync_bot` calls: each touches the rows of the variables it declares and of the
/// ones it leaves, in an order that depends on both sets, so two calls for different bots could
/// otherwise lock each other's rows in opposite orders. Syncs happen only on bot create and
/// strategy change, so one at a time costs nothing.
const SYNC_LOCK: i64 = 0x7470_7072_6f66_0001;

/// Whether a variable is still in use by the strategies that declared it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum VariableState {
    Active,
    Deprecated,
}

impl VariableState {
    pub const ALL: [VariableState; 2] = [VariableState::Active, VariableState::Deprecated];

    pub const fn as_str(self) -> &'static str {
        match self {
            VariableState::Active => "ACTIVE",
            VariableState::Deprecated => "DEPRECATED",
        }
    }
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, ToSchema)]
pub struct ProfitVariable {
    pub id: Uuid,
    pub name: String,
    pub category: String,
    pub source_integration: String,
    pub variable_type: String,
    pub state: VariableState,
    pub last_updated_at: DateTime<Utc>,
    pub used_by_bot_ids: Value,
    pub profit_contribution_estimate: Option<f64>,
    pub description: String,
    pub created_at: DateTime<Utc>,
    /// Variables with a value of their own (`fred.<SERIES>`): the newest value…
    pub latest_value: Option<f64>,
    /// …and the date it is for (FRED's observation date).
    pub value_as_of: Option<chrono::NaiveDate>,
}

pub async fn list(
    pool: &PgPool,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    after: Option<Cursor>,
    limit: i64,
) -> Result<Page<ProfitVariable>, sqlx::Error> {
    let mut q = QueryBuilder::<Postgres>::new("SELECT * FROM profit_variables WHERE true");
    push_window(&mut q, TimeRange { from, to }, after, limit);
    let rows: Vec<ProfitVariable> = q.build_query_as().fetch_all(pool).await?;
    Ok(Page::from_rows(rows, limit, |v| Cursor {
        created_at: v.created_at,
        id: v.id,
    }))
}

/// Makes `profit_variables` say that `bot_id` uses exactly `vars`: upserts each declared
/// variable (category, type, description from the declaration; `source_integration`
/// [`MARKET_DATA`]) with `bot_id` in its `used_by_bot_ids` (once), removes `bot_id` from every
/// other variable (except the `fred.<SERIES>` rows, which `macro_data::sync_bot_series`
/// keeps), and bumps `last_updated_at` of every row it touches. An empty `vars` removes
/// the bot everywhere (bot deletion). Runs in its own transaction, or a savepoint when `db` is
/// one already, so it can share the transaction that writes the bot.
pub async fn sync_bot<'a, A>(
    db: A,
    bot_id: Uuid,
    vars: &[VariableDecl],
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error>
where
    A: Acquire<'a, Database = Postgres>,
{
    // By name, once each: ON CONFLICT may not touch a row twice in one statement.
    let by_name: BTreeMap<&str, &VariableDecl> = vars.iter().map(|v| (v.name, v)).collect();
    let names: Vec<&str> = by_name.keys().copied().collect();
    let pick = |f: fn(&VariableDecl) -> &'static str| -> Vec<&str> {
        by_name.values().map(|v| f(v)).collect()
    };
    let ids: Vec<Uuid> = names.iter().map(|_| Uuid::now_v7()).collect();
    let bot = bot_id.to_string();

    let mut tx = db.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(SYNC_LOCK)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "UPDATE profit_variables SET used_by_bot_ids = used_by_bot_ids - $1::text, \
         last_updated_at = $2 \
         WHERE used_by_bot_ids ? $1::text AND NOT (name = ANY($3::text[])) \
           AND name NOT LIKE 'fred.%'",
    )
    .bind(&bot)
    .bind(now)
    .bind(&names)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO profit_variables (id, name, category, source_integration, variable_type, \
         description, used_by_bot_ids, last_updated_at, created_at) \
         SELECT v.id, v.name, v.category, $6, v.variable_type, v.description, \
                jsonb_build_array($7::text), $8, $8 \
         FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[]) \
              AS v(id, name, category, variable_type, description) \
         ORDER BY v.name \
         ON CONFLICT (name) DO UPDATE SET category = EXCLUDED.category, \
           source_integration = EXCLUDED.source_integration, \
           variable_type = EXCLUDED.variable_type, description = EXCLUDED.description, \
           used_by_bot_ids = CASE WHEN profit_variables.used_by_bot_ids ? $7::text \
             THEN profit_variables.used_by_bot_ids \
             ELSE profit_variables.used_by_bot_ids || EXCLUDED.used_by_bot_ids END, \
           last_updated_at = EXCLUDED.last_updated_at",
    )
    .bind(&ids)
    .bind(&names)
    .bind(pick(|v| v.category))
    .bind(pick(|v| v.variable_type))
    .bind(pick(|v| v.description))
    .bind(MARKET_DATA)
    .bind(&bot)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    tx.commit().await
}

/// Recomputes `profit_contribution_estimate` of every variable some bot with realized results
/// uses: the summed net PnL (USD, after commissions) of those bots, each bot's closed PAPER
/// trades since `since` or, without any, its newest SUCCEEDED backtest (its own or linked as
/// its evidence). Those rows name `provider` (the market-data vendor their bars come from)
/// as `source_integration`. A variable none of whose bots has results keeps its estimate
/// unknown (NULL), never 0. Returns the rows updated.
///
/// Refreshes (after a backtest, after a sweep) and [`sync_bot`] take one lock in turn: the
/// UPDATE's snapshot is taken after the lock, so a refresh that started earlier cannot
/// overwrite a later one's estimate with what it read before a newer result committed.
pub async fn refresh_estimates(
    pool: &PgPool,
    provider: &str,
    since: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<u64, sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(SYNC_LOCK)
        .execute(&mut *tx)
        .await?;
    let done = sqlx::query(
        "WITH realized AS ( \
             SELECT b.id AS bot_id, COALESCE(p.net, bt.net) AS net FROM bots b \
             LEFT JOIN (SELECT bot_id, sum(realized_pnl - commission) AS net FROM trades \
                        WHERE stage = 'PAPER' AND closed_at > $2 AND realized_pnl IS NOT NULL \
                        GROUP BY bot_id) p ON p.bot_id = b.id \
             LEFT JOIN LATERAL (SELECT (x.metrics->>'net_pnl')::numeric AS net FROM backtests x \
                        WHERE (x.bot_id = b.id OR x.id IN \
                               (SELECT backtest_id FROM bot_backtest_evidence e WHERE e.bot_id = b.id)) \
                          AND x.metrics IS NOT NULL AND x.completed_at IS NOT NULL \
                        ORDER BY x.completed_at DESC, x.id DESC LIMIT 1) bt ON true), \
         est AS ( \
             SELECT v.id, sum(r.net)::float8 AS estimate FROM profit_variables v \
             CROSS JOIN LATERAL jsonb_array_elements_text(v.used_by_bot_ids) u(bot) \
             JOIN realized r ON r.bot_id::text = u.bot AND r.net IS NOT NULL \
             GROUP BY v.id) \
         UPDATE profit_variables v SET profit_contribution_estimate = est.estimate, \
             source_integration = CASE WHEN v.name LIKE 'fred.%' THEN v.source_integration \
               ELSE $1 END, last_updated_at = $3 \
         FROM est WHERE v.id = est.id",
    )
    .bind(provider)
    .bind(since)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(done.rows_affected())
}
