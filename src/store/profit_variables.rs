//! `profit_variables` (SPEC §6): the variables strategies use and the integration each comes from.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::{PgPool, Postgres, QueryBuilder};
use utoipa::ToSchema;
use uuid::Uuid;

use super::page::{Cursor, Page};

#[derive(Debug, Clone, Serialize, sqlx::FromRow, ToSchema)]
pub struct ProfitVariable {
    pub id: Uuid,
    pub name: String,
    pub category: String,
    pub source_integration: String,
    pub variable_type: String,
    /// `ACTIVE` or `DEPRECATED`.
    pub state: String,
    pub last_updated_at: DateTime<Utc>,
    pub used_by_bot_ids: Value,
    pub profit_contribution_estimate: Option<f64>,
    pub description: String,
    pub created_at: DateTime<Utc>,
}

pub async fn list(
    pool: &PgPool,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    after: Option<Cursor>,
    limit: i64,
) -> Result<Page<ProfitVariable>, sqlx::Error> {
    let mut q = QueryBuilder::<Postgres>::new("SELECT * FROM profit_variables WHERE true");
    if let Some(from) = from {
        q.push(" AND created_at >= ").push_bind(from);
    }
    if let Some(to) = to {
        q.push(" AND created_at < ").push_bind(to);
    }
    if let Some(c) = after {
        q.push(" AND (created_at, id) < (")
            .push_bind(c.created_at)
            .push(", ")
            .push_bind(c.id)
            .push(")");
    }
    q.push(" ORDER BY created_at DESC, id DESC LIMIT ")
        .push_bind(limit + 1);
    let rows: Vec<ProfitVariable> = q.build_query_as().fetch_all(pool).await?;
    Ok(Page::from_rows(rows, limit, |v| Cursor {
        created_at: v.created_at,
        id: v.id,
    }))
}
