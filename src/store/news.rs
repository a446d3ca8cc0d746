//! `news_headlines` and `news_gate_status`: the news gate's headlines (each classified once)
//! and the fetch/classification state every node's gate cache reads.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::domain::news::NewsItem;
use crate::domain::news::{Headline, NewsClass, NewsHistory, NewsStatus, RiskOffHeadline};

/// Stores the items not stored yet (by provider and headline id); returns how many were new.
pub async fn insert_items(
    pool: &PgPool,
    provider_id: &str,
    items: &[NewsItem],
    fetched_at: DateTime<Utc>,
) -> Result<u64, sqlx::Error> {
    let mut new = 0;
    for item in items {
        let Some(published_at) = item.published_at() else {
            continue;
        };
        new += sqlx::query(
            "INSERT INTO news_headlines (provider_id, headline_id, headline, source, category, \
             published_at, fetched_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (provider_id, headline_id) DO NOTHING",
        )
        .bind(provider_id)
        .bind(item.id)
        .bind(&item.headline)
        .bind(&item.source)
        .bind(if item.category.is_empty() {
            "general"
        } else {
            item.category.as_str()
        })
        .bind(published_at)
        .bind(fetched_at)
        .execute(pool)
        .await?
        .rows_affected();
    }
    Ok(new)
}

/// The highest headline id stored for `provider_id` (the next fetch's `minId`).
pub async fn max_id(pool: &PgPool, provider_id: &str) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar("SELECT max(headline_id) FROM news_headlines WHERE provider_id = $1")
        .bind(provider_id)
        .fetch_one(pool)
        .await
}

/// Up to `limit` headlines without a class, oldest fetched first.
pub async fn unclassified(
    pool: &PgPool,
    provider_id: &str,
    limit: i64,
) -> Result<Vec<Headline>, sqlx::Error> {
    let rows: Vec<(i64, String, String)> = sqlx::query_as(
        "SELECT headline_id, headline, source FROM news_headlines \
         WHERE provider_id = $1 AND class IS NULL ORDER BY fetched_at, headline_id LIMIT $2",
    )
    .bind(provider_id)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(headline_id, headline, source)| Headline {
            headline_id,
            headline,
            source,
        })
        .collect())
}

/// Stores classes for headlines that have none yet (a class, once set, is never replaced);
/// returns how many were set.
pub async fn set_classes(
    pool: &PgPool,
    provider_id: &str,
    classes: &[(i64, NewsClass)],
    at: DateTime<Utc>,
    model: &str,
    trace_id: &str,
) -> Result<u64, sqlx::Error> {
    let mut set = 0;
    for (id, class) in classes {
        set += sqlx::query(
            "UPDATE news_headlines SET class = $3, classified_at = $4, model = $5, trace_id = $6 \
             WHERE provider_id = $1 AND headline_id = $2 AND class IS NULL",
        )
        .bind(provider_id)
        .bind(id)
        .bind(class.as_str())
        .bind(at)
        .bind(model)
        .bind(trace_id)
        .execute(pool)
        .await?
        .rows_affected();
    }
    Ok(set)
}

/// Records a fetch: its time and, on failure, why (a success clears the error), in the status
/// row and in the fetch history a backtest's replay checks its range against.
pub async fn record_fetch(
    pool: &PgPool,
    at: DateTime<Utc>,
    error: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO news_fetch_log (at, error) VALUES ($1, $2)")
        .bind(at)
        .bind(error)
        .execute(pool)
        .await?;
    sqlx::query(
        "UPDATE news_gate_status SET last_fetch_at = $1, \
         last_fetch_ok_at = CASE WHEN $2::text IS NULL THEN $1 ELSE last_fetch_ok_at END, \
         last_fetch_error = $2",
    )
    .bind(at)
    .bind(error)
    .execute(pool)
    .await
    .map(drop)
}

/// Records a classification attempt: `error` is `(code, message)` of a failure, `None` a
/// success (which clears the failure).
pub async fn record_classify(
    pool: &PgPool,
    at: DateTime<Utc>,
    error: Option<(&str, &str)>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE news_gate_status SET last_classify_at = $1, \
         last_classify_ok_at = CASE WHEN $2::text IS NULL THEN $1 ELSE last_classify_ok_at END, \
         classify_error_code = $2, classify_error = $3",
    )
    .bind(at)
    .bind(error.map(|e| e.0))
    .bind(error.map(|e| e.1))
    .execute(pool)
    .await
    .map(drop)
}

/// The state the gate's freshness rule reads.
pub async fn status(pool: &PgPool) -> Result<NewsStatus, sqlx::Error> {
    type Row = (
        Option<DateTime<Utc>>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<DateTime<Utc>>,
    );
    let row: Option<Row> = sqlx::query_as(
        "SELECT s.last_fetch_ok_at, s.last_fetch_error, s.classify_error_code, s.classify_error, \
         (SELECT min(fetched_at) FROM news_headlines WHERE class IS NULL) \
         FROM news_gate_status s",
    )
    .fetch_optional(pool)
    .await?;
    Ok(row.map_or_else(NewsStatus::default, |r| NewsStatus {
        last_fetch_ok_at: r.0,
        last_fetch_error: r.1,
        classify_error_code: r.2,
        classify_error: r.3,
        oldest_unclassified_at: r.4,
    }))
}

