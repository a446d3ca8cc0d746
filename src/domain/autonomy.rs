//! Autonomy scoring (SPEC §6, §7): five sub-scores from evidence → a 0–100 score → a tier.
//! Pure: the scorer gathers [`Evidence`] and stores what [`score`] returns.
//!
//! Every sub-score is 0 when its evidence is missing (a missing signal counts against the bot,
//! never for it). Thresholds and the FULL_AUTONOMY gate list are data, below, in one place.

use std::borrow::Cow;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{breaker::BreakerState, risk::AutonomyTier};

/// Lowest score of each tier (the others also need their gates).
pub const TIER_THRESHOLDS: [(AutonomyTier, u8); 3] = [
    (AutonomyTier::FullAutonomy, 85),
    (AutonomyTier::LimitedAutonomy, 70),
    (AutonomyTier::Supervised, 40),
];

/// Filled orders a bot needs before it may leave SUPERVISED (execution evidence).
pub const LIMITED_MIN_FILLS: u64 = 10;

/// How recent the newest decision trace must be for FULL_AUTONOMY.
pub const RECENT_DECISION: Duration = Duration::hours(24);

/// Where a bot's realized results come from: its closed PAPER trades (30 days) when it has
/// any, else its newest backtest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RealizedSource {
    Paper,
    Backtest,
}

/// A bot's realized results, as decision quality reads them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Realized {
    pub source: RealizedSource,
    pub trades: u64,
    /// Net of commissions, USD.
    pub net_pnl: rust_decimal::Decimal,
}

/// What the scorer knows about one bot (and the system around it) right now.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Evidence {
    pub now: DateTime<Utc>,
    pub bar_seconds: u64,
    // Data reliability.
    pub bar_reads_24h: u64,
    pub bar_read_errors_24h: u64,
    pub last_bar_read_ok_at: Option<DateTime<Utc>>,
    /// Proof of use: the bot's OK usage events in the last 24 h (any provider).
    pub usage_ok_24h: u64,
    // Decision quality.
    /// Ticks the running runner received and evaluations it completed (since it started).
    pub runner_ticks: u64,
    pub runner_evaluations: u64,
    pub traces_24h: u64,
    pub last_decision_at: Option<DateTime<Utc>>,
    pub closed_trades_30d: u64,
    pub winning_trades_30d: u64,
    /// Realized results (paper, then backtest); `None`: the bot has neither.
    pub realized: Option<Realized>,
    // Risk discipline.
    pub kills_7d: u64,
    /// Suppressions in 24 h where a risk limit blocked (the engine held, the bot pushed).
    pub risk_blocks_24h: u64,
    // Execution health.
    pub orders_7d: u64,
    pub filled_7d: u64,
    pub recorded_7d: u64,
    pub cancelled_7d: u64,
    pub broker_errors_24h: u64,
    pub fills_total: u64,
    // Supervisor trust.
    pub runner_up: bool,
    pub ever_ran: bool,
    pub restarts: u64,
    pub breaker_state: BreakerState,
    pub breaker_failures: u64,
    pub heartbeat_age_secs: Option<i64>,
    pub heartbeat_timeout_secs: i64,
    pub killed: bool,
    /// The circuit breaker of the market-data provider the bot reads its bars from
    /// (`CLOSED` when none is configured). OPEN: the bot cannot see the market at all.
    pub feed_breaker_state: BreakerState,
    // System-wide gates (SPEC §7).
    pub supervisor_loop_ok: bool,
    pub data_feed_ok: bool,
    pub broker_ok: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateResult {
    pub gate: Cow<'static, str>,
    pub passed: bool,
    pub evidence: Value,
    pub fix: Cow<'static, str>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubScore {
    pub name: Cow<'static, str>,
    pub score: u8,
    pub evidence: Value,
    /// Why it is not 100, when it is not.
    pub note: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Score {
    pub autonomy_score: u8,
    pub data_reliability: SubScore,
    pub decision_quality: SubScore,
    pub risk_discipline: SubScore,
    pub execution_health: SubScore,
    pub supervisor_trust: SubScore,
    pub tier: AutonomyTier,
    pub gates: Vec<GateResult>,
}

/// A tier's lowest score, as a breakdown lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Threshold {
    pub tier: AutonomyTier,
    pub min_score: u8,
}

/// What a score stores as its `breakdown` and what is read back from it (e.g. the gates that
/// keep a bot below the tier a promotion needs): every sub-score with its evidence, every gate
/// with pass/fail, evidence and fix, and why the tier is what it is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Breakdown {
    pub sub_scores: Vec<SubScore>,
    pub gates: Vec<GateResult>,
    pub thresholds: Vec<Threshold>,
    pub tier: AutonomyTier,
}

