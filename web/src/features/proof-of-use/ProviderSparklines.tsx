import { useMemo } from "react";
import { Badge } from "../../components/Badge";
import { Sparkline, type SparkSeries } from "../../components/Sparkline";
import type { ProviderUsageSeries, UsageSeries } from "../../queries/usage";

const CATEGORY: Record<string, string> = {
  market_data: "market data",
  execution: "execution",
  llm: "LLM",
  alt_data: "alt data",
  infra: "infra",
};

const fmt = new Intl.NumberFormat();

function plural(n: number, word: string): string {
  return `${fmt.format(n)} ${word}${n === 1 ? "" : "s"}`;
}

function ProviderRow({ p, x, windowText, selected, onSelect }: {
  p: ProviderUsageSeries;
  x: readonly number[];
  windowText: string;
  selected: boolean;
  onSelect: (id: string) => void;
}) {
  const series = useMemo<SparkSeries[]>(
    () => [
      { label: "calls", values: p.buckets.map((b) => b.calls), tone: "accent", fill: true },
      { label: "errors", values: p.buckets.map((b) => b.errors), tone: "bad" },
    ],
    [p.buckets],
  );
  return (
    <li
      className={`grid grid-cols-[minmax(10rem,1fr)_160px_minmax(9rem,auto)] items-center gap-4 rounded-md px-2 py-2 ${selected ? "bg-surface-2" : ""}`}
      data-provider={p.provider_id}
    >
      <div className="min-w-0">
        <button type="button" onClick={() => onSelect(p.provider_id)} className="font-medium text-accent hover:underline" aria-label={`Show usage of ${p.label}`}>
          {p.label}
        </button>
        <div className="flex flex-wrap items-center gap-1.5 text-xs text-muted">
          <span className="font-mono">{p.provider_id}</span>
          <span>· {CATEGORY[p.category] ?? p.category}</span>
          {!p.configured && <Badge tone="neutral">not configured</Badge>}
        </div>
      </div>
      {p.calls > 0 ? (
        <Sparkline
          x={x}
          series={series}
          label={`${p.label}: ${plural(p.calls, "call")} and ${plural(p.errors, "error")} in ${windowText}`}
        />
      ) : (
        <span className="text-xs text-muted">{p.no_data_reason ?? "no calls in the window"}</span>
      )}
      <div className="text-right text-sm tabular-nums" data-testid="provider-totals">
        <span>{plural(p.calls, "call")}</span>
        <span className={p.errors > 0 ? "block text-bad" : "block text-muted"}>{plural(p.errors, "error")}</span>
      </div>
    </li>
  );
}

/**
 * Calls and errors per provider over the series window. Providers with calls first (most
 * first), then configured ones without calls; unconfigured ones without calls are listed in
 * one line (they cannot have been used).
 */
export function ProviderSparklines({ series, windowText, selected, onSelect }: {
  series: UsageSeries;
  windowText: string;
  selected?: string;
  onSelect: (id: string) => void;
}) {
  const x = useMemo(() => series.providers[0]?.buckets.map((b) => Date.parse(b.start) / 1000) ?? [], [series]);
  const shown = series.providers
    .filter((p) => p.calls > 0 || p.configured || p.provider_id === selected)
    .sort((a, b) => b.calls - a.calls || Number(b.configured) - Number(a.configured));
  const idle = series.providers.filter((p) => !shown.includes(p));
  const totalCalls = series.providers.reduce((n, p) => n + p.calls, 0);
  const totalErrors = series.providers.reduce((n, p) => n + p.errors, 0);
  return (
    <div>
      <p className="mb-2 text-sm" data-testid="usage-totals">
        <span className="font-semibold">{plural(totalCalls, "call")}</span>
        {" and "}
        <span className={totalErrors > 0 ? "font-semibold text-bad" : "font-semibold"}>{plural(totalErrors, "error")}</span>
        {` across ${plural(series.providers.length, "provider")} in ${windowText}.`}
      </p>
      {shown.length > 0 ? (
        <ul aria-label="Usage per provider" className="divide-y divide-line">
          {shown.map((p) => (
            <ProviderRow key={p.provider_id} p={p} x={x} windowText={windowText} selected={p.provider_id === selected} onSelect={onSelect} />
          ))}
        </ul>
      ) : (
        <p className="text-sm text-muted">No provider is configured and none was called in this window.</p>
      )}
      {idle.length > 0 && (
        <p className="mt-2 text-xs text-muted">
          Not configured, no calls: {idle.map((p) => p.label).join(", ")}.
        </p>
      )}
      <p className="mt-2 text-xs text-muted">
        Calls count every usage event (OK, ERROR, VERIFY); errors count ERROR events. Buckets of {Math.round(series.bucket_seconds / 60)} min from the{" "}
        <span className="font-mono">{series.source}</span> rollup.
      </p>
    </div>
  );
}
