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

mod blockers;

use blockers::{
    Blockers, account_latches, ai_status, breakers, describe_failing, killed_bots, reconciliation,
    reconciliation_age, unowned_bots,
};

use super::{BreakerView, LoopHealth, RuntimeHandle, status_cache::DbView};
use crate::{
    error_code::ErrorCode,
    integrations::{bars, is_connected, registry::Category},
    store::system_events::Severity,
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
    let own_breakers = rt.breakers();
    breakers(rt, &own_breakers, snapshot.map(|s| &**s), &mut b);
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
            circuit_breakers: own_breakers,
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
