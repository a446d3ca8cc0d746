//! `audit_log`: who did what to which target, with the trace id and the outcome. Written for
//! every authentication event and every privileged action; read by admins.

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
#[schema(as = AuditOutcome)]
pub enum Outcome {
    Success,
    Denied,
    Failed,
}

impl Outcome {
    pub const ALL: [Outcome; 3] = [Outcome::Success, Outcome::Denied, Outcome::Failed];

    pub const fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "SUCCESS",
            Outcome::Denied => "DENIED",
            Outcome::Failed => "FAILED",
        }
    }
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, ToSchema)]
pub struct AuditEntry {
    pub id: Uuid,
    pub created_at: DateTime<Utc>,
    pub actor_user_id: Option<Uuid>,
    pub actor_token_id: Option<Uuid>,
    /// An email, `service-token:<name>`, `cli` or `anonymous`.
    pub actor: String,
    /// e.g. `auth.login`, `users.update`, `system.trading_switch`.
    pub action: String,
    pub target: Option<String>,
    pub outcome: Outcome,
    pub trace_id: String,
    pub ip: Option<String>,
    pub metadata: Value,
}

/// Who acted.
#[derive(Debug, Clone)]
pub struct Actor {
    pub user_id: Option<Uuid>,
    pub token_id: Option<Uuid>,
    pub label: String,
}

impl Actor {
    pub fn user(id: Uuid, email: &str) -> Self {
        Actor {
            user_id: Some(id),
            token_id: None,
            label: email.to_owned(),
        }
    }

    pub fn anonymous() -> Self {
        Actor {
            user_id: None,
            token_id: None,
            label: "anonymous".to_owned(),
        }
    }

    pub fn labelled(label: impl Into<String>) -> Self {
        Actor {
            user_id: None,
            token_id: None,
            label: label.into(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct NewAuditEntry {
    pub actor: Actor,
    pub action: &'static str,
    pub target: Option<String>,
    pub outcome: Outcome,
    pub ip: Option<String>,
    pub metadata: Value,
    pub at: DateTime<Utc>,
}

impl NewAuditEntry {
    pub fn new(actor: Actor, action: &'static str, outcome: Outcome, at: DateTime<Utc>) -> Self {
        NewAuditEntry {
            actor,
            action,
            target: None,
            outcome,
            ip: None,
            metadata: Value::Object(Default::default()),
            at,
        }
    }

    pub fn target(mut self, target: impl Into<String>) -> Self {
        self.target = Some(target.into());
        self
    }

    pub fn ip(mut self, ip: Option<String>) -> Self {
        self.ip = ip;
        self
    }

    pub fn metadata(mut self, metadata: Value) -> Self {
        self.metadata = metadata;
        self
    }
}

/// Records an entry under the current request's trace id.
pub async fn insert(pool: &PgPool, entry: NewAuditEntry) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO audit_log (id, created_at, actor_user_id, actor_token_id, actor, action, target, outcome, trace_id, ip, metadata) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(Uuid::now_v7())
    .bind(entry.at)
    .bind(entry.actor.user_id)
    .bind(entry.actor.token_id)
    .bind(entry.actor.label)
    .bind(entry.action)
    .bind(entry.target)
    .bind(entry.outcome.as_str())
    .bind(TraceId::current().as_str())
    .bind(entry.ip)
    .bind(entry.metadata)
    .execute(pool)
    .await?;
    Ok(())
}

#[derive(Debug, Default, Clone)]
pub struct AuditFilter {
    pub actor_user_id: Option<Uuid>,
    pub action: Option<String>,
    pub outcome: Option<Outcome>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

pub async fn list(
    pool: &PgPool,
    filter: &AuditFilter,
    after: Option<Cursor>,
    limit: i64,
) -> Result<Page<AuditEntry>, sqlx::Error> {
    let mut q = QueryBuilder::<Postgres>::new("SELECT * FROM audit_log WHERE true");
    if let Some(user) = filter.actor_user_id {
        q.push(" AND actor_user_id = ").push_bind(user);
    }
    if let Some(action) = &filter.action {
        q.push(" AND action = ").push_bind(action.clone());
    }
    if let Some(outcome) = filter.outcome {
        q.push(" AND outcome = ").push_bind(outcome.as_str());
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
    let rows: Vec<AuditEntry> = q.build_query_as().fetch_all(pool).await?;
    Ok(Page::from_rows(rows, limit, |e| Cursor {
        created_at: e.created_at,
        id: e.id,
    }))
}
