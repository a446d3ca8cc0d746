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

function ProviderTile({ p, x, windowText, selected, onSelect }: {
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
      className={`flex flex-col gap-2 rounded-md border p-3 ${selected ? "border-accent bg-surface-2" : "border-line"}`}
      data-provider={p.provider_id}
    >
      <div className="flex items-start gap-3">
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
        <div className="ml-auto text-right text-sm tabular-nums whitespace-nowrap" data-testid="provider-totals">
          <span className="block">{plural(p.calls, "call")}</span>
          <span className={p.errors > 0 ? "block text-bad" : "block text-muted"}>{plural(p.errors, "error")}</span>
        </div>
      </div>
      {p.calls > 0 ? (
        <Sparkline x={x} series={series} width={260} height={40} label={`${p.label}: ${plural(p.calls, "call")} and ${plural(p.errors, "error")} in ${windowText}`} />
      ) : (
        <p className="text-xs text-muted">{p.no_data_reason ?? "no calls in the window"}</p>
      )}
    </li>
  );
}

/** Provider names as buttons that filter the list by that provider. */
function ProviderChips({ label, providers, onSelect }: { label: string; providers: readonly ProviderUsageSeries[]; onSelect: (id: string) => void }) {
  if (providers.length === 0) return null;
  return (
    <p className="flex flex-wrap items-center gap-1.5 text-xs text-muted" data-testid={`chips-${label}`}>
      <span>{label}:</span>
      {providers.map((p) => (
        <button
          key={p.provider_id}
          type="button"
          onClick={() => onSelect(p.provider_id)}
          className="rounded-full border border-line px-2 py-0.5 text-fg hover:border-accent"
          aria-label={`Show usage of ${p.label}`}
        >
          {p.label}
        </button>
      ))}
    </p>
  );
}

/**
 * Calls and errors per provider over the series window: a tile with a sparkline for each
 * provider that was called (most calls first) or is selected; the others by name, split into
 * configured (could have been called, was not) and not configured (cannot have been).
 */
export function ProviderSparklines({ series, windowText, selected, onSelect }: {
  series: UsageSeries;
  windowText: string;
  selected?: string;
  onSelect: (id: string) => void;
}) {
  const x = useMemo(() => series.providers[0]?.buckets.map((b) => Date.parse(b.start) / 1000) ?? [], [series]);
  const shown = series.providers.filter((p) => p.calls > 0 || p.provider_id === selected).sort((a, b) => b.calls - a.calls);
  const rest = series.providers.filter((p) => !shown.includes(p));
  const idle = rest.filter((p) => p.configured);
  const unconfigured = rest.filter((p) => !p.configured);
  const totalCalls = series.providers.reduce((n, p) => n + p.calls, 0);
  const totalErrors = series.providers.reduce((n, p) => n + p.errors, 0);
  return (
    <div className="flex flex-col gap-3">
      <p className="text-sm" data-testid="usage-totals">
        <span className="font-semibold">{plural(totalCalls, "call")}</span>
        {" and "}
        <span className={totalErrors > 0 ? "font-semibold text-bad" : "font-semibold"}>{plural(totalErrors, "error")}</span>
        {` across ${plural(series.providers.length, "provider")} in ${windowText}.`}
      </p>
      {shown.length > 0 && (
        <ul aria-label="Usage per provider" className="grid grid-cols-1 gap-3 md:grid-cols-2 xl:grid-cols-3">
          {shown.map((p) => (
            <ProviderTile key={p.provider_id} p={p} x={x} windowText={windowText} selected={p.provider_id === selected} onSelect={onSelect} />
          ))}
        </ul>
      )}
      <ProviderChips label="Configured, no calls in the window" providers={idle} onSelect={onSelect} />
      <ProviderChips label="Not configured" providers={unconfigured} onSelect={onSelect} />
      <p className="text-xs text-muted">
        Calls count every usage event (OK, ERROR, VERIFY); errors count ERROR events. Buckets of {Math.round(series.bucket_seconds / 60)} min from the{" "}
        <span className="font-mono">{series.source}</span> rollup.
      </p>
    </div>
  );
}
