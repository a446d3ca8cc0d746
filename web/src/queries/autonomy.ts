// GET|POST /api/bots/{id}/autonomy-score: the bot's stored score, tier and breakdown, and the
// operator's "recompute now". The breakdown is stored JSON (see src/domain/autonomy.rs
// `Score::breakdown`); `parseBreakdown` reads it defensively: a field the server did not send
// stays missing, never invented.
import { queryOptions, useMutation, useQueryClient } from "@tanstack/react-query";
import { api, unwrap } from "../api/client";
import { autonomyTierValues, type components } from "../api/schema";
import { POLL } from "../lib/queryClient";

export type AutonomyScoreRow = components["schemas"]["AutonomyScoreRow"];
export type AutonomyScoreBody = components["schemas"]["AutonomyScoreBody"];

export const AUTONOMY_SCORE_PATH = "/api/bots/{id}/autonomy-score";

/** The tiers, lowest first (SPEC §6). */
export const TIERS = autonomyTierValues;
export type Tier = components["schemas"]["AutonomyTier"];

export function isTier(v: unknown): v is Tier {
  return typeof v === "string" && (TIERS as readonly string[]).includes(v);
}

/** The rank of a tier (LOCKED 0 … FULL_AUTONOMY 3), -1 for anything else. */
export function tierRank(tier: string | null | undefined): number {
  return tier ? (TIERS as readonly string[]).indexOf(tier) : -1;
}

/** GET /api/bots/{id}/autonomy-score, polled fast so a tier drop (breaker opening) shows within seconds. */
export function autonomyScoreQuery(botId: string, refetchInterval: number = POLL.fast) {
  return queryOptions({
    queryKey: [AUTONOMY_SCORE_PATH, botId],
    queryFn: () => unwrap(api.GET("/api/bots/{id}/autonomy-score", { params: { path: { id: botId } } })),
    refetchInterval,
    meta: { critical: true, label: "Autonomy score" },
  });
}

/** POST /api/bots/{id}/autonomy-score: re-scores now; the answer replaces the cached score. */
export function useRecomputeAutonomy(botId: string) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: () => unwrap(api.POST("/api/bots/{id}/autonomy-score", { params: { path: { id: botId } } })),
    onSuccess: (data) => {
      client.setQueryData(autonomyScoreQuery(botId).queryKey, data);
    },
  });
}

export interface SubScoreView {
  name: string;
  score: number | null;
  evidence: Record<string, unknown> | null;
  /** Why it is not 100, when it is not ("" or missing otherwise). */
  note: string | null;
}

export interface GateView {
  gate: string;
  passed: boolean;
  evidence: Record<string, unknown> | null;
  fix: string | null;
}

export interface ThresholdView {
  tier: string;
  minScore: number;
}

export interface Breakdown {
  subScores: SubScoreView[];
  gates: GateView[];
  thresholds: ThresholdView[];
}

function asRecord(v: unknown): Record<string, unknown> | null {
  return v && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
}

function asArray(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

/** Reads the stored breakdown; entries missing their name or result are left out, not guessed. */
export function parseBreakdown(raw: unknown): Breakdown {
  const b = asRecord(raw) ?? {};
  const subScores: SubScoreView[] = [];
  for (const s of asArray(b.sub_scores)) {
    const r = asRecord(s);
    if (!r || typeof r.name !== "string") continue;
    subScores.push({
      name: r.name,
      score: typeof r.score === "number" ? r.score : null,
      evidence: asRecord(r.evidence),
      note: typeof r.note === "string" ? r.note : null,
    });
  }
  const gates: GateView[] = [];
  for (const g of asArray(b.gates)) {
    const r = asRecord(g);
    if (!r || typeof r.gate !== "string" || typeof r.passed !== "boolean") continue;
    gates.push({ gate: r.gate, passed: r.passed, evidence: asRecord(r.evidence), fix: typeof r.fix === "string" ? r.fix : null });
  }
  const thresholds: ThresholdView[] = [];
  for (const t of asArray(b.thresholds)) {
    const r = asRecord(t);
    if (!r || typeof r.tier !== "string" || typeof r.min_score !== "number") continue;
    thresholds.push({ tier: r.tier, minScore: r.min_score });
  }
  return { subScores, gates, thresholds };
}

/** The five sub-scores in the scorer's order, with the row's column for each. */
export const SUB_SCORES = [
  { name: "data_reliability", label: "Data reliability", column: "data_reliability_score" },
  { name: "decision_quality", label: "Decision quality", column: "decision_quality_score" },
  { name: "risk_discipline", label: "Risk discipline", column: "risk_discipline_score" },
  { name: "execution_health", label: "Execution health", column: "execution_health_score" },
  { name: "supervisor_trust", label: "Supervisor trust", column: "supervisor_trust_score" },
] as const satisfies readonly { name: string; label: string; column: keyof AutonomyScoreRow }[];

const GATE_LABELS: Record<string, string> = {
  not_killed_or_breaker_open: "Not killed, no open breaker",
  execution_evidence: "Execution evidence",
  supervisor_loop_active: "Supervisor loop active",
  data_feed_healthy: "Data feed healthy",
  broker_healthy: "Broker healthy",
  risk_engine_enforcing: "Risk engine enforcing",
  no_open_breaker: "No open breaker",
  proof_of_use_24h: "Proof of use (24 h)",
  recent_decision_traces: "Recent decision traces",
};

/** A readable name for a gate code (the code itself stays shown beside it). */
export function gateLabel(gate: string): string {
  if (GATE_LABELS[gate]) return GATE_LABELS[gate];
  const words = gate.replace(/_/g, " ").trim();
  return words.charAt(0).toUpperCase() + words.slice(1);
}
