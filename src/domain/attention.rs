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
            "The circuit breaker of {whose} is OPEN{}: its calls are refused.",
            if f.live { " on a LIVE bot" } else { "" }
        ),
        subject: f.subject,
        fix: ErrorCode::CircuitBreakerOpen.suggested_fix().to_owned(),
    }
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
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(min: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 2, 15, 0, 0).unwrap() + Duration::minutes(min)
    }

    fn bot(name: &str) -> BotRef {
        BotRef {
            id: Uuid::now_v7(),
            name: name.to_owned(),
        }
    }

    fn killed_fact(name: &str, contracts: i64, orders: i64, ack: Option<&str>) -> Fact {
        Fact::Killed(KilledFact {
            bot: bot(name),
            since: t(0),
            contracts_held: contracts,
            working_orders: orders,
            acknowledged_by: ack.map(str::to_owned),
            reason: None,
        })
    }

    fn suspended_fact(name: &str, codes: &[&str], since: DateTime<Utc>) -> Fact {
        Fact::Suspended(SuspendedFact {
            bot: bot(name),
            since,
            blocked_codes: codes.iter().map(|c| (*c).to_owned()).collect(),
        })
    }

    #[test]
    fn nothing_is_an_empty_queue() {
        assert!(queue(vec![], t(0)).is_empty());
    }

    #[test]
    fn a_killed_bot_with_exposure_is_sev1_until_acknowledged_and_sev2_once_flat() {
        let q = queue(vec![killed_fact("alpha", -2, 0, None)], t(5));
        assert_eq!(q.len(), 1);
        assert_eq!(q[0].code, ErrorCode::KilledWithExposure);
        assert_eq!(q[0].severity, Severity::Sev1);
        assert!(
            q[0].message.starts_with("alpha is KILLED"),
            "{}",
            q[0].message
        );
        assert!(
            q[0].message
                .contains("-2 contract(s) and 0 working order(s)")
        );
        let Subject::Bot(b) = &q[0].subject else {
            panic!("subject {:?}", q[0].subject)
        };
        assert_eq!(q[0].link, format!("/bots/{}", b.id));
        assert_eq!(q[0].fix, ErrorCode::KilledWithExposure.suggested_fix());

        let q = queue(vec![killed_fact("alpha", 0, 1, Some("root@x"))], t(5));
        assert_eq!(
            (q[0].code, q[0].severity),
            (ErrorCode::KilledWithExposure, Severity::Sev2)
        );
        assert!(q[0].message.contains("root@x acknowledged it"));

        let q = queue(vec![killed_fact("alpha", 0, 0, None)], t(5));
        assert_eq!(
            (q[0].code, q[0].severity),
            (ErrorCode::BotKilled, Severity::Sev2)
        );
    }

    #[test]
    fn a_killed_item_says_why() {
        let q = queue(
            vec![Fact::Killed(KilledFact {
                bot: bot("alpha"),
                since: t(0),
                contracts_held: 1,
                working_orders: 0,
                acknowledged_by: None,
                reason: Some("daily loss 1650.00 USD breached the 1500.00 USD limit".into()),
            })],
            t(1),
        );
        assert_eq!(
            q[0].message,
            "alpha is KILLED (daily loss 1650.00 USD breached the 1500.00 USD limit) and still holds 1 contract(s) and 0 working order(s): nobody manages that exposure."
        );
    }

    #[test]
    fn suspension_by_the_calendar_alone_needs_nobody_stale_data_is_named() {
        let q = queue(
            vec![
                suspended_fact("closed", &["MARKET_CLOSED"], t(0)),
                suspended_fact("stale", &["DATA_STALE", "MARKET_CLOSED"], t(1)),
                suspended_fact("nodata", &["DATA_UNAVAILABLE"], t(2)),
                suspended_fact("tier", &["AUTONOMY_TIER_INSUFFICIENT"], t(3)),
                suspended_fact("unknown", &[], t(4)),
            ],
            t(10),
        );
        let got: Vec<_> = q.iter().map(|i| (i.code, i.message.clone())).collect();
        assert_eq!(q.len(), 4, "{got:?}");
        assert_eq!(q[0].code, ErrorCode::DataStale);
        assert!(q[0].message.starts_with("stale is SUSPENDED"));
        assert_eq!(q[1].code, ErrorCode::DataUnavailable);
        assert_eq!(q[2].code, ErrorCode::BotSuspended);
        assert!(q[2].message.contains("AUTONOMY_TIER_INSUFFICIENT"));
        assert!(q[3].message.contains("no blocked evaluation recorded yet"));
        assert!(q.iter().all(|i| i.severity == Severity::Sev2));
    }

    #[test]
    fn ordered_by_severity_then_oldest_first() {
        let job = Fact::JobFailed(JobFact {
            id: Uuid::now_v7(),
            kind: "backtest".into(),
            status: "FAILED".into(),
            finished_at: t(-30),
            error_code: Some("DATA_UNAVAILABLE".into()),
            error: Some("no bars".into()),
            bot: None,
        });
        let system = Fact::System(SystemFact {
            code: ErrorCode::SchedulerStalled,
            severity: Severity::Sev1,
            message: "The bar clock is Stalled".into(),
            fix: "restart".into(),
        });
        let q = queue(
            vec![
                job,
                suspended_fact("newer", &["RISK_LIMIT_BREACHED"], t(3)),
                system,
                killed_fact("killed", 1, 0, None),
                suspended_fact("older", &["RISK_LIMIT_BREACHED"], t(1)),
            ],
            t(10),
        );
        let order: Vec<_> = q.iter().map(|i| (i.severity, i.code)).collect();
        assert_eq!(
            order,
            vec![
                (Severity::Sev1, ErrorCode::KilledWithExposure),
                (Severity::Sev1, ErrorCode::SchedulerStalled),
                (Severity::Sev2, ErrorCode::BotSuspended),
                (Severity::Sev2, ErrorCode::BotSuspended),
                (Severity::Sev3, ErrorCode::JobFailed),
            ]
        );
        assert!(q[2].message.starts_with("older"));
        assert!(q[3].message.starts_with("newer"));
        assert_eq!(q[4].link, "/jobs?status=FAILED");
        assert!(q[4].message.contains("DATA_UNAVAILABLE: no bars"));
    }

    #[test]
    fn failed_jobs_leave_the_queue_after_a_day() {
        let job = |finished_at| {
            Fact::JobFailed(JobFact {
                id: Uuid::now_v7(),
                kind: "backtest".into(),
                status: "TIMEOUT".into(),
                finished_at,
                error_code: None,
                error: None,
                bot: Some(bot("b")),
            })
        };
        assert_eq!(queue(vec![job(t(0))], t(0) + FAILED_JOB_WINDOW).len(), 1);
        assert!(queue(vec![job(t(0))], t(1) + FAILED_JOB_WINDOW).is_empty());
    }

    #[test]
    fn breakers_are_sev1_only_on_live_bots_and_link_their_subject() {
        let b = bot("runner");
        let q = queue(
            vec![
                Fact::BreakerOpen(BreakerFact {
                    subject: Subject::Provider("databento".into()),
                    scope: "provider:databento".into(),
                    opened_at: Some(t(1)),
                    live: false,
                }),
                Fact::BreakerOpen(BreakerFact {
                    subject: Subject::Bot(b.clone()),
                    scope: format!("bot:{}", b.id),
                    opened_at: Some(t(2)),
                    live: true,
                }),
            ],
            t(3),
        );
        assert_eq!(q[0].severity, Severity::Sev1);
        assert_eq!(q[0].link, format!("/bots/{}", b.id));
        assert!(q[0].message.contains("bot runner's runner"));
        assert_eq!(q[1].severity, Severity::Sev2);
        assert_eq!(q[1].link, "/connections");
        assert!(q[1].message.contains("provider databento"));
    }

    #[test]
    fn an_unowned_bot_counts_only_past_the_lease_ttl_from_this_nodes_start() {
        let fact = |since, node_started_at| {
            Fact::Unowned(UnownedFact {
                bot: bot("orphan"),
                status: "RUNNING".into(),
                since,
                node_started_at,
                lease_ttl: Duration::seconds(15),
            })
        };
        // Lease expired long ago, but this node started 10 s ago: not yet.
        assert!(queue(vec![fact(t(0), t(10) - Duration::seconds(10))], t(10)).is_empty());
        let q = queue(vec![fact(t(0), t(0))], t(1));
        assert_eq!(
            (q[0].code, q[0].severity),
            (ErrorCode::BotUnowned, Severity::Sev1)
        );
        assert_eq!(q[0].link, "/nodes");
        assert!(q[0].message.contains("for 60.0 s"), "{}", q[0].message);
    }

    #[test]
    fn status_blockers_covered_per_subject_are_not_listed_twice() {
        let sys = |code: ErrorCode| {
            Fact::System(SystemFact {
                code,
                severity: Severity::Sev2,
                message: code.message().into(),
                fix: code.suggested_fix().into(),
            })
        };
        let q = queue(
            vec![
                sys(ErrorCode::CircuitBreakerOpen),
                sys(ErrorCode::BotKilled),
                sys(ErrorCode::ExecutionBrokerUnavailable),
            ],
            t(0),
        );
        assert_eq!(q.len(), 1);
        assert_eq!(q[0].code, ErrorCode::ExecutionBrokerUnavailable);
        assert_eq!(q[0].subject, Subject::System);
        assert_eq!(q[0].link, "/connections");
        assert_eq!(q[0].since, None);
    }

    #[test]
    fn a_reconciliation_mismatch_links_the_reconciliation_view() {
        let q = queue(
            vec![Fact::System(SystemFact {
                code: ErrorCode::ReconciliationMismatch,
                severity: Severity::Sev1,
                message: "bot es-live: ESZ6 ours 0, broker 1".into(),
                fix: ErrorCode::ReconciliationMismatch.suggested_fix().into(),
            })],
            t(0),
        );
        assert_eq!(q.len(), 1);
        assert_eq!(q[0].link, "/reconciliation");
    }

    #[test]
    fn a_latched_account_is_sev1_and_links_the_reconciliation_view() {
        let q = queue(
            vec![Fact::System(SystemFact {
                code: ErrorCode::AccountDailyLossLatched,
                severity: Severity::Sev1,
                message: "ironbeam account ACC-1 latched".into(),
                fix: ErrorCode::AccountDailyLossLatched.suggested_fix().into(),
            })],
            t(0),
        );
        assert_eq!(q.len(), 1);
        assert_eq!(q[0].severity, Severity::Sev1);
        assert_eq!(q[0].link, "/reconciliation");
    }

    #[test]
    fn a_failing_provider_and_a_failed_live_bot() {
        let q = queue(
            vec![
                Fact::ProviderFailing(ProviderFact {
                    provider_id: "polygon".into(),
                    breaker_state: "HALF_OPEN",
                    recent_calls: 4,
                    recent_ok: 1,
                    last_error_code: Some("PROVIDER_HTTP_5XX".into()),
                    last_error_at: Some(t(1)),
                }),
                Fact::Failed(FailedBotFact {
                    bot: bot("live-es"),
                    since: t(2),
                    live: true,
                    last_error: Some("BOT_RESTART_REFUSED".into()),
                }),
            ],
            t(3),
        );
        assert_eq!(
            (q[0].code, q[0].severity),
            (ErrorCode::BotFailed, Severity::Sev1)
        );
        assert_eq!(
            q[0].message,
            "LIVE bot live-es is in ERROR and not running: BOT_RESTART_REFUSED."
        );
        assert_eq!(q[1].code, ErrorCode::ProviderFailing);
        assert_eq!(
            q[1].message,
            "polygon is failing: breaker HALF_OPEN, 1/4 calls ok in 15 min, last error PROVIDER_HTTP_5XX."
        );
    }

    fn held(name: &str, live: bool, quantity: i64, decided: DateTime<Utc>) -> Fact {
        Fact::HeldPosition(HeldPositionFact {
            bot: bot(name),
            live,
            symbol: Symbol::Es,
            quantity,
            last_decided_at: Some(decided),
        })
    }

    #[test]
    fn a_position_on_a_contract_past_its_roll_needs_a_human_and_sev1_when_live() {
        // ESU26 rolls to ESZ26 eight days before its September expiry; now is December 2nd.
        let september = Utc.with_ymd_and_hms(2026, 8, 20, 15, 0, 0).unwrap();
        let items = queue(
            vec![
                held("paper-u6", false, 2, september),
                held("live-u6", true, -1, september),
                held("on-front", true, 1, t(-60)),
            ],
            t(0),
        );
        assert_eq!(items.len(), 2, "{items:#?}");
        let live = &items[0];
        assert_eq!(
            (live.code, live.severity),
            (ErrorCode::PositionPastRoll, Severity::Sev1)
        );
        assert_eq!(
            live.message,
            "live-u6 holds -1 ESU26 past its roll to ESZ26 (last trade day 2026-09-18): its roll exit has not gone through."
        );
        assert_eq!(
            live.since,
            Some(Contract::front_at(Symbol::Es, september).rolls_at())
        );
        assert!(live.link.starts_with("/bots/"));
        assert_eq!(items[1].severity, Severity::Sev2);
        assert!(items[1].message.starts_with("paper-u6 holds 2 ESU26"));
        // Without a fill to name the contract nothing is judged.
        let unknown = Fact::HeldPosition(HeldPositionFact {
            bot: bot("no-fills"),
            live: true,
            symbol: Symbol::Es,
            quantity: 1,
            last_decided_at: None,
        });
        assert!(queue(vec![unknown], t(0)).is_empty());
    }
}