/// The newest `limit` risk-off headlines (newest published first).
pub async fn recent_risk_off(
    pool: &PgPool,
    limit: i64,
) -> Result<Vec<RiskOffHeadline>, sqlx::Error> {
    let rows: Vec<(String, i64, String, String, DateTime<Utc>)> = sqlx::query_as(
        "SELECT provider_id, headline_id, headline, source, published_at FROM news_headlines \
         WHERE class = 'risk_off' ORDER BY published_at DESC LIMIT $1",
    )
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(provider_id, headline_id, headline, source, published_at)| RiskOffHeadline {
                provider_id,
                headline_id,
                headline,
                source,
                published_at,
            },
        )
        .collect())
}

/// What a backtest replays over `[from, to]` for a gate of `window`: the successful fetches
/// from the newest at or before `from` up to `to`, and the headlines published in
/// `(from − window, to]` (the ones any bar of the range can see): how many lack a class, and
/// the risk-off ones.
pub async fn history(
    pool: &PgPool,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    window: chrono::Duration,
) -> Result<NewsHistory, sqlx::Error> {
    let ok_fetches: Vec<DateTime<Utc>> = sqlx::query_scalar(
        "SELECT at FROM news_fetch_log WHERE error IS NULL AND at <= $2 AND at >= coalesce(\
         (SELECT max(at) FROM news_fetch_log WHERE error IS NULL AND at <= $1), $1) ORDER BY at",
    )
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await?;
    let since = from - window;
    let unclassified: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM news_headlines WHERE class IS NULL \
         AND published_at > $1 AND published_at <= $2",
    )
    .bind(since)
    .bind(to)
    .fetch_one(pool)
    .await?;
    let rows: Vec<(String, i64, String, String, DateTime<Utc>)> = sqlx::query_as(
        "SELECT provider_id, headline_id, headline, source, published_at FROM news_headlines \
         WHERE class = 'risk_off' AND published_at > $1 AND published_at <= $2 \
         ORDER BY published_at DESC",
    )
    .bind(since)
    .bind(to)
    .fetch_all(pool)
    .await?;
    Ok(NewsHistory {
        ok_fetches,
        unclassified,
        risk_off: rows.into_iter().map(risk_off_row).collect(),
    })
}

fn risk_off_row(
    (provider_id, headline_id, headline, source, published_at): (
        String,
        i64,
        String,
        String,
        DateTime<Utc>,
    ),
) -> RiskOffHeadline {
    RiskOffHeadline {
        provider_id,
        headline_id,
        headline,
        source,
        published_at,
    }
}

/// The gate's shared state as the operator reads it (`GET /api/news-gate`).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct GateStatusRow {
    pub last_fetch_at: Option<DateTime<Utc>>,
    pub last_fetch_ok_at: Option<DateTime<Utc>>,
    pub last_fetch_error: Option<String>,
    pub last_classify_at: Option<DateTime<Utc>>,
    pub last_classify_ok_at: Option<DateTime<Utc>>,
    pub classify_error_code: Option<String>,
    pub classify_error: Option<String>,
    /// Headlines still waiting for their class.
    pub unclassified: i64,
}

pub async fn gate_status(pool: &PgPool) -> Result<GateStatusRow, sqlx::Error> {
    type Row = (
        Option<DateTime<Utc>>,
        Option<DateTime<Utc>>,
        Option<String>,
        Option<DateTime<Utc>>,
        Option<DateTime<Utc>>,
        Option<String>,
        Option<String>,
        i64,
    );
    let row: Option<Row> = sqlx::query_as(
        "SELECT s.last_fetch_at, s.last_fetch_ok_at, s.last_fetch_error, s.last_classify_at, \
         s.last_classify_ok_at, s.classify_error_code, s.classify_error, \
         (SELECT count(*) FROM news_headlines WHERE class IS NULL) FROM news_gate_status s",
    )
    .fetch_optional(pool)
    .await?;
    Ok(row.map_or_else(GateStatusRow::default, |r| GateStatusRow {
        last_fetch_at: r.0,
        last_fetch_ok_at: r.1,
        last_fetch_error: r.2,
        last_classify_at: r.3,
        last_classify_ok_at: r.4,
        classify_error_code: r.5,
        classify_error: r.6,
        unclassified: r.7,
    }))
}

/// A bot whose stored strategy has the news gate (archived bots left out).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct GatedBotRow {
    pub id: uuid::Uuid,
    pub name: String,
    pub stage: String,
    pub status: String,
    pub strategy: serde_json::Value,
}

pub async fn gated_bots(pool: &PgPool) -> Result<Vec<GatedBotRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, name, stage, status, strategy FROM bots WHERE archived_at IS NULL \
         AND jsonb_typeof(strategy -> 'filters' -> 'news_gate') = 'object' ORDER BY name, id",
    )
    .fetch_all(pool)
    .await
}
