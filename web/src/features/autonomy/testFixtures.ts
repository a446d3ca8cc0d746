// A stored autonomy score shaped like src/domain/autonomy.rs `Score::breakdown` writes it.
import type { AutonomyScoreRow } from "../../queries/autonomy";

export function scoreRow(botId: string, over: Partial<AutonomyScoreRow> & { breakerOpen?: boolean } = {}): AutonomyScoreRow {
  const { breakerOpen = false, ...rest } = over;
  const gates = [
    { gate: "not_killed_or_breaker_open", passed: !breakerOpen, evidence: { killed: false, breaker_state: breakerOpen ? "OPEN" : "CLOSED" }, fix: "Resolve the failure behind the kill or breaker; re-arm, and let the breaker close." },
    { gate: "execution_evidence", passed: false, evidence: { fills_total: 3, needed: 10 }, fix: "Let the bot trade PAPER until it has enough filled orders." },
    { gate: "supervisor_loop_active", passed: true, evidence: { supervisor_loop_ok: true }, fix: "Check the scheduler in system status; it must be ticking on time." },
    { gate: "data_feed_healthy", passed: true, evidence: { data_feed_ok: true }, fix: "Verify databento or polygon and close its circuit breaker." },
    { gate: "broker_healthy", passed: false, evidence: { broker_ok: false }, fix: "Configure and verify a broker (ironbeam or tradovate)." },
    { gate: "risk_engine_enforcing", passed: true, evidence: { runner_up: true, runner_evaluations: 40 }, fix: "Start the bot: the risk engine runs in its runner on every bar." },
    { gate: "no_open_breaker", passed: !breakerOpen, evidence: { breaker_state: breakerOpen ? "OPEN" : "CLOSED" }, fix: "Read the bot's failures in system events; the breaker half-opens after its cool-down." },
    { gate: "proof_of_use_24h", passed: true, evidence: { usage_ok_24h: 120 }, fix: "The bot must read its market data through a provider (usage events) within 24 h." },
    { gate: "recent_decision_traces", passed: true, evidence: { last_decision_at: "2026-11-26T12:00:00Z" }, fix: "The bot needs a decision trace within the last 24 h." },
  ];
  const sub = (name: string, score: number, evidence: Record<string, unknown>, note: string) => ({ name, score, evidence, note });
  return {
    bot_id: botId,
    autonomy_score: 58,
    data_reliability_score: 100,
    decision_quality_score: 60,
    risk_discipline_score: 100,
    execution_health_score: 30,
    supervisor_trust_score: breakerOpen ? 0 : 0,
    autonomy_tier: breakerOpen ? "LOCKED" : "SUPERVISED",
    last_updated_at: new Date(Date.now() - 12_000).toISOString(),
    breakdown: {
      sub_scores: [
        sub("data_reliability", 100, { bar_reads_24h: 1440, bar_read_errors_24h: 0, last_bar_read_ok_at: "2026-11-26T12:00:00Z" }, ""),
        sub("decision_quality", 60, { runner_ticks: 40, runner_evaluations: 40, traces_24h: 40, closed_trades_30d: 0, winning_trades_30d: 0 }, "no closed trades in 30 days to judge outcomes"),
        sub("risk_discipline", 100, { kills_7d: 0, risk_blocks_24h: 0, traces_24h: 40 }, ""),
        sub("execution_health", 30, { orders_7d: 10, filled_7d: 3, recorded_7d: 0, cancelled_7d: 7, broker_errors_24h: 0 }, "some orders were cancelled without a fill"),
        sub("supervisor_trust", 0, { runner_up: true, restarts: 0, breaker_state: breakerOpen ? "OPEN" : "CLOSED", breaker_failures: 5, heartbeat_age_secs: 1, killed: false }, "restarts or breaker failures"),
      ],
      gates,
      thresholds: [
        { tier: "FULL_AUTONOMY", min_score: 85 },
        { tier: "LIMITED_AUTONOMY", min_score: 70 },
        { tier: "SUPERVISED", min_score: 40 },
      ],
      tier: breakerOpen ? "LOCKED" : "SUPERVISED",
    } as never,
    ...rest,
  };
}