impl Breakdown {
    /// The gates that did not pass.
    pub fn failed_gates(&self) -> impl Iterator<Item = &GateResult> {
        self.gates.iter().filter(|g| !g.passed)
    }
}

impl Score {
    pub fn breakdown(&self) -> Breakdown {
        Breakdown {
            sub_scores: vec![
                self.data_reliability.clone(),
                self.decision_quality.clone(),
                self.risk_discipline.clone(),
                self.execution_health.clone(),
                self.supervisor_trust.clone(),
            ],
            gates: self.gates.clone(),
            thresholds: TIER_THRESHOLDS
                .iter()
                .map(|&(tier, min_score)| Threshold { tier, min_score })
                .collect(),
            tier: self.tier,
        }
    }
}

fn clamp(v: f64) -> u8 {
    v.round().clamp(0.0, 100.0) as u8
}

fn sub(name: &'static str, score: f64, evidence: Value, note: impl Into<String>) -> SubScore {
    SubScore {
        name: Cow::Borrowed(name),
        score: clamp(score),
        evidence,
        note: note.into(),
    }
}

fn data_reliability(e: &Evidence) -> SubScore {
    let ev = json!({
        "bar_reads_24h": e.bar_reads_24h, "bar_read_errors_24h": e.bar_read_errors_24h,
        "last_bar_read_ok_at": e.last_bar_read_ok_at, "feed_breaker_state": e.feed_breaker_state,
    });
    if e.feed_breaker_state == BreakerState::Open {
        return sub(
            "data_reliability",
            0.0,
            ev,
            "the market-data provider's circuit breaker is open: no bars can be read",
        );
    }
    if e.bar_reads_24h == 0 {
        return sub(
            "data_reliability",
            0.0,
            ev,
            "no bar reads in 24 h: no evidence",
        );
    }
    let ok_rate = 1.0 - e.bar_read_errors_24h as f64 / e.bar_reads_24h as f64;
    let fresh_within = Duration::seconds(
        i64::try_from(e.bar_seconds.max(1) * 3)
            .unwrap_or(60)
            .max(10),
    );
    let freshness = match e.last_bar_read_ok_at {
        Some(t) if e.now - t <= fresh_within => 1.0,
        Some(t) if e.now - t <= Duration::hours(1) => 0.5,
        _ => 0.0,
    };
    let note = if freshness < 1.0 {
        "the bot's feed is not fresh"
    } else if ok_rate < 1.0 {
        "some bar reads failed"
    } else {
        ""
    };
    sub("data_reliability", 100.0 * ok_rate * freshness, ev, note)
}

fn decision_quality(e: &Evidence) -> SubScore {
    let ev = json!({
        "runner_ticks": e.runner_ticks, "runner_evaluations": e.runner_evaluations,
        "traces_24h": e.traces_24h, "closed_trades_30d": e.closed_trades_30d,
        "winning_trades_30d": e.winning_trades_30d, "realized": e.realized,
    });
    // Coverage: every tick should end in exactly one trace.
    let coverage = if e.runner_ticks > 0 {
        (e.runner_evaluations as f64 / e.runner_ticks as f64).min(1.0)
    } else if e.traces_24h > 0 {
        // Not running now: the day's traces still prove it explained itself, at half weight.
        0.5
    } else {
        0.0
    };
    // Outcomes: win rate of closed trades, weighted by how much evidence there is (5+ trades).
    let outcomes = if e.closed_trades_30d == 0 {
        0.0
    } else {
        let rate = e.winning_trades_30d as f64 / e.closed_trades_30d as f64;
        let weight = (e.closed_trades_30d as f64 / 5.0).min(1.0);
        (rate / 0.6).min(1.0) * weight
    };
    // A losing record (paper, else backtest) earns nothing for outcomes, however often it wins.
    let losing = e
        .realized
        .as_ref()
        .is_some_and(|r| r.net_pnl < rust_decimal::Decimal::ZERO);
    let outcomes = if losing { 0.0 } else { outcomes };
    let note = match (coverage < 1.0, e.closed_trades_30d == 0) {
        _ if losing => "realized results are losing money",
        (true, _) if e.runner_ticks == 0 && e.traces_24h == 0 => "no evaluations: no evidence",
        (true, _) => "some ticks were not evaluated",
        (false, true) => "no closed trades in 30 days to judge outcomes",
        _ => "",
    };
    sub(
        "decision_quality",
        60.0 * coverage + 40.0 * outcomes,
        ev,
        note,
    )
}

