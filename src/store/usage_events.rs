//! `integration_usage_events`: one row per provider call, the proof that a provider is used.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::{PgPool, Postgres, QueryBuilder};
use utoipa::ToSchema;
use uuid::Uuid;

use super::page::{Cursor, Page, TimeRange, push_window};
use crate::domain::contracts::Contract;
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

/// A bar read a runner was served from the feed's window (`runtime::feed`): the most common
/// usage event by far (one per bot and bar), kept as its parts until it is written. Its row is
/// exactly [`CachedRead::into_event`]'s: action `bars.fetch`, status OK, latency 0, and the
/// metadata `{cached, symbol, contract, timeframe, bars, stream}`.
#[derive(Debug, Clone)]
pub struct CachedRead {
    pub id: Uuid,
    pub created_at: DateTime<Utc>,
    pub provider_id: &'static str,
    pub bot_id: Option<Uuid>,
    pub run_id: Option<Uuid>,
    pub trace_id: TraceId,
    pub symbol: &'static str,
    pub contract: Contract,
    pub timeframe: &'static str,
    pub bars: usize,
    pub stream: bool,
}

/// The action of a bar read ([`CachedRead`]).
pub const BARS_FETCH: &str = "bars.fetch";

impl CachedRead {
    /// The metadata as JSON text (what `metadata()` serialises to, keys in its order).
    pub fn write_metadata(&self, out: &mut String) {
        use std::fmt::Write as _;
        // The codes are ASCII letters and digits: nothing to escape (tested).
        let _ = write!(
            out,
            "{{\"bars\":{},\"cached\":true,\"contract\":\"{}\",\"stream\":{},\"symbol\":\"{}\",\"timeframe\":\"{}\"}}",
            self.bars,
            self.contract.code(),
            self.stream,
            self.symbol,
            self.timeframe,
        );
    }

    /// The metadata as a JSON value.
    pub fn metadata(&self) -> Value {
        serde_json::json!({
            "cached": true, "symbol": self.symbol, "contract": self.contract.code(),
            "timeframe": self.timeframe, "bars": self.bars, "stream": self.stream,
        })
    }

    /// The same row as a full event.
    pub fn into_event(self) -> UsageEvent {
        UsageEvent {
            id: self.id,
            created_at: self.created_at,
            provider_id: self.provider_id.to_owned(),
            bot_id: self.bot_id,
            run_id: self.run_id,
            action: BARS_FETCH.to_owned(),
            status: UsageStatus::Ok,
            latency_ms: 0,
            error_code: None,
            metadata: self.metadata(),
            trace_id: self.trace_id.to_string(),
        }
    }
}

/// Writes many events in one statement (arrays unnested server-side): one round trip per batch.
pub async fn insert_many(pool: &PgPool, events: &[UsageEvent]) -> Result<u64, sqlx::Error> {
    insert_batch(pool, events, &[]).await
}

/// [`insert_many`] of full events and bar reads together, in one statement.
pub async fn insert_batch(
    pool: &PgPool,
    events: &[UsageEvent],
    reads: &[CachedRead],
) -> Result<u64, sqlx::Error> {
    let n = events.len() + reads.len();
    if n == 0 {
        return Ok(0);
    }
    let mut ids = Vec::with_capacity(n);
    let mut created = Vec::with_capacity(n);
    let mut providers = Vec::with_capacity(n);
    let mut bots = Vec::with_capacity(n);
    let mut runs = Vec::with_capacity(n);
    let mut actions = Vec::with_capacity(n);
    let mut statuses = Vec::with_capacity(n);
    let mut latencies = Vec::with_capacity(n);
    let mut codes = Vec::with_capacity(n);
    let mut traces = Vec::with_capacity(n);
    let mut metadata = Vec::with_capacity(n);
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
        metadata.push(e.metadata.to_string());
    }
    for r in reads {
        ids.push(r.id);
        created.push(r.created_at);
        providers.push(r.provider_id);
        bots.push(r.bot_id);
        runs.push(r.run_id);
        actions.push(BARS_FETCH);
        statuses.push(UsageStatus::Ok.as_str());
        latencies.push(0);
        codes.push(None);
        traces.push(r.trace_id.as_str());
        let mut m = String::with_capacity(112);
        r.write_metadata(&mut m);
        metadata.push(m);
    }
    let write = |skip_existing: bool| {
        let sql = if skip_existing {
            INSERT_SKIPPING_SQL.as_str()
        } else {
            INSERT_SQL
        };
        sqlx::query(sql)
            .bind(&ids)
            .bind(&created)
            .bind(&providers)
            .bind(&bots)
            .bind(&runs)
            .bind(&actions)
            .bind(&statuses)
            .bind(&latencies)
            .bind(&codes)
            .bind(&traces)
            .bind(&metadata)
            .execute(pool)
    };
    // A batch is written once; only a batch written again (its commit's answer was lost and
    // the writer retried it) meets its own rows, and then skips them. Inserting with
    // `ON CONFLICT` every time costs ≈ 20 % more per row (speculative insertion).
    let mut skip_existing = false;
    let mut reroutes = 0;
    loop {
        match write(skip_existing).await {
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() && !skip_existing => {
                skip_existing = true;
            }
            Err(sqlx::Error::Database(e))
                if reroutes < MAX_REROUTES && routed_before_its_day_was_made(e.as_ref()) =>
            {
                reroutes += 1;
            }
            other => return Ok(other?.rows_affected()),
        }
    }
}

