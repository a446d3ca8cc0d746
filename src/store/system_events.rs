//! `system_events`: the operator-facing log of everything the control plane did or saw.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::{PgPool, Postgres, QueryBuilder};
use utoipa::ToSchema;
use uuid::Uuid;

use super::page::{Cursor, Page, TimeRange, push_window};
use crate::trace::TraceId;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum Severity {
    #[serde(rename = "SEV-1")]
    Sev1,
    #[serde(rename = "SEV-2")]
    Sev2,
    #[serde(rename = "SEV-3")]
    Sev3,
    #[serde(rename = "INFO")]
    Info,
}

impl Severity {
    pub const ALL: [Severity; 4] = [
        Severity::Sev1,
        Severity::Sev2,
        Severity::Sev3,
        Severity::Info,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Severity::Sev1 => "SEV-1",
            Severity::Sev2 => "SEV-2",
            Severity::Sev3 => "SEV-3",
            Severity::Info => "INFO",
        }
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, ToSchema)]
pub struct SystemEvent {
    pub id: Uuid,
    pub created_at: DateTime<Utc>,
    pub severity: Severity,
    pub code: String,
    pub message: String,
    pub bot_id: Option<Uuid>,
    pub provider_id: Option<String>,
    pub trace_id: String,
    pub metadata: Value,
    /// The node (`serve` process) that recorded it; `null` outside a node (CLI tools) and for
    /// events from before nodes were recorded.
    pub node_id: Option<String>,
}

/// An event to record. The trace id defaults to the current request's.
#[derive(Debug, Clone)]
pub struct NewSystemEvent {
    pub severity: Severity,
    pub code: String,
    pub message: String,
    pub bot_id: Option<Uuid>,
    pub provider_id: Option<String>,
    pub trace_id: TraceId,
    pub metadata: Value,
    /// Filled by the process's event bus when recorded (`None` outside a node).
    pub node_id: Option<String>,
}

impl NewSystemEvent {
    pub fn new(severity: Severity, code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            severity,
            code: code.into(),
            message: message.into(),
            bot_id: None,
            provider_id: None,
            trace_id: TraceId::current(),
            metadata: Value::Object(Default::default()),
            node_id: None,
        }
    }

    pub fn bot(mut self, bot_id: Uuid) -> Self {
        self.bot_id = Some(bot_id);
        self
    }

    pub fn provider(mut self, provider_id: impl Into<String>) -> Self {
        self.provider_id = Some(provider_id.into());
        self
    }

    pub fn metadata(mut self, metadata: Value) -> Self {
        self.metadata = metadata;
        self
    }
}

/// Writes one event stamped `at`.
pub async fn insert(
    pool: &PgPool,
    event: NewSystemEvent,
    at: DateTime<Utc>,
) -> Result<SystemEvent, sqlx::Error> {
    sqlx::query_as(
        "INSERT INTO system_events (id, created_at, severity, code, message, bot_id, provider_id, trace_id, metadata, node_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING *",
    )
    .bind(Uuid::now_v7())
    .bind(at)
    .bind(event.severity.as_str())
    .bind(event.code)
    .bind(event.message)
    .bind(event.bot_id)
    .bind(event.provider_id)
    .bind(event.trace_id.as_str())
    .bind(event.metadata)
    .bind(event.node_id)
    .fetch_one(pool)
    .await
}

/// An event stamped with its id and time when it was made, so a batch written later keeps
/// the time of the action (the telemetry writer queues these).
#[derive(Debug, Clone)]
pub struct StampedSystemEvent {
    pub id: Uuid,
    pub created_at: DateTime<Utc>,
    pub event: NewSystemEvent,
}

impl NewSystemEvent {
    /// Stamps the event (UUID v7 id, time `at`).
    pub fn stamp(self, at: DateTime<Utc>) -> StampedSystemEvent {
        StampedSystemEvent {
            id: Uuid::now_v7(),
            created_at: at,
            event: self,
        }
    }
}