fn risk_discipline(e: &Evidence) -> SubScore {
    let ev = json!({
        "kills_7d": e.kills_7d, "risk_blocks_24h": e.risk_blocks_24h, "traces_24h": e.traces_24h,
    });
    if e.traces_24h == 0 && e.runner_evaluations == 0 {
        return sub(
            "risk_discipline",
            0.0,
            ev,
            "no evaluations in 24 h: no evidence",
        );
    }
    let evaluations = e.traces_24h.max(e.runner_evaluations).max(1) as f64;
    let near_miss = (e.risk_blocks_24h as f64 / evaluations * 500.0).min(50.0);
    let kills = if e.kills_7d > 0 { 50.0 } else { 0.0 };
    let note = match (e.kills_7d > 0, e.risk_blocks_24h > 0) {
        (true, _) => "a risk kill in the last 7 days",
        (false, true) => "risk limits blocked some orders (near misses)",
        _ => "",
    };
    sub("risk_discipline", 100.0 - kills - near_miss, ev, note)
}

fn execution_health(e: &Evidence) -> SubScore {
    let ev = json!({
        "orders_7d": e.orders_7d, "filled_7d": e.filled_7d, "recorded_7d": e.recorded_7d,
        "cancelled_7d": e.cancelled_7d, "broker_errors_24h": e.broker_errors_24h,
    });
    let executed = e.filled_7d + e.recorded_7d;
    if executed + e.cancelled_7d == 0 {
        return sub(
            "execution_health",
            0.0,
            ev,
            "no executed orders in 7 days: no evidence",
        );
    }
    let ratio = executed as f64 / (executed + e.cancelled_7d) as f64;
    let broker = (e.broker_errors_24h as f64 * 10.0).min(50.0);
    let note = if e.broker_errors_24h > 0 {
        "broker errors in the last 24 h"
    } else if ratio < 1.0 {
        "some orders were cancelled without a fill"
    } else {
        ""
    };
    sub("execution_health", 100.0 * ratio - broker, ev, note)
}

fn supervisor_trust(e: &Evidence) -> SubScore {
    let ev = json!({
        "runner_up": e.runner_up, "restarts": e.restarts, "breaker_state": e.breaker_state,
        "breaker_failures": e.breaker_failures, "heartbeat_age_secs": e.heartbeat_age_secs,
        "killed": e.killed,
    });
    if !e.ever_ran {
        return sub("supervisor_trust", 0.0, ev, "never supervised: no evidence");
    }
    if e.killed || e.breaker_state == BreakerState::Open {
        return sub(
            "supervisor_trust",
            0.0,
            ev,
            "killed or circuit breaker open",
        );
    }
    let mut s = 100.0 - 15.0 * e.restarts as f64 - 20.0 * e.breaker_failures as f64;
    if e.breaker_state == BreakerState::HalfOpen {
        s -= 50.0;
    }
    let gap = e.runner_up
        && e.heartbeat_age_secs
            .is_none_or(|a| a > e.heartbeat_timeout_secs);
    if gap {
        s -= 30.0;
    }
    let note = if gap {
        "heartbeat gap"
    } else if s < 100.0 {
        "restarts or breaker failures"
    } else {
        ""
    };
    sub("supervisor_trust", s, ev, note)
}

/// A system-wide FULL gate that fails also lowers the sub-score it belongs to (SPEC §7:
/// "anything missing lowers the relevant sub-score and the tier"), by `penalty` points, and the
/// note says why; the evidence records the flag.
fn system_shortfall(
    mut part: SubScore,
    (flag, ok): (&str, bool),
    penalty: f64,
    why: &str,
) -> SubScore {
    if let Value::Object(ev) = &mut part.evidence {
        ev.insert(flag.to_owned(), Value::Bool(ok));
    }
    if ok {
        return part;
    }
    part.score = clamp(f64::from(part.score) - penalty);
    part.note = if part.note.is_empty() {
        why.to_owned()
    } else {
        format!("{}; {why}", part.note)
    };
    part
}

