//! The needs-attention queue (issue 20 part 2): "does anything need me?" answered as one ordered
//! list. The runtime gathers [`Fact`]s (bots KILLED, SUSPENDED or ERROR, open breakers, failing
//! providers, unowned bots, failed jobs, and the system status's own blockers); [`queue`] turns
//! them into [`AttentionItem`]s, each with its severity, since when, subject, message, fix and
//! the web route that shows it, ordered by severity and then age (oldest first).
//!
//! The rules:
//! - KILLED holding a position or a working order: SEV-1 `KILLED_WITH_EXPOSURE` (SEV-2 once an
//!   admin acknowledged it); KILLED and flat: SEV-2 `BOT_KILLED` (it needs a human re-arm).
//! - SUSPENDED (running, gated): SEV-2. By stale or missing data: `DATA_STALE` /
//!   `DATA_UNAVAILABLE`; otherwise `BOT_SUSPENDED` naming the gates. Suspended by the market
//!   calendar alone (`MARKET_CLOSED`) needs nobody: not in the queue.
//! - ERROR (restart refused, failed for good): SEV-2 `BOT_FAILED`, SEV-1 for a LIVE bot.
//! - An OPEN breaker: SEV-2 `CIRCUIT_BREAKER_OPEN` (SEV-1 on a LIVE bot); a provider failing
//!   without an open breaker (most recent calls failed, or HALF_OPEN): SEV-2 `PROVIDER_FAILING`.
//! - A bot that should run and that no node has owned for longer than the lease TTL (counted
//!   from this node's start at the earliest): SEV-1 `BOT_UNOWNED`.
//! - A position on a contract past its roll (the contract of the bot's last fill's order is no
//!   longer the front one: its roll exit has not gone through): SEV-2 `POSITION_PAST_ROLL`,
//!   SEV-1 for a LIVE bot (real exposure in a contract heading for expiry).
//! - A job FAILED or TIMEOUT in the last 24 hours: SEV-3 `JOB_FAILED`.
//! - The system status's other blockers keep their own code and severity.
//!
//! Pure: time is passed in.

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use super::{contracts::Contract, instruments::Symbol};
use crate::error_code::ErrorCode;

/// How long a failed job stays in the queue.
pub const FAILED_JOB_WINDOW: Duration = Duration::hours(24);

/// How urgent an item is; the queue is ordered by it first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Blocks trading on its own or leaves exposure unmanaged.
    Sev1,
    /// Degrades trading or stops one bot.
    Sev2,
    /// Worth a look; trading is not affected.
    Sev3,
}

impl Severity {
    pub const fn as_str(self) -> &'static str {
        match self {
            Severity::Sev1 => "SEV-1",
            Severity::Sev2 => "SEV-2",
            Severity::Sev3 => "SEV-3",
        }
    }
}

/// A bot as the queue names it: by name, with its id for links.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BotRef {
    pub id: Uuid,
    pub name: String,
}

