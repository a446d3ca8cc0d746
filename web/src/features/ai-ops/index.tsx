import { useQuery } from "@tanstack/react-query";
import { useNavigate, useSearch } from "@tanstack/react-router";
import { Card } from "../../components/Card";
import { EmptyState } from "../../components/EmptyState";
import { PanelStatus, QueryError } from "../../components/PanelStatus";
import { cn } from "../../lib/cn";
import { formatTime } from "../../lib/time";
import type { SearchParams } from "../../router";
import { aiOpsSeriesQuery, aiOpsSummaryQuery, windowOf, WINDOWS } from "../../queries/aiops";
import { ActionsTable, BudgetsTable, ModelsTable } from "./GenerationTables";
import { SeriesCharts } from "./SeriesCharts";
import { SummaryTable } from "./SummaryTable";
import { Totals } from "./Totals";
import { useTitle } from "../../lib/title";

/** AI Ops: per LLM provider calls, errors and latency over a window (`?window=1h|24h|7d`). */
export function AiOpsPage() {
  useTitle("AI Ops");
  const search = useSearch({ strict: false }) as SearchParams;
  const navigate = useNavigate();
  const win = windowOf(search.window);
  const summary = useQuery(aiOpsSummaryQuery(win.id));
  const series = useQuery(aiOpsSeriesQuery(win.id, win.buckets));

  return (
    <div className="flex flex-col gap-4">
      <header className="flex flex-wrap items-center gap-3">
        <div>
          <h1 className="text-xl font-semibold">AI Ops</h1>
          <p className="text-sm text-muted">LLM provider calls, errors and latency, from the recorded usage events.</p>
        </div>
        <div role="group" aria-label="Window" className="ml-auto flex rounded-md border border-line bg-surface p-0.5">
          {WINDOWS.map((w) => (
            <button
              key={w.id}
              type="button"
              aria-pressed={w.id === win.id}
              onClick={() => void navigate({ to: ".", search: { ...search, window: w.id }, replace: true })}
              className={cn(
                "rounded px-3 py-1 text-sm",
                w.id === win.id ? "bg-accent font-medium text-on-accent" : "text-muted hover:bg-surface-2 hover:text-fg",
              )}
            >
              Last {w.label}
            </button>
          ))}
        </div>
      </header>

      <Card
        title="Providers"
        status={<PanelStatus query={summary} />}
        actions={summary.data && <span className="text-xs text-muted">{formatTime(summary.data.from)} → {formatTime(summary.data.to)}</span>}
      >
        {summary.isError && !summary.data ? (
          <QueryError error={summary.error} />
        ) : summary.isPending ? null : summary.data.providers.length === 0 ? (
          <EmptyState title="No LLM provider" reason="The integration registry lists no provider in the LLM category, so there is nothing to report." />
        ) : (
          <div className="flex flex-col gap-4">
            <Totals totals={summary.data.totals} />
            <SummaryTable providers={summary.data.providers} totals={summary.data.totals} />
          </div>
        )}
      </Card>

      {summary.data && (
        <>
          <Card title="Generation calls by model" actions={<span className="text-xs text-muted">real AI-action calls only, not verify pings</span>}>
            <ModelsTable models={summary.data.models} />
          </Card>
          <div className="grid gap-4 lg:grid-cols-2">
            <Card title="AI actions">
              <ActionsTable actions={summary.data.actions} />
            </Card>
            <Card title="Budgets today (UTC)">
              <BudgetsTable budgets={summary.data.budgets} />
            </Card>
          </div>
        </>
      )}

      <Card title="Over time" status={<PanelStatus query={series} />}>
        {series.isError && !series.data ? (
          <QueryError error={series.error} />
        ) : series.isPending ? null : (
          <SeriesCharts series={series.data} />
        )}
      </Card>
    </div>
  );
}
