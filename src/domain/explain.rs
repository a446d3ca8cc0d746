//! The Explain prompt, pure: a bot's recent records (its traces, the gates that blocked it, its
//! events and closed trades) become the only material an LLM sees, each line tagged with the
//! trace id it came from so the answer can cite them. Fields are copied one by one (codes,
//! short human reasons, times, numbers), never a record's free-form JSON, and each text is
//! capped, so nothing else rides along.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use utoipa::ToSchema;

use super::ai::Prompt;

/// Longest human text copied from one record.
const TEXT_CAP: usize = 240;

#[derive(Debug, Clone)]
pub struct BotFacts {
    pub name: String,
    pub symbol: String,
    pub timeframe: String,
    pub stage: String,
    pub status: String,
    pub strategy: String,
    pub trading_enabled: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TraceKind {
    Decision,
    NoTrade,
}

/// One decision or no-trade trace.
#[derive(Debug, Clone)]
pub struct TraceFact {
    pub kind: TraceKind,
    /// The trace row's id.
    pub record_id: String,
    pub trace_id: String,
    pub at: DateTime<Utc>,
    pub reason_code: String,
    pub reason_human: String,
    /// The gate codes that blocked (no-trade traces).
    pub blocked_by: Vec<String>,
    /// Consecutive identical suppressions folded into this row.
    pub count: i32,
}

#[derive(Debug, Clone)]
pub struct EventFact {
    /// The system event's id.
    pub record_id: String,
    pub trace_id: String,
    pub at: DateTime<Utc>,
    pub severity: String,
    pub code: String,
    pub message: String,
}

/// A round trip and its result.
#[derive(Debug, Clone)]
pub struct TradeFact {
    pub opened_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    pub side: String,
    pub quantity: i32,
    pub realized_pnl: Option<Decimal>,
}

#[derive(Debug, Clone)]
pub struct ExplainFacts {
    pub bot: BotFacts,
    /// Newest first.
    pub traces: Vec<TraceFact>,
    pub events: Vec<EventFact>,
    pub trades: Vec<TradeFact>,
    pub now: DateTime<Utc>,
}

/// The prompt, and the trace ids it offers (the ones an answer may cite), in order.
pub fn explain_prompt(f: &ExplainFacts) -> (Prompt, Vec<String>) {
    let system = "You explain an automated futures trading bot to its operator in plain language. \
        Use ONLY the records given; do not guess beyond them. Say whether the bot is trading \
        and why or why not, and what changed recently. Name the gates that blocked it. Cite \
        the trace ids (the [trace …] tags) you rely on. If the records do not say, say so. \
        Keep it under 200 words."
        .to_owned();
    let b = &f.bot;
    let mut user = format!(
        "Bot `{}`: {} {} bars, stage {}, status {}, strategy {}, trading {}.\nNow: {}.\n",
        clip(&b.name),
        b.symbol,
        b.timeframe,
        b.stage,
        b.status,
        b.strategy,
        if b.trading_enabled {
            "enabled"
        } else {
            "disabled"
        },
        f.now.to_rfc3339(),
    );
    let mut cited: Vec<String> = Vec::new();
    let mut cite = |id: &str| {
        if !id.is_empty() && !cited.iter().any(|c| c == id) {
            cited.push(id.to_owned());
        }
    };
    user.push_str("\nRecent evaluations (newest first):\n");
    if f.traces.is_empty() {
        user.push_str("- none recorded\n");
    }
    for t in &f.traces {
        cite(&t.trace_id);
        let line = match t.kind {
            TraceKind::Decision => format!(
                "- [trace {}] {} DECISION {}: {}\n",
                t.trace_id,
                t.at.to_rfc3339(),
                t.reason_code,
                clip(&t.reason_human)
            ),
            TraceKind::NoTrade => format!(
                "- [trace {}] {} NO TRADE{} {}: {}; blocked by: {}\n",
                t.trace_id,
                t.at.to_rfc3339(),
                if t.count > 1 {
                    format!(" (x{})", t.count)
                } else {
                    String::new()
                },
                t.reason_code,
                clip(&t.reason_human),
                if t.blocked_by.is_empty() {
                    "nothing listed".to_owned()
                } else {
                    t.blocked_by.join(", ")
                }
            ),
        };
        user.push_str(&line);
    }
    user.push_str("\nRecent events (newest first):\n");
    if f.events.is_empty() {
        user.push_str("- none recorded\n");
    }
    for e in &f.events {
        cite(&e.trace_id);
        user.push_str(&format!(
            "- [trace {}] {} {} {}: {}\n",
            e.trace_id,
            e.at.to_rfc3339(),
            e.severity,
            e.code,
            clip(&e.message)
        ));
    }
    user.push_str("\nRecent trades (newest first):\n");
    if f.trades.is_empty() {
        user.push_str("- none\n");
    }
    for t in &f.trades {
        user.push_str(&format!(
            "- opened {} {} x{}, {}\n",
            t.opened_at.to_rfc3339(),
            t.side,
            t.quantity,
            match (t.closed_at, t.realized_pnl) {
                (Some(at), Some(pnl)) => format!("closed {} realized {pnl} USD", at.to_rfc3339()),
                (Some(at), None) => format!("closed {}", at.to_rfc3339()),
                (None, _) => "still open".to_owned(),
            }
        ));
    }
    (Prompt { system, user }, cited)
}

/// What kind of record a citation points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CitedKind {
    Decision,
    NoTrade,
    Event,
}

