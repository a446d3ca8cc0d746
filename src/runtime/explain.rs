//! Explain (an AI action): a plain-language account of why a bot is or isn't trading, built
//! only from its recent traces, events and trades (`domain::explain`), answered by the first
//! LLM in the operator's order that can ([`RuntimeHandle::generate`]). Every secret value the
//! process holds is redacted from the prompt before it leaves; the prompt and the answer (or
//! the refusal) are stored, truncated, in `ai_interactions`.
//!
//! Refuses alone: no usable LLM is `AI_PROVIDER_UNAVAILABLE`, a spent budget
//! `AI_BUDGET_EXCEEDED`; nothing else about the bot changes.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use sqlx::PgPool;
use utoipa::ToSchema;
use uuid::Uuid;

use super::RuntimeHandle;
use super::ai::{AiAttempt, AiError};
use crate::domain::explain::{
    BotFacts, Citation, EventFact, ExplainFacts, TraceFact, TraceKind, TradeFact, citations,
    explain_prompt, truncate,
};
use crate::integrations::http::CallContext;
use crate::store::{
    ai_interactions::{self, ANSWER_CAP, NewAiInteraction, PROMPT_CAP},
    bots,
    page::TimeRange,
    system_events, traces, trades,
};
use crate::trace::TraceId;

/// How many of each kind of record the prompt draws on.
const RECENT: i64 = 10;

/// Explain's answer.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Explanation {
    pub bot_id: Uuid,
    pub text: String,
    pub provider_id: String,
    pub model: String,
    /// The trace ids (W3C, 32 hex) of the records the prompt was built from (offered for
    /// citing).
    pub cited_trace_ids: Vec<String>,
    /// The trace ids the answer actually cites, each verified to be one of those records (a
    /// decision or no-trade trace, or an event of the bot), in the order the answer names them.
    pub citations: Vec<Citation>,
    /// 32-hex ids the answer names that are not among the records (never linked).
    pub unverified_citations: Vec<String>,
    pub traces_used: usize,
    pub events_used: usize,
    pub trades_used: usize,
    /// Every provider tried, in order (a failover shows here).
    pub attempts: Vec<AiAttempt>,
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// USD; null when the model has no price in the price table.
    #[schema(value_type = Option<String>)]
    pub cost_usd: Option<Decimal>,
    /// The stored audit row (`ai_interactions.id`).
    pub interaction_id: Uuid,
    pub generated_at: DateTime<Utc>,
}