impl StampedSystemEvent {
    /// The row it becomes once written.
    pub fn to_row(&self) -> SystemEvent {
        let e = &self.event;
        SystemEvent {
            id: self.id,
            created_at: self.created_at,
            severity: e.severity,
            code: e.code.clone(),
            message: e.message.clone(),
            bot_id: e.bot_id,
            provider_id: e.provider_id.clone(),
            trace_id: e.trace_id.as_str().to_owned(),
            metadata: e.metadata.clone(),
            node_id: e.node_id.clone(),
        }
    }
}

/// Writes many events in one statement (arrays unnested server-side). Idempotent per id, so a
/// batch retried after a lost acknowledgement is not duplicated.
pub async fn insert_many(pool: &PgPool, events: &[StampedSystemEvent]) -> Result<u64, sqlx::Error> {
    if events.is_empty() {
        return Ok(0);
    }
    let n = events.len();
    let mut ids = Vec::with_capacity(n);
    let mut created = Vec::with_capacity(n);
    let mut severities = Vec::with_capacity(n);
    let mut codes = Vec::with_capacity(n);
    let mut messages = Vec::with_capacity(n);
    let mut bots = Vec::with_capacity(n);
    let mut providers = Vec::with_capacity(n);
    let mut traces = Vec::with_capacity(n);
    let mut metadata = Vec::with_capacity(n);
    let mut nodes = Vec::with_capacity(n);
    for s in events {
        ids.push(s.id);
        created.push(s.created_at);
        severities.push(s.event.severity.as_str());
        codes.push(s.event.code.as_str());
        messages.push(s.event.message.as_str());
        bots.push(s.event.bot_id);
        providers.push(s.event.provider_id.as_deref());
        traces.push(s.event.trace_id.as_str());
        metadata.push(&s.event.metadata);
        nodes.push(s.event.node_id.as_deref());
    }
    let done = sqlx::query(
        "INSERT INTO system_events \
         (id, created_at, severity, code, message, bot_id, provider_id, trace_id, metadata, node_id) \
         SELECT * FROM UNNEST($1::uuid[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], \
                              $6::uuid[], $7::text[], $8::text[], $9::jsonb[], $10::text[]) \
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(ids)
    .bind(created)
    .bind(severities)
    .bind(codes)
    .bind(messages)
    .bind(bots)
    .bind(providers)
    .bind(traces)
    .bind(metadata)
    .bind(nodes)
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

#[derive(Debug, Default, Clone)]
pub struct EventFilter {
    pub severity: Option<Severity>,
    pub code: Option<String>,
    pub bot_id: Option<Uuid>,
    pub provider_id: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

/// Newest first; `after` continues from a previous page's cursor.
pub async fn list(
    pool: &PgPool,
    filter: &EventFilter,
    after: Option<Cursor>,
    limit: i64,
) -> Result<Page<SystemEvent>, sqlx::Error> {
    let mut q = QueryBuilder::<Postgres>::new("SELECT * FROM system_events WHERE true");
    if let Some(severity) = filter.severity {
        q.push(" AND severity = ").push_bind(severity.as_str());
    }
    if let Some(code) = &filter.code {
        q.push(" AND code = ").push_bind(code.clone());
    }
    if let Some(bot_id) = filter.bot_id {
        q.push(" AND bot_id = ").push_bind(bot_id);
    }
    if let Some(provider_id) = &filter.provider_id {
        q.push(" AND provider_id = ").push_bind(provider_id.clone());
    }
    push_window(
        &mut q,
        TimeRange {
            from: filter.from,
            to: filter.to,
        },
        after,
        limit,
    );
    let rows: Vec<SystemEvent> = q.build_query_as().fetch_all(pool).await?;
    Ok(Page::from_rows(rows, limit, |e| Cursor {
        created_at: e.created_at,
        id: e.id,
    }))
}