/// Scores a bot. The tier is the highest whose threshold the score reaches and whose gates all
/// pass; a killed bot or an open breaker (its runner's, or its market-data provider's) is
/// LOCKED whatever the score.
pub fn score(e: &Evidence) -> Score {
    let parts = [
        system_shortfall(
            data_reliability(e),
            ("data_feed_ok", e.data_feed_ok),
            50.0,
            "no market-data provider is healthy",
        ),
        decision_quality(e),
        risk_discipline(e),
        system_shortfall(
            execution_health(e),
            ("broker_ok", e.broker_ok),
            25.0,
            "no broker is healthy",
        ),
        system_shortfall(
            supervisor_trust(e),
            ("supervisor_loop_ok", e.supervisor_loop_ok),
            50.0,
            "the scheduler is not ticking on time",
        ),
    ];
    let total = clamp(parts.iter().map(|p| f64::from(p.score)).sum::<f64>() / 5.0);
    let breaker_open =
        e.breaker_state == BreakerState::Open || e.feed_breaker_state == BreakerState::Open;
    let breakers =
        json!({"breaker_state": e.breaker_state, "feed_breaker_state": e.feed_breaker_state});
    let recent_decision = e
        .last_decision_at
        .is_some_and(|t| e.now - t <= RECENT_DECISION);
    let gate = |gate: &'static str, passed, evidence: Value, fix: &'static str| GateResult {
        gate: Cow::Borrowed(gate),
        passed,
        evidence,
        fix: Cow::Borrowed(fix),
    };
    let gates = vec![
        gate(
            "not_killed_or_breaker_open",
            !e.killed && !breaker_open,
            json!({"killed": e.killed, "breaker_state": e.breaker_state,
                   "feed_breaker_state": e.feed_breaker_state}),
            "Resolve the failure behind the kill or breaker (the bot's own, or its market-data provider's); re-arm, and let the breaker close.",
        ),
        gate(
            "execution_evidence",
            e.fills_total >= LIMITED_MIN_FILLS,
            json!({"fills_total": e.fills_total, "needed": LIMITED_MIN_FILLS}),
            "Let the bot trade PAPER until it has enough filled orders.",
        ),
        gate(
            "supervisor_loop_active",
            e.supervisor_loop_ok,
            json!({"supervisor_loop_ok": e.supervisor_loop_ok}),
            "Check the scheduler in system status; it must be ticking on time.",
        ),
        gate(
            "data_feed_healthy",
            e.data_feed_ok,
            json!({"data_feed_ok": e.data_feed_ok}),
            "Verify databento or polygon and close its circuit breaker.",
        ),
        gate(
            "broker_healthy",
            e.broker_ok,
            json!({"broker_ok": e.broker_ok}),
            "Configure and verify a broker (ironbeam or tradovate).",
        ),
        gate(
            "risk_engine_enforcing",
            e.runner_up && e.runner_evaluations > 0,
            json!({"runner_up": e.runner_up, "runner_evaluations": e.runner_evaluations}),
            "Start the bot: the risk engine runs in its runner on every bar.",
        ),
        gate(
            "no_open_breaker",
            !breaker_open,
            breakers,
            "Read the bot's or the provider's failures in system events; the breaker half-opens after its cool-down.",
        ),
        gate(
            "proof_of_use_24h",
            e.usage_ok_24h > 0,
            json!({"usage_ok_24h": e.usage_ok_24h}),
            "The bot must read its market data through a provider (usage events) within 24 h.",
        ),
        gate(
            "realized_results_not_losing",
            e.realized
                .as_ref()
                .is_some_and(|r| r.net_pnl >= rust_decimal::Decimal::ZERO),
            json!({"realized": e.realized}),
            "Realized results (the bot's PAPER trades, else its newest backtest) must not be losing: fix the strategy, backtest it, and let it prove itself in PAPER.",
        ),
        gate(
            "recent_decision_traces",
            recent_decision,
            json!({"last_decision_at": e.last_decision_at}),
            "The bot needs a decision trace within the last 24 h.",
        ),
    ];
    let passed = |name: &str| gates.iter().any(|g| g.gate == name && g.passed);
    let tier = if !passed("not_killed_or_breaker_open") {
        AutonomyTier::Locked
    } else {
        TIER_THRESHOLDS
            .iter()
            .find(|(tier, min)| {
                total >= *min
                    && match tier {
                        AutonomyTier::FullAutonomy => gates.iter().all(|g| g.passed),
                        AutonomyTier::LimitedAutonomy => passed("execution_evidence"),
                        _ => true,
                    }
            })
            .map_or(AutonomyTier::Locked, |(t, _)| *t)
    };
    let [data, decision, risk, execution, supervisor] = parts;
    Score {
        autonomy_score: total,
        data_reliability: data,
        decision_quality: decision,
        risk_discipline: risk,
        execution_health: execution,
        supervisor_trust: supervisor,
        tier,
        gates,
    }
}

#[cfg(test)]
#[path = "autonomy_tests.rs"]
mod tests;
