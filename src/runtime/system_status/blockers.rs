//! The status's blockers by topic: killed bots, ownership, reconciliation, account latches,
//! breakers, AI. Each adds what it finds to [`Blockers`].

use super::Blocker;
use crate::{
    domain::breaker::BreakerState,
    error_code::ErrorCode,
    runtime::{BreakerView, RuntimeHandle, status_cache::DbSnapshot},
    store::{bots::KilledBot, system_events::Severity},
};

/// `databento: breaker OPEN, 0/3 calls ok in 15 min, last error PROVIDER_HTTP_5XX`.
pub(super) fn describe_failing(p: &crate::runtime::ProviderHealth) -> String {
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
pub(super) fn killed_bots(rt: &RuntimeHandle, stored: Option<&[KilledBot]>, b: &mut Blockers) {
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
pub(super) fn reconciliation(snap: &DbSnapshot, b: &mut Blockers) {
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
pub(super) fn reconciliation_age(rt: &RuntimeHandle, snap: &DbSnapshot, b: &mut Blockers) {
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
pub(super) fn account_latches(snap: &DbSnapshot, b: &mut Blockers) {
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
pub(super) fn unowned_bots(rt: &RuntimeHandle, snap: &DbSnapshot, b: &mut Blockers) {
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

pub(super) struct Blockers {
    pub(super) list: Vec<Blocker>,
    pub(super) notices: Vec<Blocker>,
    pub(super) trace: String,
}

impl Blockers {
    pub(super) fn push(&mut self, code: ErrorCode, sev1: bool, message: String, fix: &str) {
        self.list.push(Blocker {
            code,
            severity: if sev1 { Severity::Sev1 } else { Severity::Sev2 },
            message,
            suggested_fix: fix.to_owned(),
            trace_id: self.trace.clone(),
        });
    }

    /// Worth knowing, limits nothing that is in use: shown, never counted in the status.
    pub(super) fn notice(&mut self, code: ErrorCode, message: String, fix: &str) {
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
pub(super) fn ai_status(rt: &RuntimeHandle, ai_bots: Option<&[uuid::Uuid]>, b: &mut Blockers) {
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

/// This node's open breakers, and the other alive nodes' (their bots or their provider calls,
/// which this node's own breakers cannot show).
pub(super) fn breakers(
    rt: &RuntimeHandle,
    own: &[BreakerView],
    snapshot: Option<&DbSnapshot>,
    b: &mut Blockers,
) {
    let live_bots = snapshot.map(|s| s.live_bots.clone()).unwrap_or_default();
    for br in own.iter().filter(|br| br.state == BreakerState::Open) {
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
