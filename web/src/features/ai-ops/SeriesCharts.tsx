import { useMemo } from "react";
import { EmptyState } from "../../components/EmptyState";
import { parseTime } from "../../lib/time";
import type { AiOpsProviderSeries, AiOpsSeries } from "../../queries/aiops";
import { formatCount, formatMs } from "./format";
import { TimeChart, type ChartSeries } from "./TimeChart";

const count = (v: number) => formatCount(Math.round(v));

function ProviderCharts({ p }: { p: AiOpsProviderSeries }) {
  const { xs, latency, volume, timed } = useMemo(() => {
    const xs = p.buckets.map((b) => Math.round((parseTime(b.start) ?? 0) / 1000));
    const latency: ChartSeries[] = [
      { label: "p50", token: "info", kind: "line", values: p.buckets.map((b) => b.p50_ms ?? null) },
      { label: "p95", token: "warn", kind: "line", values: p.buckets.map((b) => b.p95_ms ?? null) },
      { label: "p99", token: "bad", kind: "line", values: p.buckets.map((b) => b.p99_ms ?? null) },
    ];
    const volume: ChartSeries[] = [
      { label: "calls", token: "accent", kind: "bars", values: p.buckets.map((b) => b.calls) },
      { label: "errors", token: "bad", kind: "line", values: p.buckets.map((b) => b.errors) },
    ];
    const timed = p.buckets.some((b) => b.p50_ms != null);
    return { xs, latency, volume, timed };
  }, [p]);
  return (
    <section aria-label={`${p.label} over time`} className="flex flex-col gap-3 rounded-md border border-line p-3" data-testid="provider-series">
      <h3 className="text-sm font-semibold">
        {p.label}{" "}
        <span className="font-normal text-muted">
          {formatCount(p.calls)} calls, {formatCount(p.errors)} errors
        </span>
      </h3>
      <div className="grid gap-4 lg:grid-cols-2">
        <TimeChart
          title={`${p.label} latency (p50 / p95 / p99)`}
          xs={xs}
          series={latency}
          format={formatMs}
          empty={timed ? null : "No call reached the vendor in this window (only breaker refusals, which are not timed): no latency to chart."}
        />
        <TimeChart title={`${p.label} calls and errors`} xs={xs} series={volume} format={count} />
      </div>
    </section>
  );
}

/** Per provider with calls: latency percentiles and calls/errors per bucket; the rest say why not. */
export function SeriesCharts({ series }: { series: AiOpsSeries }) {
  const charted = series.providers.filter((p) => !p.no_data_reason);
  const empty = series.providers.filter((p) => p.no_data_reason);
  return (
    <div className="flex flex-col gap-4">
      {charted.length === 0 ? (
        <EmptyState
          title="Nothing to chart in this window"
          reason={series.providers.length === 0 ? "The registry lists no LLM provider." : "No LLM provider made a call in this window; see each provider's reason below."}
        />
      ) : (
        charted.map((p) => <ProviderCharts key={p.provider_id} p={p} />)
      )}
      {empty.length > 0 && (
        <ul aria-label="Providers without chart" className="flex flex-col gap-1 text-sm text-muted">
          {empty.map((p) => (
            <li key={p.provider_id}>
              <span className="font-medium text-fg">{p.label}</span>: no chart — {p.no_data_reason}
            </li>
          ))}
        </ul>
      )}
      <p className="text-xs text-muted">
        Buckets of {formatBucket(series.bucket_seconds)}; a gap in a latency line is a bucket where no call reached the vendor, not a zero.
      </p>
    </div>
  );
}

function formatBucket(seconds: number): string {
  if (seconds % 86_400 === 0) return `${seconds / 86_400} d`;
  if (seconds % 3600 === 0) return `${seconds / 3600} h`;
  if (seconds % 60 === 0) return `${seconds / 60} min`;
  return `${Math.round(seconds)} s`;
}
