// What the Why-not drawer says at the top, decided from facts only: the bot's status as the API
// gives it, its newest no-trade trace (at last_seen_at) and its newest decision trace. It never
// answers "trading" unless the newest evaluation is a decision AND the status is RUNNING.
import type { Tone } from "../../../components/Badge";
import { parseTime } from "../../../lib/time";
import type { DecisionTrace, NoTradeTrace } from "../../../queries/traces";

export type Verdict =
  | { kind: "loading" }
  /** The newest evaluation was suppressed (`decisionUnchecked`: the decisions could not be read). */
  | { kind: "suppressed"; trace: NoTradeTrace; decisionUnchecked: boolean }
  /** RUNNING and the newest evaluation decided. */
  | { kind: "trading"; decision: DecisionTrace }
  /** Not RUNNING and no suppression trace explains it (the newest evaluation, if any, decided). */
  | { kind: "not-running"; status: string; decision: DecisionTrace | null }
  /** RUNNING but nothing evaluated yet. */
  | { kind: "no-evaluation" }
  /** The facts needed to tell are missing (a read failed). */
  | { kind: "unknown"; why: string };

export interface VerdictInput {
  /** null while loading; undefined when the bot detail could not be read. */
  status: string | null | undefined;
  /** The newest no-trade trace: null when there is none; undefined when not known (loading or failed). */
  noTrade: NoTradeTrace | null | undefined;
  decision: DecisionTrace | null | undefined;
  noTradeFailed: boolean;
  decisionFailed: boolean;
  statusFailed: boolean;
}

export function verdict(v: VerdictInput): Verdict {
  if (v.noTrade === undefined && v.noTradeFailed) {
    return { kind: "unknown", why: "the suppression history could not be read" };
  }
  if (v.noTrade === undefined) return { kind: "loading" };
  const noTradeAt = v.noTrade ? (parseTime(v.noTrade.last_seen_at) ?? 0) : null;
  if (v.decision === undefined && !v.decisionFailed) return { kind: "loading" };
  const decision = v.decision ?? null;
  const decisionAt = decision ? (parseTime(decision.created_at) ?? 0) : null;
  if (v.noTrade && (decisionAt === null || (noTradeAt ?? 0) >= decisionAt)) {
    return { kind: "suppressed", trace: v.noTrade, decisionUnchecked: v.decisionFailed };
  }
  // From here the newest evaluation (if any) decided: only the status can say more.
  if (v.decisionFailed) return { kind: "unknown", why: "the decision traces could not be read" };
  if (v.status === null && !v.statusFailed) return { kind: "loading" };
  if (!v.status) return { kind: "unknown", why: "the bot's status could not be read" };
  if (v.status !== "RUNNING") return { kind: "not-running", status: v.status, decision };
  if (!decision) return { kind: "no-evaluation" };
  return { kind: "trading", decision };
}

/** "SUSPENDED" → "Suspended". */
export function statusWord(status: string): string {
  const s = status.toLowerCase().replace(/_/g, " ");
  return s.charAt(0).toUpperCase() + s.slice(1);
}

/** RUNNING green, STARTING/RESTARTING blue, SUSPENDED amber, KILLED/ERROR red, STOPPED (or unknown) grey. */
export function botStatusTone(status: string | null | undefined): Tone {
  switch (status) {
    case "RUNNING":
      return "ok";
    case "STARTING":
    case "RESTARTING":
      return "info";
    case "SUSPENDED":
      return "warn";
    case "KILLED":
    case "ERROR":
      return "bad";
    default:
      return "neutral";
  }
}
