// A bot's decision ("Why traded") and no-trade ("Why not") traces as CSV (RFC 4180 via
// lib/csv.ts): named columns, decimals as plain text (every digit the API sent, no exponent),
// times ISO 8601 UTC, nested snapshots as compact JSON. Pure: the Export button pages the
// traces the time filter selects through the API and hands them here.
import { decimalText, isoUtc, toCsv } from "../../../lib/csv";
import { isNoTrade, type DecisionTrace, type NoTradeTrace, type Trace, type TraceKind } from "../../../queries/traces";

type Cell = string | number | null | undefined;

const json = (v: unknown): string => (v === null || v === undefined ? "" : JSON.stringify(v));

export const DECISION_COLUMNS: readonly { header: string; value: (t: DecisionTrace) => Cell }[] = [
  { header: "id", value: (t) => t.id },
  { header: "trace_id", value: (t) => t.trace_id },
  { header: "bot_id", value: (t) => t.bot_id },
  { header: "run_id", value: (t) => t.run_id },
  { header: "created_at_utc", value: (t) => isoUtc(t.created_at) },
  { header: "decision_type", value: (t) => t.decision_type },
  { header: "reason_code", value: (t) => t.reason_code },
  { header: "reason", value: (t) => t.reason_human },
  { header: "confidence", value: (t) => decimalText(t.confidence) },
  { header: "expected_value_usd", value: (t) => decimalText(t.expected_value) },
  { header: "trade_id", value: (t) => t.trade_log_id },
  { header: "node_id", value: (t) => t.node_id },
  { header: "lease_epoch", value: (t) => (t.lease_epoch == null ? null : String(t.lease_epoch)) },
  { header: "signals_json", value: (t) => json(t.signals) },
  { header: "risk_snapshot_json", value: (t) => json(t.risk_snapshot) },
  { header: "variables_snapshot_json", value: (t) => json(t.variables_snapshot) },
];

export const NO_TRADE_COLUMNS: readonly { header: string; value: (t: NoTradeTrace) => Cell }[] = [
  { header: "id", value: (t) => t.id },
  { header: "trace_id", value: (t) => t.trace_id },
  { header: "bot_id", value: (t) => t.bot_id },
  { header: "run_id", value: (t) => t.run_id },
  { header: "first_seen_at_utc", value: (t) => isoUtc(t.created_at) },
  { header: "last_seen_at_utc", value: (t) => isoUtc(t.last_seen_at) },
  { header: "count", value: (t) => String(t.count) },
  { header: "suppression_type", value: (t) => t.suppression_type },
  { header: "suppression_decision", value: (t) => t.suppression_decision },
  { header: "reason_code", value: (t) => t.reason_code },
  { header: "reason", value: (t) => t.reason_human },
  { header: "blocked_by_codes", value: (t) => t.blocked_by.map((b) => b.code).join("; ") },
  { header: "blocked_by_gates", value: (t) => t.blocked_by.map((b) => b.gate).join("; ") },
  { header: "suggested_fixes", value: (t) => t.blocked_by.map((b) => b.suggested_fix).join(" | ") },
  { header: "node_id", value: (t) => t.node_id },
  { header: "lease_epoch", value: (t) => (t.lease_epoch == null ? null : String(t.lease_epoch)) },
  { header: "signals_json", value: (t) => json(t.signals) },
  { header: "variables_snapshot_json", value: (t) => json(t.variables_snapshot) },
];

/** The traces of one kind as CSV with a header record, in the order given (newest first). */
export function tracesCsv(kind: TraceKind, traces: readonly Trace[]): string {
  if (kind === "decision") {
    const rows = traces.filter((t): t is DecisionTrace => !isNoTrade(t));
    return toCsv([DECISION_COLUMNS.map((c) => c.header), ...rows.map((t) => DECISION_COLUMNS.map((c) => c.value(t)))]);
  }
  const rows = traces.filter(isNoTrade);
  return toCsv([NO_TRADE_COLUMNS.map((c) => c.header), ...rows.map((t) => NO_TRADE_COLUMNS.map((c) => c.value(t)))]);
}