/// Days a statement may meet being made (`usage_partitions` makes today's and two ahead).
const MAX_REROUTES: usize = 3;

/// The statement sent rows of a day without a partition to the DEFAULT partition, and the
/// leader made that day before the rows were in (`usage_partitions::make_day` holds the DEFAULT
/// partition's lock while it attaches the day): Postgres then refuses them against the DEFAULT
/// partition's new bounds (23514 naming no constraint). Nothing was written; sent again, the rows
/// go to their day.
fn routed_before_its_day_was_made(e: &dyn sqlx::error::DatabaseError) -> bool {
    e.code().as_deref() == Some("23514") && e.constraint().is_none()
}

/// [`insert_batch`]'s statement: the arrays unnested server-side.
const INSERT_SQL: &str = "INSERT INTO integration_usage_events \
     (id, created_at, provider_id, bot_id, run_id, action, status, latency_ms, error_code, trace_id, metadata) \
     SELECT u.id, u.created_at, u.provider_id, u.bot_id, u.run_id, u.action, u.status, \
            u.latency_ms, u.error_code, u.trace_id, u.metadata::jsonb \
     FROM UNNEST($1::uuid[], $2::timestamptz[], $3::text[], $4::uuid[], $5::uuid[], $6::text[], \
                 $7::text[], $8::int4[], $9::text[], $10::text[], $11::text[]) \
          AS u(id, created_at, provider_id, bot_id, run_id, action, status, latency_ms, \
               error_code, trace_id, metadata)";

/// [`INSERT_SQL`] that skips the rows already written.
static INSERT_SKIPPING_SQL: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| format!("{INSERT_SQL} ON CONFLICT (id, created_at) DO NOTHING"));

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
/// `usage_events_provider_idx`, `usage_events_bot_page_idx`, `usage_events_not_ok_idx` for
/// ERROR and VERIFY, and `usage_events_created_idx` when none is given (or OK: nearly every row).
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
        // A literal (one of three fixed words), not a parameter: only a known value proves
        // to the planner that `usage_events_not_ok_idx` (WHERE status <> 'OK') holds the rows.
        q.push(" AND status = '").push(status.as_str()).push("'");
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

    /// A bar read is stored as the same row as its full event (`into_event`): every column,
    /// and the metadata's JSON equal to the `json!` form, on every root and both stream states.
    #[sqlx::test]
    async fn a_bar_read_is_stored_as_its_full_event(pool: PgPool) {
        use crate::domain::{contracts::ContractMonth, instruments::Symbol};
        use chrono::SubsecRound;
        // As stored (microseconds), so the rows compare whole.
        let now = crate::clock::Clock::system().now().trunc_subsecs(6);
        let trace = TraceId::generate();
        let reads: Vec<CachedRead> = Symbol::ALL
            .iter()
            .enumerate()
            .map(|(i, &root)| CachedRead {
                id: Uuid::now_v7(),
                created_at: now,
                provider_id: "databento",
                bot_id: Some(Uuid::now_v7()),
                run_id: (i % 2 == 0).then(Uuid::now_v7),
                trace_id: trace.clone(),
                symbol: root.as_str(),
                contract: Contract::new(root, 2026 + i as i32, ContractMonth::Z),
                timeframe: "1s",
                bars: i * 7,
                stream: i % 2 == 1,
            })
            .collect();
        let plain = UsageEvent::new("polygon", "bars.fetch", UsageStatus::Ok, 3, now);
        assert_eq!(
            insert_batch(&pool, std::slice::from_ref(&plain), &reads)
                .await
                .unwrap(),
            reads.len() as u64 + 1
        );
        for r in &reads {
            let mut text = String::new();
            r.write_metadata(&mut text);
            assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), r.metadata());
            let want = r.clone().into_event();
            let got: UsageEvent =
                sqlx::query_as("SELECT * FROM integration_usage_events WHERE id = $1")
                    .bind(r.id)
                    .fetch_one(&pool)
                    .await
                    .unwrap();
            assert_eq!(
                serde_json::to_value(&got).unwrap(),
                serde_json::to_value(&want).unwrap()
            );
        }
        let got: UsageEvent =
            sqlx::query_as("SELECT * FROM integration_usage_events WHERE id = $1")
                .bind(plain.id)
                .fetch_one(&pool)
                .await
                .unwrap();
        assert_eq!(got.metadata, plain.metadata);
        // Retried: nothing twice.
        assert_eq!(insert_batch(&pool, &[plain], &reads).await.unwrap(), 0);
    }
}
