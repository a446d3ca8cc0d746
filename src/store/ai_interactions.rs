//! `ai_interactions`: each AI action's prompt and answer (both truncated), for audit.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

/// Longest prompt and answer kept.
pub const PROMPT_CAP: usize = 8_000;
pub const ANSWER_CAP: usize = 4_000;

#[derive(Debug, Clone)]
pub struct NewAiInteraction {
    pub action: &'static str,
    pub bot_id: Option<Uuid>,
    /// `OK` or `REFUSED`.
    pub status: &'static str,
    pub provider_id: Option<String>,
    pub model: Option<String>,
    pub error_code: Option<String>,
    /// Already truncated to [`PROMPT_CAP`].
    pub prompt: String,
    /// Already truncated to [`ANSWER_CAP`].
    pub answer: Option<String>,
    pub cited_trace_ids: Vec<String>,
    pub attempts: Value,
    pub input_tokens: Option<i64>,
    pub output_tokens: Option<i64>,
    pub cost_usd: Option<Decimal>,
    pub trace_id: String,
}

/// What an interaction was about when it is not (only) a bot: a backtest or a sweep, with
/// the findings computed without the LLM.
#[derive(Debug, Clone)]
pub struct AiSubject<'a> {
    /// `backtest` or `sweep`.
    pub kind: &'static str,
    pub id: Uuid,
    pub findings: &'a Value,
}

/// Stores one interaction; returns its id.
pub async fn insert(
    pool: &PgPool,
    row: &NewAiInteraction,
    at: DateTime<Utc>,
) -> Result<Uuid, sqlx::Error> {
    insert_about(pool, row, None, at).await
}

/// [`insert`] with the subject it was about.
pub async fn insert_about(
    pool: &PgPool,
    row: &NewAiInteraction,
    subject: Option<AiSubject<'_>>,
    at: DateTime<Utc>,
) -> Result<Uuid, sqlx::Error> {
    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO ai_interactions (id, created_at, action, bot_id, status, provider_id, model, \
         error_code, prompt, answer, cited_trace_ids, attempts, input_tokens, output_tokens, \
         cost_usd, trace_id, subject_kind, subject_id, findings) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)",
    )
    .bind(id)
    .bind(at)
    .bind(row.action)
    .bind(row.bot_id)
    .bind(row.status)
    .bind(&row.provider_id)
    .bind(&row.model)
    .bind(&row.error_code)
    .bind(&row.prompt)
    .bind(&row.answer)
    .bind(serde_json::json!(row.cited_trace_ids))
    .bind(&row.attempts)
    .bind(row.input_tokens)
    .bind(row.output_tokens)
    .bind(row.cost_usd)
    .bind(&row.trace_id)
    .bind(subject.as_ref().map(|s| s.kind))
    .bind(subject.as_ref().map(|s| s.id))
    .bind(subject.as_ref().map(|s| s.findings))
    .execute(pool)
    .await?;
    Ok(id)
}
