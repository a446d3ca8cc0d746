import type { ReactNode } from "react";
import type { AiOpsTotals } from "../../queries/aiops";
import { formatCount, formatMs, formatRate } from "./format";

function Stat({ label, value, sub, tone }: { label: string; value: ReactNode; sub?: ReactNode; tone?: "bad" }) {
  return (
    <div className="flex min-w-32 flex-col gap-0.5 rounded-md border border-line bg-surface-2/50 px-3 py-2">
      <dt className="text-xs text-muted">{label}</dt>
      <dd className={`font-mono text-lg ${tone === "bad" ? "text-bad" : ""}`}>{value}</dd>
      {sub && <dd className="text-xs text-muted">{sub}</dd>}
    </div>
  );
}

/** The window at a glance: all LLM providers together (percentiles over every call, not averages). */
export function Totals({ totals }: { totals: AiOpsTotals }) {
  const none = totals.no_data_reason;
  return (
    <section aria-label="AI Ops totals">
    <dl className="flex flex-wrap gap-3">
      <Stat label="Calls" value={formatCount(totals.calls)} sub={none ?? `${formatCount(totals.ok)} OK`} />
      <Stat label="Errors" value={formatCount(totals.errors)} tone={totals.errors > 0 ? "bad" : undefined} sub={`rate ${formatRate(totals.error_rate)}`} />
      <Stat
        label="Latency p50 / p95 / p99"
        value={totals.latency_ms ? `${formatMs(totals.latency_ms.p50)} / ${formatMs(totals.latency_ms.p95)} / ${formatMs(totals.latency_ms.p99)}` : "—"}
        sub={totals.latency_ms ? "calls that reached the vendor" : "no timed call in the window"}
      />
      <Stat label="Providers" value={`${totals.providers_with_calls} with calls`} sub={`${totals.providers_configured} of ${totals.providers} configured`} />
    </dl>
    </section>
  );
}