#[derive(Debug, thiserror::Error)]
pub enum ExplainError {
    #[error("bot {0} not found")]
    BotNotFound(Uuid),
    #[error("{0}")]
    Ai(AiError),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// The bot's recent records as the prompt's facts.
async fn facts(
    pool: &PgPool,
    bot: &bots::Bot,
    now: DateTime<Utc>,
) -> Result<ExplainFacts, sqlx::Error> {
    let all = TimeRange {
        from: None,
        to: None,
    };
    let decisions = traces::decision_page(pool, bot.id, all, None, RECENT).await?;
    let no_trades = traces::no_trade_page(pool, bot.id, all, None, RECENT).await?;
    let mut trace_facts: Vec<TraceFact> = decisions
        .items
        .into_iter()
        .map(|t| TraceFact {
            kind: TraceKind::Decision,
            record_id: t.id.to_string(),
            trace_id: t.trace_id,
            at: t.created_at,
            reason_code: t.reason_code,
            reason_human: t.reason_human,
            blocked_by: Vec::new(),
            count: 1,
        })
        .chain(no_trades.items.into_iter().map(|t| {
            TraceFact {
                kind: TraceKind::NoTrade,
                record_id: t.id.to_string(),
                blocked_by: traces::blocked_codes(&t.blocked_by)
                    .into_iter()
                    .map(str::to_owned)
                    .collect(),
                trace_id: t.trace_id,
                at: t.last_seen_at,
                reason_code: t.reason_code,
                reason_human: t.reason_human,
                count: t.count,
            }
        }))
        .collect();
    trace_facts.sort_by_key(|t| std::cmp::Reverse(t.at));
    trace_facts.truncate(usize::try_from(RECENT).unwrap_or(10));
    let filter = system_events::EventFilter {
        bot_id: Some(bot.id),
        ..Default::default()
    };
    let events = system_events::list(pool, &filter, None, RECENT)
        .await?
        .items
        .into_iter()
        .map(|e| EventFact {
            record_id: e.id.to_string(),
            trace_id: e.trace_id,
            at: e.created_at,
            severity: e.severity.as_str().to_owned(),
            code: e.code,
            message: e.message,
        })
        .collect();
    let trades = trades::page(pool, bot.id, all, None, 5)
        .await?
        .items
        .into_iter()
        .map(|t| TradeFact {
            opened_at: t.opened_at,
            closed_at: t.closed_at,
            side: t.side.as_str().to_owned(),
            quantity: t.quantity,
            realized_pnl: t.realized_pnl.map(|p| p - t.commission),
        })
        .collect();
    let strategy = bot
        .strategy
        .get("kind")
        .and_then(|k| k.as_str())
        .unwrap_or("unknown")
        .to_owned();
    Ok(ExplainFacts {
        bot: BotFacts {
            name: bot.name.clone(),
            symbol: bot.symbol.as_str().to_owned(),
            timeframe: bot.timeframe.as_str().to_owned(),
            stage: bot.stage.as_str().to_owned(),
            status: bot.status.as_str().to_owned(),
            strategy,
            trading_enabled: bot.is_trading_enabled,
        },
        traces: trace_facts,
        events,
        trades,
        now,
    })
}

impl RuntimeHandle {
    /// Explains `bot_id` from its records through the operator's LLM order.
    pub async fn explain_bot(
        &self,
        pool: &PgPool,
        bot_id: Uuid,
    ) -> Result<Explanation, ExplainError> {
        let bot = bots::get(pool, bot_id)
            .await?
            .ok_or(ExplainError::BotNotFound(bot_id))?;
        let now = self.clock().now();
        let facts = facts(pool, &bot, now).await?;
        let (mut prompt, cited) = explain_prompt(&facts);
        let redactor = self.integrations().redactor();
        prompt.system = redactor.redact(&prompt.system);
        prompt.user = redactor.redact(&prompt.user);
        let stored_prompt = truncate(
            &format!("[system]\n{}\n[user]\n{}", prompt.system, prompt.user),
            PROMPT_CAP,
        );
        let ctx = CallContext {
            bot_id: Some(bot_id),
            run_id: None,
        };
        let trace_id = TraceId::current().to_string();
        match self.generate("explain", prompt, ctx).await {
            Ok(answer) => {
                let c = &answer.completion;
                let (used, unverified) = citations(&c.text, &facts);
                let row = NewAiInteraction {
                    action: "explain",
                    bot_id: Some(bot_id),
                    status: "OK",
                    provider_id: Some(c.provider_id.to_owned()),
                    model: Some(c.model.clone()),
                    error_code: None,
                    prompt: stored_prompt,
                    answer: Some(truncate(&c.text, ANSWER_CAP)),
                    cited_trace_ids: used.iter().map(|u| u.trace_id.clone()).collect(),
                    attempts: serde_json::to_value(&answer.attempts).unwrap_or_default(),
                    input_tokens: i64::try_from(c.input_tokens).ok(),
                    output_tokens: i64::try_from(c.output_tokens).ok(),
                    cost_usd: c.cost,
                    trace_id,
                };
                let interaction_id = ai_interactions::insert(pool, &row, now).await?;
                Ok(Explanation {
                    bot_id,
                    text: c.text.clone(),
                    provider_id: c.provider_id.to_owned(),
                    model: c.model.clone(),
                    cited_trace_ids: cited,
                    citations: used,
                    unverified_citations: unverified,
                    traces_used: facts.traces.len(),
                    events_used: facts.events.len(),
                    trades_used: facts.trades.len(),
                    attempts: answer.attempts,
                    input_tokens: c.input_tokens,
                    output_tokens: c.output_tokens,
                    cost_usd: c.cost,
                    interaction_id,
                    generated_at: now,
                })
            }
            Err(err) => {
                let (code, attempts) = match &err {
                    AiError::Unavailable { attempts, .. } => ("AI_PROVIDER_UNAVAILABLE", attempts),
                    AiError::BudgetExceeded { attempts, .. } => ("AI_BUDGET_EXCEEDED", attempts),
                };
                let row = NewAiInteraction {
                    action: "explain",
                    bot_id: Some(bot_id),
                    status: "REFUSED",
                    provider_id: None,
                    model: None,
                    error_code: Some(code.to_owned()),
                    prompt: stored_prompt,
                    answer: None,
                    cited_trace_ids: Vec::new(),
                    attempts: serde_json::to_value(attempts).unwrap_or_default(),
                    input_tokens: None,
                    output_tokens: None,
                    cost_usd: None,
                    trace_id,
                };
                ai_interactions::insert(pool, &row, now).await?;
                Err(ExplainError::Ai(err))
            }
        }
    }
}
