//! `integration_usage_events`: one row per provider call, the proof that a provider is used.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::{PgPool, Postgres, QueryBuilder};
use utoipa::ToSchema;
use uuid::Uuid;

use super::page::{Cursor, Page, TimeRange, push_window};
use crate::trace::TraceId;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum UsageStatus {
    Ok,
    Error,
    /// A `verify()` call, whatever its outcome (the outcome is in `error_code`/`metadata`).
    Verify,
}

impl UsageStatus {
    pub const ALL: [UsageStatus; 3] = [UsageStatus::Ok, UsageStatus::Error, UsageStatus::Verify];

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            UsageStatus::Ok => "OK",
            UsageStatus::Error => "ERROR",
            UsageStatus::Verify => "VERIFY",
        }
    }
}

/// A usage event as recorded; `id` and `created_at` are set when the event is made, so a
/// batch written later keeps the time of the call.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, ToSchema)]
pub struct UsageEvent {
    pub id: Uuid,
    pub created_at: DateTime<Utc>,
    pub provider_id: String,
    pub bot_id: Option<Uuid>,
    pub run_id: Option<Uuid>,
    pub action: String,
    pub status: UsageStatus,
    pub latency_ms: i32,
    pub error_code: Option<String>,
    pub trace_id: String,
    pub metadata: Value,
}

impl UsageEvent {
    /// A new event stamped `at`, under the current trace id.
    pub fn new(
        provider_id: impl Into<String>,
        action: impl Into<String>,
        status: UsageStatus,
        latency_ms: u32,
        at: DateTime<Utc>,
    ) -> Self {
        UsageEvent {
            id: Uuid::now_v7(),
            created_at: at,
            provider_id: provider_id.into(),
            bot_id: None,
            run_id: None,
            action: action.into(),
            status,
            latency_ms: i32::try_from(latency_ms).unwrap_or(i32::MAX),
            error_code: None,
            trace_id: TraceId::current().to_string(),
            metadata: Value::Object(Default::default()),
        }
    }
}

/// Writes many events in one statement (arrays unnested server-side): one round trip per batch.
pub async fn insert_many(pool: &PgPool, events: &[UsageEvent]) -> Result<u64, sqlx::Error> {
    if events.is_empty() {
        return Ok(0);
    }
    let mut ids = Vec::with_capacity(events.len());
    let mut created = Vec::with_capacity(events.len());
    let mut providers = Vec::with_capacity(events.len());
    let mut bots = Vec::with_capacity(events.len());
    let mut runs = Vec::with_capacity(events.len());
    let mut actions = Vec::with_capacity(events.len());
    let mut statuses = Vec::with_capacity(events.len());
    let mut latencies = Vec::with_capacity(events.len());
    let mut codes = Vec::with_capacity(events.len());
    let mut traces = Vec::with_capacity(events.len());
    let mut metadata = Vec::with_capacity(events.len());
    for e in events {
        ids.push(e.id);
        created.push(e.created_at);
        providers.push(e.provider_id.as_str());
        bots.push(e.bot_id);
        runs.push(e.run_id);
        actions.push(e.action.as_str());
        statuses.push(e.status.as_str());
        latencies.push(e.latency_ms);
        codes.push(e.error_code.as_deref());
        traces.push(e.trace_id.as_str());
        metadata.push(&e.metadata);
    }
    let done = sqlx::query(
        "INSERT INTO integration_usage_events \
         (id, created_at, provider_id, bot_id, run_id, action, status, latency_ms, error_code, trace_id, metadata) \
         SELECT * FROM UNNEST($1::uuid[], $2::timestamptz[], $3::text[], $4::uuid[], $5::uuid[], $6::text[], \
                              $7::text[], $8::int4[], $9::text[], $10::text[], $11::jsonb[]) \
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(ids)
    .bind(created)
    .bind(providers)
    .bind(bots)
    .bind(runs)
    .bind(actions)
    .bind(statuses)
    .bind(latencies)
    .bind(codes)
    .bind(traces)
    .bind(metadata)
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

/// The latest events of one provider, newest first.
pub async fn latest_for_provider(
    pool: &PgPool,
    provider_id: &str,
    limit: i64,
) -> Result<Vec<UsageEvent>, sqlx::Error> {
    sqlx::query_as(
        "SELECT * FROM integration_usage_events WHERE provider_id = $1 \
         ORDER BY created_at DESC, id DESC LIMIT $2",
    )
    .bind(provider_id)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// Filters of the cross-provider usage-event list (each optional).
#[derive(Debug, Clone)]
pub struct UsageFilter {
    pub provider_id: Option<String>,
    pub bot_id: Option<Uuid>,
    pub status: Option<UsageStatus>,
    pub range: TimeRange,
}

/// Usage events of every provider, newest first, keyset-paginated. Each filter has its index:
/// `usage_events_provider_idx`, `usage_events_bot_page_idx`, `usage_events_status_idx`, and
/// `usage_events_created_idx` when none is given.
pub async fn page(
    pool: &PgPool,
    filter: &UsageFilter,
    after: Option<Cursor>,
    limit: i64,
) -> Result<Page<UsageEvent>, sqlx::Error> {
    let mut q = QueryBuilder::<Postgres>::new("SELECT * FROM integration_usage_events WHERE true");
    if let Some(provider) = &filter.provider_id {
        q.push(" AND provider_id = ").push_bind(provider.clone());
    }
    if let Some(bot) = filter.bot_id {
        q.push(" AND bot_id = ").push_bind(bot);
    }
    if let Some(status) = filter.status {
        q.push(" AND status = ").push_bind(status.as_str());
    }
    push_window(&mut q, filter.range, after, limit);
    let rows: Vec<UsageEvent> = q.build_query_as().fetch_all(pool).await?;
    Ok(Page::from_rows(rows, limit, |e| Cursor {
        created_at: e.created_at,
        id: e.id,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[sqlx::test]
    async fn batches_are_written_once(pool: PgPool) {
        let now = crate::clock::Clock::system().now();
        let mut events: Vec<UsageEvent> = (0..100)
            .map(|i| {
                let mut e = UsageEvent::new("databento", "bars.fetch", UsageStatus::Ok, i, now);
                if i % 10 == 0 {
                    e.status = UsageStatus::Error;
                    e.error_code = Some("DATA_UNAVAILABLE".into());
                    e.bot_id = Some(Uuid::now_v7());
                }
                e
            })
            .collect();
        assert_eq!(insert_many(&pool, &events).await.unwrap(), 100);
        // A retried batch (after a lost acknowledgement) does not duplicate rows.
        assert_eq!(insert_many(&pool, &events).await.unwrap(), 0);
        events.truncate(0);
        assert_eq!(insert_many(&pool, &events).await.unwrap(), 0);
        let latest = latest_for_provider(&pool, "databento", 5).await.unwrap();
        assert_eq!(latest.len(), 5);
        assert_eq!(latest[0].latency_ms, 99);
        let errors: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM integration_usage_events WHERE status = 'ERROR' AND error_code = 'DATA_UNAVAILABLE'",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!(errors, 10);
    }
}
