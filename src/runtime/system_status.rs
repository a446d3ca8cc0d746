//! The system status (SPEC §5): one honest answer to "can this system trade on its own right
//! now, and if not, why?", served by `GET /api/system/status`. Built from live runtime state
//! and the background database snapshot only, so it answers within milliseconds even when
//! Postgres is down (then BLOCKED with `DATABASE_UNAVAILABLE`).
//!
//! Truth over comfort: a KILLED bot is SEV-1 `KILLED_WITH_EXPOSURE` while it still holds a
//! position or a working order (nobody manages that exposure; SEV-2 once an admin acknowledged
//! it) and SEV-2 `BOT_KILLED` once flat (it needs a human re-arm); market
//! data counts as usable only from a provider that passed verify, whose breaker is CLOSED and
//! whose recent calls mostly succeed, so every data provider failing is BLOCKED.

use serde::Serialize;
use utoipa::ToSchema;

use super::{
    BreakerView, LoopHealth, RuntimeHandle,
    status_cache::{DbSnapshot, DbView},
};
use crate::{
    domain::breaker::BreakerState,
    error_code::ErrorCode,
    integrations::{bars, is_connected, registry::Category},
    store::{bots::KilledBot, system_events::Severity},
    trace::TraceId,
};

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Blocker {
    pub code: ErrorCode,
    /// `SEV-1` blocks autonomy; `SEV-2` degrades it (or blocks only what it names).
    pub severity: Severity,
    pub message: String,
    pub suggested_fix: String,
    /// The request's trace id (the same as the envelope's).
    pub trace_id: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TierCounts {
    #[serde(rename = "LOCKED")]
    pub locked: u64,
    #[serde(rename = "SUPERVISED")]
    pub supervised: u64,
    #[serde(rename = "LIMITED_AUTONOMY")]
    pub limited_autonomy: u64,
    #[serde(rename = "FULL_AUTONOMY")]
    pub full_autonomy: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BotsSummary {
    /// Bots never scored count as LOCKED (no evidence). `null` while Postgres is unreachable.
    #[serde(rename = "byAutonomyTier")]
    pub by_autonomy_tier: Option<TierCounts>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SchedulerBlock {
    /// The bar clock is ticking on time.
    pub active: bool,
    pub last_tick_at: Option<chrono::DateTime<chrono::Utc>>,
    pub loop_health: LoopHealth,
    /// Every breaker: bot runners (`bot:<id>`) and providers (`provider:<id>`).
    pub circuit_breakers: Vec<BreakerView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IntegrationsSummary {
    pub total: usize,
    pub configured: usize,
    /// Configured, last verified OK at the current endpoint, and not failing now (breaker
    /// closed, most recent calls answered): a verify that passed once is not "connected" while
    /// its breaker is open. `null` while Postgres (where verifications live) is unreachable.
    pub connected: Option<usize>,
    pub not_configured: usize,
    /// Pointed at a sandbox (never usable for LIVE).
    pub sandbox: usize,
}

/// `BLOCKED` (any SEV-1 blocker), `DEGRADED` (any SEV-2), else `OK`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SystemState {
    Ok,
    Degraded,
    Blocked,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SystemStatus {
    pub system_status: SystemState,
    /// True when nothing SEV-1 stands in the way of bots trading on their own.
    pub autonomy_allowed: bool,
    pub blockers: Vec<Blocker>,
    /// Informational (`INFO`): something unavailable that nothing in use needs right now
    /// (e.g. AI while no active bot needs it). Never changes `system_status`.
    pub notices: Vec<Blocker>,
    pub bots: BotsSummary,
    pub scheduler: SchedulerBlock,
    pub integrations: IntegrationsSummary,
    /// True when the caller is not signed in (or the session could not be checked: Postgres
    /// down): each blocker's and notice's message and fix are the catalog's, naming no bot,
    /// broker account, amount or error text. Sign in for the details.
    pub redacted: bool,
}

impl SystemStatus {
    /// The status as anyone who can reach the port may read it: the same state, codes,
    /// severities and counts, with every message and fix replaced by its code's catalog text
    /// (the specific ones name bots, broker accounts, a latched account's day PnL and
    /// Postgres's error).
    pub fn redacted(mut self) -> SystemStatus {
        for b in self.blockers.iter_mut().chain(self.notices.iter_mut()) {
            b.message = b.code.message().to_owned();
            b.suggested_fix = b.code.suggested_fix().to_owned();
        }
        self.redacted = true;
        self
    }
}

/// `databento: breaker OPEN, 0/3 calls ok in 15 min, last error PROVIDER_HTTP_5XX`.
fn describe_failing(p: &super::ProviderHealth) -> String {
    let mut out = format!("{}: breaker {}", p.provider_id, p.breaker_state.as_str());
    if p.recent_calls > 0 {
        out.push_str(&format!(
            ", {}/{} calls ok in 15 min",
            p.recent_ok, p.recent_calls
        ));
    }
    if let Some(code) = &p.last_error_code {
        out.push_str(&format!(", last error {code}"));
    }
    out
}

/// A KILLED bot that holds a position or a working order: SEV-1 `KILLED_WITH_EXPOSURE` naming
/// it (nobody manages that exposure), SEV-2 once an admin acknowledged it (still named, with
/// who and when). Flat: SEV-2 `BOT_KILLED` (it needs a human re-arm). Killed in this process
/// after the last database snapshot (exposure not known yet): SEV-1 `BOT_KILLED`.
fn killed_bots(rt: &RuntimeHandle, stored: Option<&[KilledBot]>, b: &mut Blockers) {
    let reason = |id| {
        rt.runner(id)
            .and_then(|r| r.kill_reason)
            .map_or_else(String::new, |r| format!(" ({r})"))
    };
    for bot in stored.unwrap_or_default() {
        if bot.exposed() {
            let held = format!(
                "Bot {} ({}) is KILLED{} and still holds {} contract(s) and {} working order(s)",
                bot.name,
                bot.id,
                reason(bot.id),
                bot.contracts_held,
                bot.working_orders
            );
            let (sev1, message) =
                match (&bot.exposure_acknowledged_by, bot.exposure_acknowledged_at) {
                    (Some(by), Some(at)) => (
                        false,
                        format!("{held}; acknowledged by {by} at {}.", at.to_rfc3339()),
                    ),
                    _ => (true, format!("{held}: nobody manages that exposure.")),
                };
            b.push(
                ErrorCode::KilledWithExposure,
                sev1,
                message,
                ErrorCode::KilledWithExposure.suggested_fix(),
            );
        } else {
            b.push(
                ErrorCode::BotKilled,
                false,
                format!(
                    "Bot {} is KILLED{} and flat; it trades again only after a human re-arm.",
                    bot.name,
                    reason(bot.id)
                ),
                ErrorCode::BotKilled.suggested_fix(),
            );
        }
    }
    // Killed here after the last snapshot (or Postgres unreachable): exposure unknown.
    let known = |id| stored.is_some_and(|s| s.iter().any(|k| k.id == id));
    for r in rt.runners() {
        if r.kill_reason.is_some() && !known(r.bot_id) {
            b.push(
                ErrorCode::BotKilled,
                true,
                format!(
                    "Bot {} is KILLED{}; whether it still holds a position or orders is not known yet.",
                    r.bot_id,
                    reason(r.bot_id)
                ),
                ErrorCode::BotKilled.suggested_fix(),
            );
        }
    }
}

/// SEV-1 `RECONCILIATION_MISMATCH` per open mismatch: the broker's state differs from our
/// ledger; the LIVE bots it names send no new orders until it is resolved.
fn reconciliation(snap: &DbSnapshot, b: &mut Blockers) {
    for m in &snap.reconciliation {
        let bots = if m.bot_ids.is_empty() {
            "no LIVE bot trades it there".to_owned()
        } else {
            format!(
                "bot(s) {} stopped",
                m.bot_ids
                    .iter()
                    .map(|id| snap.bot_name(*id))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        b.push(
            ErrorCode::ReconciliationMismatch,
            true,
            format!(
                "{} account {}: {} on {}: ours {}, broker {} since {}; {bots}.",
                m.broker,
                m.account,
                m.kind,
                m.contract,
                m.ours,
                m.theirs,
                m.detected_at.to_rfc3339()
            ),
            ErrorCode::ReconciliationMismatch.suggested_fix(),
        );
    }
}

/// Runs older than this many periods are overdue.
const OVERDUE_PERIODS: u32 = 3;

/// SEV-2 `RECONCILIATION_OVERDUE` per broker account whose latest reconciliation failed or is
/// older than [`OVERDUE_PERIODS`] periods while LIVE bots run: "matched at its last run" says
/// nothing about now (the leader skips a session that is not ready, and a leader may be gone).
fn reconciliation_age(rt: &RuntimeHandle, snap: &DbSnapshot, b: &mut Blockers) {
    if snap.live_running == 0 {
        return;
    }
    let Some(every) = rt.reconciler().map(|r| r.every()) else {
        return;
    };
    let limit =
        chrono::Duration::from_std(every * OVERDUE_PERIODS).unwrap_or(chrono::Duration::MAX);
    let now = rt.clock().now();
    for run in &snap.reconciliation_runs {
        let age = now - run.finished_at;
        let problem = if !run.ok {
            format!(
                "its last reconciliation ({}) could not read the broker: {}",
                run.finished_at.to_rfc3339(),
                run.error.as_deref().unwrap_or("no reason recorded")
            )
        } else if age > limit {
            format!(
                "its last reconciliation ran {} s ago ({}), past {} s",
                age.num_seconds(),
                run.finished_at.to_rfc3339(),
                limit.num_seconds()
            )
        } else {
            continue;
        };
        b.push(
            ErrorCode::ReconciliationOverdue,
            false,
            format!(
                "{} account {}: {problem}; with {} LIVE bot(s) running, the ledger is not proven to match the broker now.",
                run.broker, run.account, snap.live_running
            ),
            ErrorCode::ReconciliationOverdue.suggested_fix(),
        );
    }
}

/// SEV-1 `ACCOUNT_DAILY_LOSS_LATCHED` per latched broker account: no bot on it may raise
/// exposure until a human re-arms it (the day roll does not).
fn account_latches(snap: &DbSnapshot, b: &mut Blockers) {
    for l in &snap.account_latches {
        let bots = if l.bot_ids.is_empty() {
            "no LIVE bot was routed to it".to_owned()
        } else {
            format!(
                "bot(s) {} may only reduce",
                l.bot_ids
                    .iter()
                    .map(|id| snap.bot_name(*id))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        b.push(
            ErrorCode::AccountDailyLossLatched,
            true,
            format!(
                "{} account {} latched since {}: day PnL {} USD, account daily_loss_limit {} USD; {bots}.",
                l.broker,
                l.account,
                l.latched_at.to_rfc3339(),
                l.daily_pnl,
                l.daily_loss_limit
            ),
            ErrorCode::AccountDailyLossLatched.suggested_fix(),
        );
    }
}

/// SEV-1 for a bot that should run but that no node has owned for longer than the lease TTL
/// (counted from this node's start at the earliest: before, nobody could have claimed it).
fn unowned_bots(rt: &RuntimeHandle, snap: &DbSnapshot, b: &mut Blockers) {
    let Some(node) = rt.ownership() else {
        return;
    };
    let now = rt.clock().now();
    let ttl = chrono::Duration::from_std(rt.lease_ttl()).unwrap_or(chrono::Duration::MAX);
    for bot in &snap.unowned {
        let for_how_long = now - bot.since.max(node.started_at());
        if for_how_long > ttl {
            b.push(
                ErrorCode::BotUnowned,
                true,
                format!(
                    "Bot {} is {} but no node has owned it for {:.1} s (lease TTL {:.1} s): nobody evaluates it or manages its exposure.",
                    bot.name,
                    bot.status,
                    seconds(for_how_long),
                    seconds(ttl)
                ),
                ErrorCode::BotUnowned.suggested_fix(),
            );
        }
    }
}

fn seconds(d: chrono::Duration) -> f64 {
    d.num_milliseconds() as f64 / 1000.0
}

struct Blockers {
    list: Vec<Blocker>,
    notices: Vec<Blocker>,
    trace: String,
}

impl Blockers {
    fn push(&mut self, code: ErrorCode, sev1: bool, message: String, fix: &str) {
        self.list.push(Blocker {
            code,
            severity: if sev1 { Severity::Sev1 } else { Severity::Sev2 },
            message,
            suggested_fix: fix.to_owned(),
            trace_id: self.trace.clone(),
        });
    }

    /// Worth knowing, limits nothing that is in use: shown, never counted in the status.
    fn notice(&mut self, code: ErrorCode, message: String, fix: &str) {
        self.notices.push(Blocker {
            code,
            severity: Severity::Info,
            message,
            suggested_fix: fix.to_owned(),
            trace_id: self.trace.clone(),
        });
    }
}

/// No usable LLM is a SEV-2 blocker only while an active bot needs one (while the database
/// snapshot is missing, which bots do is unknown, so it counts as needed); otherwise it limits
/// only the on-demand AI actions (Explain), each of which refuses alone: a notice.
fn ai_status(rt: &RuntimeHandle, ai_bots: Option<&[uuid::Uuid]>, b: &mut Blockers) {
    if rt.ai_usable() {
        return;
    }
    let why = match &rt.ai().config.problem {
        Some(p) => format!("the AI settings are invalid ({p})"),
        None => "no LLM provider in the order is configured with its breaker closed".to_owned(),
    };
    let fix = ErrorCode::AiProviderUnavailable.suggested_fix();
    match ai_bots {
        Some([]) => b.notice(
            ErrorCode::AiProviderUnavailable,
            format!("AI actions (Explain) are unavailable: {why}. No active bot needs AI."),
            fix,
        ),
        Some(bots) => b.push(
            ErrorCode::AiProviderUnavailable,
            false,
            format!(
                "{} active bot(s) need an LLM and none is usable: {why}.",
                bots.len()
            ),
            fix,
        ),
        None => b.push(
            ErrorCode::AiProviderUnavailable,
            false,
            format!("AI is unavailable ({why}) and which bots need it is unknown while the database snapshot is missing."),
            fix,
        ),
    }
}

pub fn system_status(rt: &RuntimeHandle, trace: &TraceId) -> SystemStatus {
    let mut b = Blockers {
        list: Vec::new(),
        notices: Vec::new(),
        trace: trace.to_string(),
    };
    let integrations = rt.integrations();
    let configs = integrations.configs();
    let db = rt.status_cache().db();
    let snapshot = match &db {
        DbView::Current(s) => Some(s),
        DbView::Unavailable { .. } => None,
    };
    if !rt.is_running() {
        b.push(
            ErrorCode::RuntimeUnavailable,
            true,
            "No supervision runtime runs in this process: no bot can run.".into(),
            ErrorCode::RuntimeUnavailable.suggested_fix(),
        );
    } else if let DbView::Unavailable { error, .. } = &db {
        b.push(
            ErrorCode::DatabaseUnavailable,
            true,
            format!("Postgres is not answering: {error}."),
            "Check that Postgres is up and reachable at DATABASE_URL; tradeplane reconnects on its own.",
        );
    }

    // Market data (SEV-1): a key, a passed verify, a breaker not open.
    let data: Vec<_> = configs
        .iter()
        .filter(|c| bars::PROVIDERS.contains(&c.spec.id))
        .collect();
    let health = rt.providers_health();
    // Failing now: breaker not CLOSED, or most of the last 15 minutes' calls failed.
    let failing = |id: &str| {
        health
            .iter()
            .find(|p| p.provider_id == id)
            .filter(|p| p.failing())
    };
    if !data.iter().any(|c| c.configured()) {
        b.push(
            ErrorCode::DataUnavailable,
            true,
            "No market-data provider has a key (databento or polygon): bots cannot see the market.".into(),
            "Set DATABENTO_API_KEY or POLYGON_API_KEY, restart tradeplane, then verify the provider.",
        );
    } else if let Some(snap) = snapshot {
        let connected: Vec<_> = data
            .iter()
            .filter(|c| is_connected(c, snap.verifications.get(c.spec.id)))
            .collect();
        let down: Vec<String> = connected
            .iter()
            .filter_map(|c| failing(c.spec.id))
            .map(describe_failing)
            .collect();
        if connected.is_empty() {
            b.push(
                ErrorCode::DataUnavailable,
                true,
                "No market-data provider is connected: none has passed verify at its current endpoint.".into(),
                "Verify databento or polygon (POST /api/integrations/verify) and fix what it reports.",
            );
        } else if down.len() == connected.len() {
            b.push(
                ErrorCode::DataUnavailable,
                true,
                format!(
                    "Every connected market-data provider is failing: {}. Bots cannot see the market.",
                    down.join("; ")
                ),
                "Open Connections for the vendor's errors; fix the key, plan or outage, then reset the provider's breaker or wait for its cool-down.",
            );
        }
    }
    let any_connected = |cat: Category| {
        configs.iter().any(|c| {
            c.spec.category == cat
                && snapshot.is_some_and(|s| is_connected(c, s.verifications.get(c.spec.id)))
        })
    };
    if snapshot.is_some() && !any_connected(Category::Execution) {
        b.push(
            ErrorCode::ExecutionBrokerUnavailable,
            false,
            "No broker is connected: SHADOW and LIVE are blocked (PAPER is not).".into(),
            "Configure and verify ironbeam or tradovate.",
        );
    }
    // A broker session lost now, or held after cancel-on-disconnect: its LIVE bots are gated.
    for h in rt.brokers().map(|b| b.health()).unwrap_or_default() {
        let broker = h.broker.id();
        let account = h.account.as_deref().unwrap_or("?");
        let message = match (&h.hold, h.lost_since) {
            (Some(hold), _) => format!(
                "{broker} account {account}: held since {} after its session was lost for {} s \
                 ({} working order(s) cancelled at the broker); its LIVE bots are suspended until \
                 the account reconciles clean.",
                hold.since.to_rfc3339(),
                hold.lost_seconds,
                hold.cancelled.len()
            ),
            (None, Some(since)) => format!(
                "{broker} account {account}: the broker session is lost since {} ({}); LIVE orders \
                 on it are refused.",
                since.to_rfc3339(),
                h.last_error.as_deref().unwrap_or("no answer")
            ),
            (None, None) => continue,
        };
        b.push(
            ErrorCode::ExecutionBrokerUnavailable,
            false,
            message,
            "Open Connections for the broker's errors; a held account resumes once Reconciliation shows it clean.",
        );
    }
    ai_status(rt, snapshot.map(|s| s.ai_bots.as_slice()), &mut b);

    let sched = rt.scheduler_health();
    let ticking = sched.loop_health == LoopHealth::Ok;
    if rt.is_running() && !ticking {
        b.push(
            ErrorCode::SchedulerStalled,
            true,
            format!(
                "The bar clock is {:?} (last tick {}): bots are not evaluating on time.",
                sched.loop_health,
                sched
                    .last_tick_at
                    .map_or_else(|| "never".to_owned(), |t| t.to_rfc3339())
            ),
            ErrorCode::SchedulerStalled.suggested_fix(),
        );
    }
    if rt.kill_switch_active() {
        b.push(
            ErrorCode::KillSwitchActive,
            true,
            "The global kill switch is active: no new orders.".into(),
            ErrorCode::KillSwitchActive.suggested_fix(),
        );
    }
    killed_bots(rt, snapshot.map(|s| s.killed.as_slice()), &mut b);
    if let Some(snap) = snapshot {
        unowned_bots(rt, snap, &mut b);
        reconciliation(snap, &mut b);
        reconciliation_age(rt, snap, &mut b);
        account_latches(snap, &mut b);
    }
    let breakers = rt.breakers();
    let live_bots = snapshot.map(|s| s.live_bots.clone()).unwrap_or_default();
    for br in breakers.iter().filter(|br| br.state == BreakerState::Open) {
        let live = br
            .scope
            .strip_prefix("bot:")
            .and_then(|id| id.parse().ok())
            .is_some_and(|id| live_bots.contains(&id) || rt.runner(id).is_some_and(|r| r.live));
        b.push(
            ErrorCode::CircuitBreakerOpen,
            live,
            format!(
                "Circuit breaker {} is open{}.",
                br.scope,
                if live { " on a LIVE bot" } else { "" }
            ),
            ErrorCode::CircuitBreakerOpen.suggested_fix(),
        );
    }
    // Another node's open breaker: its bots or its provider calls, which this node's own
    // breakers cannot show.
    for br in snapshot
        .iter()
        .flat_map(|s| &s.breakers_elsewhere)
        .filter(|br| br.state == BreakerState::Open)
    {
        let live = br
            .scope
            .strip_prefix("bot:")
            .and_then(|id| id.parse().ok())
            .is_some_and(|id| live_bots.contains(&id));
        b.push(
            ErrorCode::CircuitBreakerOpen,
            live,
            format!(
                "Circuit breaker {} is open on node {}{} (since {}).",
                br.scope,
                br.node,
                if live { ", on a LIVE bot" } else { "" },
                br.updated_at.to_rfc3339()
            ),
            &crate::domain::attention::other_node_breaker_fix(&br.node),
        );
    }
    if rt.status_cache().telemetry_degraded() {
        let t = rt.telemetry_stats();
        b.push(
            ErrorCode::TelemetryDegraded,
            false,
            format!(
                "Telemetry dropped {} events and failed {} writes: proof of use is incomplete.",
                t.dropped, t.failed_writes
            ),
            ErrorCode::TelemetryDegraded.suggested_fix(),
        );
    }

    let by_autonomy_tier = snapshot.map(|snap| {
        let [locked, supervised, limited_autonomy, full_autonomy] =
            snap.tiers.map(|n| u64::try_from(n).unwrap_or(0));
        TierCounts {
            locked,
            supervised,
            limited_autonomy,
            full_autonomy,
        }
    });
    let sev1 = b.list.iter().any(|x| x.severity == Severity::Sev1);
    let system_status = if sev1 {
        SystemState::Blocked
    } else if b.list.is_empty() {
        SystemState::Ok
    } else {
        SystemState::Degraded
    };
    let configured = configs.iter().filter(|c| c.configured()).count();
    let sandbox = configs
        .iter()
        .filter(|c| c.configured() && c.sandbox)
        .count();
    SystemStatus {
        system_status,
        autonomy_allowed: !sev1,
        blockers: b.list,
        notices: b.notices,
        bots: BotsSummary { by_autonomy_tier },
        scheduler: SchedulerBlock {
            active: ticking,
            last_tick_at: sched.last_tick_at,
            loop_health: sched.loop_health,
            circuit_breakers: breakers,
        },
        integrations: IntegrationsSummary {
            total: configs.len(),
            configured,
            connected: snapshot.map(|s| {
                configs
                    .iter()
                    .filter(|c| {
                        is_connected(c, s.verifications.get(c.spec.id))
                            && failing(c.spec.id).is_none()
                    })
                    .count()
            }),
            not_configured: configs.len() - configured,
            sandbox,
        },
        redacted: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Clock;

    fn blockers() -> Blockers {
        Blockers {
            list: Vec::new(),
            notices: Vec::new(),
            trace: "0".repeat(32),
        }
    }

    #[tokio::test]
    async fn no_llm_is_a_blocker_only_while_an_active_bot_needs_one() {
        // Detached: no LLM configured, so AI is not usable.
        let rt = RuntimeHandle::detached(Clock::system());
        assert!(!rt.ai_usable());

        let mut b = blockers();
        ai_status(&rt, Some(&[]), &mut b);
        assert!(b.list.is_empty());
        assert_eq!(b.notices.len(), 1);
        assert_eq!(b.notices[0].severity, Severity::Info);
        assert_eq!(b.notices[0].code, ErrorCode::AiProviderUnavailable);

        let mut b = blockers();
        ai_status(&rt, Some(&[uuid::Uuid::now_v7()]), &mut b);
        assert_eq!(b.list.len(), 1);
        assert_eq!(b.list[0].severity, Severity::Sev2);
        assert!(b.list[0].message.contains("1 active bot(s) need an LLM"));
        assert!(b.notices.is_empty());

        // Without the database snapshot, who needs AI is unknown: counted as needed.
        let mut b = blockers();
        ai_status(&rt, None, &mut b);
        assert_eq!(b.list.len(), 1);
    }
}
