// The latency chart of the Connections pop-out: one provider's p50 / p95 latency (ms) per hour
// over the last 24 h, from its usage events (GET /api/integrations/{id}/latency), on a 24-hour
// time axis; calls per hour beside it. Says why when there is nothing to chart.
import { useMemo } from "react";
import { useQuery } from "@tanstack/react-query";
import { PanelStatus, QueryError } from "../../components/PanelStatus";
import { formatCount } from "../ai-ops/format";
import { parseTime } from "../../lib/time";
import { providerLatencyQuery, type ProviderLatency } from "../../queries/integrations";
import { TimeChart, type ChartSeries } from "../ai-ops/TimeChart";

/** Milliseconds, always in ms (the chart's unit): "84 ms", "1,250 ms". */
export function ms(v: number): string {
  return `${formatCount(Math.round(v))} ms`;
}

const calls = (v: number) => formatCount(Math.round(v));

/** Why the latency chart is empty, or null when it has points. */
export function latencyEmpty(data: ProviderLatency, label: string): string | null {
  if (data.calls === 0) {
    return data.configured
      ? `No call to ${label} in the last 24 h: no latency to chart. Run Verify, or start a bot that uses it.`
      : `${label} is not configured, so nothing has called it: no latency to chart.`;
  }
  if (data.buckets.every((b) => b.p50_ms == null)) {
    return `${formatCount(data.calls)} call${data.calls === 1 ? "" : "s"} in the last 24 h, none timed: every one was refused by the open breaker before reaching ${label}.`;
  }
  return null;
}

export function LatencyChart({ id, label }: { id: string; label: string }) {
  const query = useQuery(providerLatencyQuery(id));
  const data = query.data;
  const chart = useMemo(() => {
    if (!data) return null;
    const xs = data.buckets.map((b) => Math.round((parseTime(b.start) ?? 0) / 1000));
    const latency: ChartSeries[] = [
      { label: "p50 (ms)", token: "info", kind: "line", values: data.buckets.map((b) => b.p50_ms ?? null) },
      { label: "p95 (ms)", token: "warn", kind: "line", values: data.buckets.map((b) => b.p95_ms ?? null) },
    ];
    const volume: ChartSeries[] = [
      { label: "Calls", token: "accent", kind: "bars", values: data.buckets.map((b) => b.calls) },
      { label: "Errors", token: "bad", kind: "bars", values: data.buckets.map((b) => b.errors) },
    ];
    return { xs, latency, volume };
  }, [data]);
  const empty = data ? latencyEmpty(data, label) : null;
  return (
    <section aria-label={`${label} latency`} className="flex flex-col gap-2" data-testid="provider-latency">
      <div className="flex flex-wrap items-center gap-3">
        <h3 className="text-sm font-semibold">Latency, last 24 h (per hour)</h3>
        <PanelStatus query={query} />
      </div>
      {query.isError && !data && <QueryError error={query.error} />}
      {query.isPending && <p className="text-xs text-muted">Loading latency…</p>}
      {data && chart && (
        <div className="grid gap-4 lg:grid-cols-2">
          <TimeChart title={`${label} latency p50 / p95 (ms)`} xs={chart.xs} series={chart.latency} format={ms} empty={empty} />
          {data.calls > 0 && <TimeChart title={`${label} calls and errors per hour`} xs={chart.xs} series={chart.volume} format={calls} />}
        </div>
      )}
    </section>
  );
}