/// A trace id the answer cited that is one of the records it was given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Citation {
    /// W3C trace id (32 hex).
    pub trace_id: String,
    pub kind: CitedKind,
    /// The trace row's or event's id.
    pub record_id: String,
    /// Its reason code (traces) or event code.
    pub code: String,
    pub at: DateTime<Utc>,
}

/// The trace ids (32 hex, any case) the answer names, in the order it names them, split
/// into the ones found among the records the prompt carried (verified [`Citation`]s) and the
/// ones that are not (an LLM's invention: never linked).
pub fn citations(answer: &str, f: &ExplainFacts) -> (Vec<Citation>, Vec<String>) {
    let mut seen: Vec<String> = Vec::new();
    for word in answer.split(|c: char| !c.is_ascii_hexdigit()) {
        if word.len() == 32 {
            let id = word.to_ascii_lowercase();
            if !seen.contains(&id) {
                seen.push(id);
            }
        }
    }
    let mut found = Vec::new();
    let mut unknown = Vec::new();
    for id in seen {
        let trace = f
            .traces
            .iter()
            .find(|t| t.trace_id.eq_ignore_ascii_case(&id));
        let event = f
            .events
            .iter()
            .find(|e| e.trace_id.eq_ignore_ascii_case(&id));
        match (trace, event) {
            (Some(t), _) => found.push(Citation {
                trace_id: t.trace_id.clone(),
                kind: match t.kind {
                    TraceKind::Decision => CitedKind::Decision,
                    TraceKind::NoTrade => CitedKind::NoTrade,
                },
                record_id: t.record_id.clone(),
                code: t.reason_code.clone(),
                at: t.at,
            }),
            (None, Some(e)) => found.push(Citation {
                trace_id: e.trace_id.clone(),
                kind: CitedKind::Event,
                record_id: e.record_id.clone(),
                code: e.code.clone(),
                at: e.at,
            }),
            (None, None) => unknown.push(id),
        }
    }
    (found, unknown)
}

/// One line, at most [`TEXT_CAP`] characters.
fn clip(text: &str) -> String {
    let one_line = text.replace(['\n', '\r'], " ");
    match one_line.char_indices().nth(TEXT_CAP) {
        Some((cut, _)) => format!("{}…", &one_line[..cut]),
        None => one_line,
    }
}

/// `text` cut to at most `max` characters (for audit storage).
pub fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…[truncated]", &text[..cut]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn the_prompt_carries_the_records_and_cites_their_trace_ids() {
        let facts = ExplainFacts {
            bot: BotFacts {
                name: "es-trend".into(),
                symbol: "ES".into(),
                timeframe: "1m".into(),
                stage: "PAPER".into(),
                status: "SUSPENDED".into(),
                strategy: "sma_crossover".into(),
                trading_enabled: true,
            },
            traces: vec![TraceFact {
                kind: TraceKind::NoTrade,
                record_id: "row-a".into(),
                trace_id: "a".repeat(32),
                at: at("2026-12-03T14:00:00Z"),
                reason_code: "MARKET_CLOSED".into(),
                reason_human: "closed\nfor the halt".into(),
                blocked_by: vec!["MARKET_CLOSED".into(), "DATA_STALE".into()],
                count: 3,
            }],
            events: vec![EventFact {
                record_id: "event-b".into(),
                trace_id: "b".repeat(32),
                at: at("2026-12-03T13:00:00Z"),
                severity: "SEV-2".into(),
                code: "BOT_STARTED".into(),
                message: "x".repeat(1000),
            }],
            trades: vec![],
            now: at("2026-12-03T14:05:00Z"),
        };
        let (prompt, cited) = explain_prompt(&facts);
        assert_eq!(cited, vec!["a".repeat(32), "b".repeat(32)]);
        assert!(
            prompt
                .user
                .contains("blocked by: MARKET_CLOSED, DATA_STALE")
        );
        assert!(prompt.user.contains("(x3)"));
        assert!(prompt.user.contains("closed for the halt"));
        assert!(!prompt.user.contains(&"x".repeat(TEXT_CAP + 1)));
        assert!(prompt.user.contains("- none\n"));
        assert_eq!(truncate("abcdef", 3), "abc…[truncated]");
        assert_eq!(truncate("abc", 3), "abc");

        // Only the ids the answer names count, verified against the records; an invented one
        // is reported, never linked.
        let invented = "c".repeat(32);
        let answer = format!(
            "Blocked since {} ({}), see also {} and {}; {} again.",
            "B".repeat(32),
            "x",
            invented,
            "a".repeat(32),
            "b".repeat(32)
        );
        let (cited, unknown) = citations(&answer, &facts);
        assert_eq!(
            cited
                .iter()
                .map(|c| (c.kind, c.record_id.as_str()))
                .collect::<Vec<_>>(),
            vec![(CitedKind::Event, "event-b"), (CitedKind::NoTrade, "row-a")]
        );
        assert_eq!(cited[0].code, "BOT_STARTED");
        assert_eq!(unknown, vec![invented]);
        let (none, _) = citations("Nothing recorded.", &facts);
        assert!(none.is_empty());
    }
}
