//! `GET /api/attention` (issue 20 part 2): the needs-attention queue, one ordered list of what
//! needs a human now, each with its fix and the web route that shows it. The facts are gathered
//! by `runtime::attention`, the rules are `domain::attention`; this handler only shapes them.

use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    ApiOk, ApiResult, AppState,
    envelope::{Envelope, ErrorEnvelope},
};
use crate::{
    domain::attention::{AttentionItem, Severity as Urgency, Subject},
    error_code::ErrorCode,
    runtime::attention::attention,
    store::system_events::Severity,
    trace::TraceId,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(attention_queue))
}

#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SubjectKind {
    Bot,
    Provider,
    Job,
    System,
}

/// What an item is about.
#[derive(Debug, Serialize, ToSchema)]
pub struct AttentionSubject {
    pub kind: SubjectKind,
    /// The bot's id, the provider's id or the job's id; null for the system.
    pub id: Option<String>,
    /// The bot's name, the provider's id or the job's kind; null for the system.
    pub name: Option<String>,
    /// A job's bot, when it has one.
    pub bot_id: Option<String>,
    pub bot_name: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AttentionItemView {
    pub code: ErrorCode,
    /// `SEV-1`, `SEV-2` or `SEV-3`.
    pub severity: Severity,
    /// Since when it holds; null for a current condition with no known start.
    pub since: Option<DateTime<Utc>>,
    pub subject: AttentionSubject,
    pub message: String,
    pub fix: String,
    /// The web app's route that shows the subject (`/bots/<id>`, `/connections`, `/jobs`, …).
    pub link: String,
}

#[derive(Debug, Default, Serialize, ToSchema)]
pub struct AttentionCounts {
    pub sev1: usize,
    pub sev2: usize,
    pub sev3: usize,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AttentionBody {
    /// The server's time of this answer.
    pub as_of: DateTime<Utc>,
    /// SEV-1 first, then by age (oldest first). Empty: nothing needs a human now.
    pub items: Vec<AttentionItemView>,
    pub counts: AttentionCounts,
}

fn view(item: AttentionItem) -> AttentionItemView {
    let subject = match item.subject {
        Subject::Bot(bot) => AttentionSubject {
            kind: SubjectKind::Bot,
            id: Some(bot.id.to_string()),
            name: Some(bot.name),
            bot_id: None,
            bot_name: None,
        },
        Subject::Provider(id) => AttentionSubject {
            kind: SubjectKind::Provider,
            id: Some(id.clone()),
            name: Some(id),
            bot_id: None,
            bot_name: None,
        },
        Subject::Job { id, kind, bot } => AttentionSubject {
            kind: SubjectKind::Job,
            id: Some(id.to_string()),
            name: Some(kind),
            bot_id: bot.as_ref().map(|b| b.id.to_string()),
            bot_name: bot.map(|b| b.name),
        },
        Subject::System => AttentionSubject {
            kind: SubjectKind::System,
            id: None,
            name: None,
            bot_id: None,
            bot_name: None,
        },
    };
    AttentionItemView {
        code: item.code,
        severity: match item.severity {
            Urgency::Sev1 => Severity::Sev1,
            Urgency::Sev2 => Severity::Sev2,
            Urgency::Sev3 => Severity::Sev3,
        },
        since: item.since,
        subject,
        message: item.message,
        fix: item.fix,
        link: item.link,
    }
}

/// Does anything need me? Killed bots (SEV-1 while they hold exposure), suspended bots, stale
/// data, open breakers, failing providers, unowned bots, failed jobs of the last 24 h and the
/// system status's blockers, ordered by severity then age, each with its fix and link.
#[utoipa::path(
    get,
    path = "/api/attention",
    tag = "system",
    responses(
        (status = 200, body = Envelope<AttentionBody>),
        (status = 503, description = "`DATABASE_UNAVAILABLE`: what needs attention is unknown", body = ErrorEnvelope),
    )
)]
async fn attention_queue(State(state): State<AppState>) -> ApiResult<AttentionBody> {
    let trace = TraceId::current();
    let items = attention(&state.runtime, &state.pool, &trace).await?;
    let mut counts = AttentionCounts::default();
    for i in &items {
        match i.severity {
            Urgency::Sev1 => counts.sev1 += 1,
            Urgency::Sev2 => counts.sev2 += 1,
            Urgency::Sev3 => counts.sev3 += 1,
        }
    }
    Ok(ApiOk::new(AttentionBody {
        as_of: state.runtime.clock().now(),
        items: items.into_iter().map(view).collect(),
        counts,
    }))
}