/// What an item is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    Bot(BotRef),
    Provider(String),
    Job {
        id: Uuid,
        kind: String,
        bot: Option<BotRef>,
    },
    /// The whole system (the system status's own blockers).
    System,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KilledFact {
    pub bot: BotRef,
    /// When the bot became KILLED (its last status change).
    pub since: DateTime<Utc>,
    pub contracts_held: i64,
    pub working_orders: i64,
    /// Who acknowledged the exposure, if anyone.
    pub acknowledged_by: Option<String>,
    /// Why it was killed (the trigger or the operator's reason), when known.
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuspendedFact {
    pub bot: BotRef,
    pub since: DateTime<Utc>,
    /// The gate codes of its latest no-trade evaluation (empty: none recorded).
    pub blocked_codes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedBotFact {
    pub bot: BotRef,
    pub since: DateTime<Utc>,
    pub live: bool,
    pub last_error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BreakerFact {
    /// `Bot` or `Provider`.
    pub subject: Subject,
    /// The breaker's scope (`bot:<id>`, `provider:<id>`).
    pub scope: String,
    pub opened_at: Option<DateTime<Utc>>,
    /// A LIVE bot's breaker (SEV-1).
    pub live: bool,
    /// The other node it is open on (`None`: this node's own).
    pub node: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderFact {
    pub provider_id: String,
    /// `HALF_OPEN`, `CLOSED`: the breaker's state (an OPEN one is a [`BreakerFact`]).
    pub breaker_state: &'static str,
    pub recent_calls: usize,
    pub recent_ok: usize,
    pub last_error_code: Option<String>,
    pub last_error_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnownedFact {
    pub bot: BotRef,
    /// The status it should run in (`RUNNING`, …).
    pub status: String,
    /// Its last lease's expiry or release, or its last status change when never leased.
    pub since: DateTime<Utc>,
    /// This node's start: before it, nobody here could have claimed the bot.
    pub node_started_at: DateTime<Utc>,
    pub lease_ttl: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldPositionFact {
    pub bot: BotRef,
    pub live: bool,
    pub symbol: Symbol,
    /// Contracts held (signed), never 0.
    pub quantity: i64,
    /// When the bot's last fill's order was decided: the contract it holds is the front one
    /// then (`None`: no fill to tell, not judged).
    pub last_decided_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobFact {
    pub id: Uuid,
    pub kind: String,
    /// `FAILED` or `TIMEOUT`.
    pub status: String,
    pub finished_at: DateTime<Utc>,
    pub error_code: Option<String>,
    pub error: Option<String>,
    pub bot: Option<BotRef>,
}

/// A blocker of the system status that no fact above covers (scheduler, kill switch, data,
/// broker, AI, telemetry, database).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SystemFact {
    pub code: ErrorCode,
    pub severity: Severity,
    pub message: String,
    pub fix: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fact {
    Killed(KilledFact),
    Suspended(SuspendedFact),
    Failed(FailedBotFact),
    BreakerOpen(BreakerFact),
    ProviderFailing(ProviderFact),
    Unowned(UnownedFact),
    HeldPosition(HeldPositionFact),
    JobFailed(JobFact),
    System(SystemFact),
}

/// The system status blockers the facts above already cover (per bot or per breaker), so the
/// queue does not list them twice.
pub const COVERED_BY_FACTS: [ErrorCode; 4] = [
    ErrorCode::KilledWithExposure,
    ErrorCode::BotKilled,
    ErrorCode::BotUnowned,
    ErrorCode::CircuitBreakerOpen,
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttentionItem {
    pub code: ErrorCode,
    pub severity: Severity,
    /// Since when it holds (`None`: a current condition with no known start).
    pub since: Option<DateTime<Utc>>,
    pub subject: Subject,
    pub message: String,
    pub fix: String,
    /// The web route that shows the subject (`/bots/<id>`, `/connections`, `/jobs`, …).
    pub link: String,
}

fn bot_link(bot: &BotRef) -> String {
    format!("/bots/{}", bot.id)
}

/// `2 contract(s) and 1 working order(s)`.
fn exposure(contracts: i64, orders: i64) -> String {
    format!("{contracts} contract(s) and {orders} working order(s)")
}

fn killed(f: KilledFact) -> AttentionItem {
    let held = f.contracts_held != 0 || f.working_orders != 0;
    let why = f
        .reason
        .as_deref()
        .map_or_else(String::new, |r| format!(" ({r})"));
    let (code, severity, message) = match (held, &f.acknowledged_by) {
        (true, None) => (
            ErrorCode::KilledWithExposure,
            Severity::Sev1,
            format!(
                "{} is KILLED{why} and still holds {}: nobody manages that exposure.",
                f.bot.name,
                exposure(f.contracts_held, f.working_orders)
            ),
        ),
        (true, Some(by)) => (
            ErrorCode::KilledWithExposure,
            Severity::Sev2,
            format!(
                "{} is KILLED{why} and still holds {}; {by} acknowledged it.",
                f.bot.name,
                exposure(f.contracts_held, f.working_orders)
            ),
        ),
        (false, _) => (
            ErrorCode::BotKilled,
            Severity::Sev2,
            format!(
                "{} is KILLED{why} and flat; it trades again only after a human re-arm.",
                f.bot.name
            ),
        ),
    };
    AttentionItem {
        code,
        severity,
        since: Some(f.since),
        link: bot_link(&f.bot),
        subject: Subject::Bot(f.bot),
        message,
        fix: code.suggested_fix().to_owned(),
    }
}

fn suspended(f: SuspendedFact) -> Option<AttentionItem> {
    let has = |c: ErrorCode| f.blocked_codes.iter().any(|x| x == c.as_str());
    let only_calendar = !f.blocked_codes.is_empty()
        && f.blocked_codes
            .iter()
            .all(|c| c == ErrorCode::MarketClosed.as_str());
    if only_calendar {
        return None;
    }
    let gates = if f.blocked_codes.is_empty() {
        "no blocked evaluation recorded yet".to_owned()
    } else {
        f.blocked_codes.join(", ")
    };
    let (code, message) = if has(ErrorCode::DataStale) || has(ErrorCode::DataUnavailable) {
        let code = if has(ErrorCode::DataStale) {
            ErrorCode::DataStale
        } else {
            ErrorCode::DataUnavailable
        };
        (
            code,
            format!(
                "{} is SUSPENDED: its market data is stale or missing ({gates}).",
                f.bot.name
            ),
        )
    } else {
        (
            ErrorCode::BotSuspended,
            format!(
                "{} is SUSPENDED: its evaluations are blocked ({gates}).",
                f.bot.name
            ),
        )
    };
    Some(AttentionItem {
        code,
        severity: Severity::Sev2,
        since: Some(f.since),
        link: bot_link(&f.bot),
        subject: Subject::Bot(f.bot),
        message,
        fix: code.suggested_fix().to_owned(),
    })
}

fn failed(f: FailedBotFact) -> AttentionItem {
    let why = f
        .last_error
        .as_deref()
        .map_or_else(String::new, |e| format!(": {e}"));
    AttentionItem {
        code: ErrorCode::BotFailed,
        severity: if f.live {
            Severity::Sev1
        } else {
            Severity::Sev2
        },
        since: Some(f.since),
        link: bot_link(&f.bot),
        message: format!(
            "{}{} is in ERROR and not running{why}.",
            if f.live { "LIVE bot " } else { "" },
            f.bot.name
        ),
        subject: Subject::Bot(f.bot),
        fix: ErrorCode::BotFailed.suggested_fix().to_owned(),
    }
}

fn breaker(f: BreakerFact) -> AttentionItem {
    let (link, whose) = match &f.subject {
        Subject::Bot(bot) => (bot_link(bot), format!("bot {}'s runner", bot.name)),
        Subject::Provider(id) => ("/connections".to_owned(), format!("provider {id}")),
        Subject::Job { .. } | Subject::System => ("/".to_owned(), f.scope.clone()),
    };
    AttentionItem {
        code: ErrorCode::CircuitBreakerOpen,
        severity: if f.live {
            Severity::Sev1
        } else {
            Severity::Sev2
        },
        since: f.opened_at,
        link,
        message: format!(
            "The circuit breaker of {whose} is OPEN{}{}: its calls are refused.",
            f.node
                .as_ref()
                .map(|n| format!(" on node {n}"))
                .unwrap_or_default(),
            if f.live { " on a LIVE bot" } else { "" }
        ),
        subject: f.subject,
        fix: f.node.map_or_else(
            || ErrorCode::CircuitBreakerOpen.suggested_fix().to_owned(),
            |n| other_node_breaker_fix(&n),
        ),
    }
}

/// The fix of a breaker open on another node: each node's breakers are its own, so it is seen
/// and reset through that node.
pub fn other_node_breaker_fix(node: &str) -> String {
    format!(
        "Find the cause in the system events of node {node}; the breaker half-opens after its cool-down, or an operator resets it through node {node} (each node's breakers are its own)."
    )
}

fn provider_failing(f: ProviderFact) -> AttentionItem {
    let mut message = format!("{} is failing: breaker {}", f.provider_id, f.breaker_state);
    if f.recent_calls > 0 {
        message.push_str(&format!(
            ", {}/{} calls ok in 15 min",
            f.recent_ok, f.recent_calls
        ));
    }
    if let Some(code) = &f.last_error_code {
        message.push_str(&format!(", last error {code}"));
    }
    message.push('.');
    AttentionItem {
        code: ErrorCode::ProviderFailing,
        severity: Severity::Sev2,
        since: f.last_error_at,
        link: "/connections".to_owned(),
        subject: Subject::Provider(f.provider_id),
        message,
        fix: ErrorCode::ProviderFailing.suggested_fix().to_owned(),
    }
}

fn unowned(f: UnownedFact, now: DateTime<Utc>) -> Option<AttentionItem> {
    let from = f.since.max(f.node_started_at);
    let unowned_for = now - from;
    if unowned_for <= f.lease_ttl {
        return None;
    }
    let secs = |d: Duration| d.num_milliseconds() as f64 / 1000.0;
    Some(AttentionItem {
        code: ErrorCode::BotUnowned,
        severity: Severity::Sev1,
        since: Some(from),
        link: "/nodes".to_owned(),
        message: format!(
            "{} is {} but no node has owned it for {:.1} s (lease TTL {:.1} s): nobody evaluates it or manages its exposure.",
            f.bot.name,
            f.status,
            secs(unowned_for),
            secs(f.lease_ttl)
        ),
        subject: Subject::Bot(f.bot),
        fix: ErrorCode::BotUnowned.suggested_fix().to_owned(),
    })
}

fn past_roll(f: HeldPositionFact, now: DateTime<Utc>) -> Option<AttentionItem> {
    let held = Contract::front_at(f.symbol, f.last_decided_at?);
    let front = Contract::front_at(f.symbol, now);
    if held == front || f.quantity == 0 {
        return None;
    }
    Some(AttentionItem {
        code: ErrorCode::PositionPastRoll,
        severity: if f.live {
            Severity::Sev1
        } else {
            Severity::Sev2
        },
        since: Some(held.rolls_at()),
        link: bot_link(&f.bot),
        message: format!(
            "{} holds {} {} past its roll to {} (last trade day {}): its roll exit has not gone through.",
            f.bot.name,
            f.quantity,
            held.code(),
            front.code(),
            held.last_trade_date()
        ),
        subject: Subject::Bot(f.bot),
        fix: ErrorCode::PositionPastRoll.suggested_fix().to_owned(),
    })
}

fn job_failed(f: JobFact, now: DateTime<Utc>) -> Option<AttentionItem> {
    if now - f.finished_at > FAILED_JOB_WINDOW {
        return None;
    }
    let mut message = format!("{} job {} ended {}", f.kind, f.id, f.status);
    if let Some(bot) = &f.bot {
        message = format!("{message} (bot {})", bot.name);
    }
    match (&f.error_code, &f.error) {
        (Some(code), Some(error)) => message.push_str(&format!(": {code}: {error}")),
        (Some(code), None) => message.push_str(&format!(": {code}")),
        (None, Some(error)) => message.push_str(&format!(": {error}")),
        (None, None) => {}
    }
    message.push('.');
    Some(AttentionItem {
        code: ErrorCode::JobFailed,
        severity: Severity::Sev3,
        since: Some(f.finished_at),
        link: format!("/jobs?status={}", f.status),
        subject: Subject::Job {
            id: f.id,
            kind: f.kind,
            bot: f.bot,
        },
        message,
        fix: ErrorCode::JobFailed.suggested_fix().to_owned(),
    })
}

/// The web route of a system blocker's code.
fn system_link(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::DataUnavailable
        | ErrorCode::DataStale
        | ErrorCode::ExecutionBrokerUnavailable
        | ErrorCode::IntegrationKeyMissing => "/connections",
        ErrorCode::AiProviderUnavailable | ErrorCode::AiBudgetExceeded => "/ai-ops",
        ErrorCode::TelemetryDegraded => "/proof-of-use",
        ErrorCode::BotUnowned => "/nodes",
        ErrorCode::ReconciliationMismatch | ErrorCode::AccountDailyLossLatched => "/reconciliation",
        _ => "/",
    }
}

/// The queue: one item per fact that needs a human, SEV-1 first, then by age (oldest first;
/// items with no known start after dated ones), then by message so the order is stable.
pub fn queue(facts: Vec<Fact>, now: DateTime<Utc>) -> Vec<AttentionItem> {
    let mut items: Vec<AttentionItem> = facts
        .into_iter()
        .filter_map(|fact| match fact {
            Fact::Killed(f) => Some(killed(f)),
            Fact::Suspended(f) => suspended(f),
            Fact::Failed(f) => Some(failed(f)),
            Fact::BreakerOpen(f) => Some(breaker(f)),
            Fact::ProviderFailing(f) => Some(provider_failing(f)),
            Fact::Unowned(f) => unowned(f, now),
            Fact::HeldPosition(f) => past_roll(f, now),
            Fact::JobFailed(f) => job_failed(f, now),
            Fact::System(f) if COVERED_BY_FACTS.contains(&f.code) => None,
            Fact::System(f) => Some(AttentionItem {
                code: f.code,
                severity: f.severity,
                since: None,
                subject: Subject::System,
                link: system_link(f.code).to_owned(),
                message: f.message,
                fix: f.fix,
            }),
        })
        .collect();
    items.sort_by(|a, b| {
        a.severity
            .cmp(&b.severity)
            .then_with(|| match (a.since, b.since) {
                (Some(x), Some(y)) => x.cmp(&y),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => std::cmp::Ordering::Equal,
            })
            .then_with(|| a.message.cmp(&b.message))
    });
    items
}

#[cfg(test)]
#[path = "attention_tests.rs"]
mod tests;
