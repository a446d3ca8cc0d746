// The Proof-of-Use tab: every provider call the control plane recorded (usage events),
// filtered by provider, bot, status and time window, newest first, plus calls and errors per
// provider over the window as sparklines.
import { useCallback } from "react";
import { Link } from "@tanstack/react-router";
import { useInfiniteQuery, useQuery } from "@tanstack/react-query";
import { History } from "lucide-react";
import { Button } from "../../components/Button";
import { Card } from "../../components/Card";
import { EmptyState } from "../../components/EmptyState";
import { PanelStatus, QueryError } from "../../components/PanelStatus";
import { ExportCsvButton } from "../../components/ExportCsvButton";
import { api, unwrap } from "../../api/client";
import { seriesSpec, usageEventsQuery, usageSeriesQuery, type TimeWindow, type UsageFilters, type UsageSeries } from "../../queries/usage";
import { useSearchParams } from "../events/search";
import { FilterBar } from "./FilterBar";
import { ProviderSparklines } from "./ProviderSparklines";
import { parseSearch, windowLabel } from "./search";
import { UsageDrawer } from "./UsageDrawer";
import { UsageTable } from "./UsageTable";
import { useTitle } from "../../lib/title";

function describeFilters(f: UsageFilters): string {
  const parts: string[] = [];
  if (f.status) parts.push(f.status);
  parts.push("usage event");
  if (f.provider) parts.push(`of ${f.provider}`);
  if (f.bot_id) parts.push(`by bot ${f.bot_id}`);
  return parts.join(" ");
}

/** Why the list is empty, from what the series knows about the providers. */
function EmptyUsage({ filters, window, series, onClear }: {
  filters: UsageFilters;
  window: TimeWindow;
  series: UsageSeries | undefined;
  onClear: () => void;
}) {
  const when = windowLabel(window);
  if (filters.provider || filters.bot_id || filters.status) {
    const provider = series?.providers.find((p) => p.provider_id === filters.provider);
    const why = provider && !provider.configured ? ` ${provider.label} is not configured, so nothing can have called it.` : "";
    return (
      <EmptyState
        title="No usage events match these filters"
        reason={`No ${describeFilters(filters)} was recorded in ${when}.${why}`}
        action={<Button onClick={onClear}>Clear filters</Button>}
      />
    );
  }
  const configured = series?.providers.filter((p) => p.configured) ?? [];
  let reason: string;
  if (!series) reason = `No provider call was recorded in ${when}.`;
  else if (configured.length === 0)
    reason = "No provider is configured yet, so nothing has been called. Set a provider's keys, then Verify it on Connections: the verify is the first proof of use.";
  else
    reason = `${configured.length} provider${configured.length === 1 ? " is" : "s are"} configured (${configured
      .map((p) => p.label)
      .join(", ")}) but none was called in ${when}. A usage event is recorded for every call a bot makes and every Verify.`;
  return (
    <EmptyState
      title={`No usage in ${when}`}
      reason={reason}
      action={
        <Link to="/connections" className="text-sm text-accent underline">
          Go to Connections
        </Link>
      }
    />
  );
}

export function ProofOfUsePage() {
  useTitle("Proof of Use");
  const [search, setSearch] = useSearchParams();
  const { filters, window, problem } = parseSearch(search);
  const spec = window ? seriesSpec(window) : { window: "24h", buckets: 24 };
  const series = useQuery({ ...usageSeriesQuery(spec), enabled: window !== null });
  const list = useInfiniteQuery({
    ...usageEventsQuery(filters, window ?? { kind: "preset", id: "24h" }),
    enabled: window !== null,
  });
  const items = list.data?.pages.flatMap((p) => p.items) ?? [];
  const openId = search.usage;
  const close = useCallback(() => setSearch({ usage: undefined }), [setSearch]);
  const clear = () => setSearch({ provider: undefined, bot: undefined, status: undefined, usage: undefined });
  const seriesText = window?.kind === "preset" ? windowLabel(window) : `the last ${spec.window}`;

  return (
    <div className="flex flex-col gap-4">
      <header className="flex flex-wrap items-baseline gap-3">
        <h1 className="text-xl font-semibold tracking-tight">Proof of Use</h1>
        <p className="text-sm text-muted">Every provider call the control plane recorded: what was called, by which bot, how it went.</p>
        {list.data?.pages[0] && (
          <div className="ml-auto">
            <ExportCsvButton
              subject="usage"
              what="usage-events"
              title="Every usage event of these filters and this time range (all pages) as CSV"
              page={(cursor) =>
                unwrap(api.GET("/api/usage-events", { params: { query: { ...filters, ...list.data.pages[0]!.range, cursor, limit: 500 } } }))
              }
            />
          </div>
        )}
      </header>

      <Card>
        <FilterBar key={`${search.bot ?? ""}|${search.from ?? ""}|${search.to ?? ""}|${search.window ?? ""}`} search={search} onChange={setSearch} providers={series.data?.providers} />
        {problem && (
          <p role="alert" className="mt-3 text-sm text-bad">
            {problem}
          </p>
        )}
      </Card>

      {window && (
        <>
          <Card title={`Calls and errors per provider — ${seriesText}`} status={<PanelStatus query={series} />}>
            {window.kind === "custom" && (
              <p className="mb-2 text-xs text-muted">The sparklines cover {seriesText} (the series always ends now); the list below covers your custom range.</p>
            )}
            {series.isError && (
              <div className="mb-3">
                <QueryError error={series.error} />
                {series.data && <p className="mt-1 text-xs text-muted">The figures below are the last ones loaded.</p>}
              </div>
            )}
            {series.data ? (
              <ProviderSparklines series={series.data} windowText={seriesText} selected={filters.provider} onSelect={(id) => setSearch({ provider: id, usage: undefined })} />
            ) : series.isPending ? (
              <p className="py-4 text-center text-sm text-muted">Loading usage per provider…</p>
            ) : null}
          </Card>

          <Card title="Usage events" status={<PanelStatus query={list} />} actions={<span className="text-xs text-muted">Newest first · {windowLabel(window)}</span>}>
            {list.isError && !list.data ? (
              <QueryError error={list.error} />
            ) : list.isPending ? (
              <p className="py-6 text-center text-sm text-muted">Loading usage events…</p>
            ) : items.length === 0 ? (
              <EmptyUsage filters={filters} window={window} series={series.data} onClear={clear} />
            ) : (
              <>
                {list.isError && (
                  <div className="mb-3">
                    <QueryError error={list.error} />
                    <p className="mt-1 text-xs text-muted">The events below are the last ones loaded; newer ones may be missing.</p>
                  </div>
                )}
                <UsageTable events={items} onOpen={(id) => setSearch({ usage: id })} selectedId={openId} />
                <footer className="mt-3 flex items-center gap-3 text-sm">
                  {list.hasNextPage ? (
                    <Button onClick={() => void list.fetchNextPage()} disabled={list.isFetchingNextPage}>
                      <History size={14} aria-hidden /> {list.isFetchingNextPage ? "Loading older…" : "Load older"}
                    </Button>
                  ) : (
                    <span className="text-xs text-muted">
                      That is every matching usage event in {windowLabel(window)} ({items.length}).
                    </span>
                  )}
                  {list.isFetchNextPageError && <span className="text-xs text-bad">Loading older events failed; see the error above.</span>}
                </footer>
              </>
            )}
          </Card>
        </>
      )}

      {openId && <UsageDrawer id={openId} event={items.find((e) => e.id === openId)} onClose={close} />}
    </div>
  );
}
