// The fleet at a glance: every bot by NAME (id on hover), stage, state, today's PnL with its
// freshness, a sparkline of today's realized PnL and its autonomy tier. A dense table from
// 768 px up, one card per bot below. A PnL whose mark is older than the bot's freshness limit
// (or from a failed or old refresh) is greyed with its age, never coloured as a fresh gain or
// loss. The sparkline has its own freshness (GET /api/fleet/pnl-today): unknown while that
// answer is missing, greyed when it is old or failed, "partial" when the server cut it short.
// Every bot is shown: all pages of GET /api/bots are read, the grid shows 50 at a time with
// "Showing N–M of T bots" and Previous/Next (attention-needing bots sort onto the first page).
import { useMemo, useState } from "react";
import { ChevronLeft, ChevronRight } from "lucide-react";
import { useQuery } from "@tanstack/react-query";
import { Link } from "@tanstack/react-router";
import { Badge } from "../../components/Badge";
import { Button } from "../../components/Button";
import { Card } from "../../components/Card";
import { EmptyState } from "../../components/EmptyState";
import { PanelStatus, QueryError } from "../../components/PanelStatus";
import { Sparkline } from "../../components/Sparkline";
import { cn } from "../../lib/cn";
import { formatAge, freshForMs, queryFreshness, type Freshness } from "../../lib/freshness";
import { POLL } from "../../lib/queryClient";
import { useNow } from "../../lib/time";
import { isApiError } from "../../api/errors";
import { pnlTodayQuery } from "../../queries/attention";
import { FLEET_MAX, fleetBotsQuery } from "../../queries/bots";
import { TierBadge } from "../autonomy/TierBadge";
import { StageBadge, StatusBadge } from "../bots/badges";
import { pnlClass, usd } from "../bots/format";
import { fleetPage, fleetRows, isUnknownSpark, sparks as sparksOf, type FleetRow, type UnknownSpark } from "./fleet";

function Pnl({ row }: { row: FleetRow }) {
  const f = row.freshness;
  if (row.pnl === null) {
    return (
      <span className="text-muted" title={row.why ?? f.reason ?? undefined} data-testid="fleet-pnl" data-stale="true">
        unknown
      </span>
    );
  }
  return (
    <span className="inline-flex flex-wrap items-center gap-1.5" data-testid="fleet-pnl" data-stale={f.stale ? "true" : "false"}>
      <span className={cn("font-mono tabular-nums", f.stale ? "text-muted" : pnlClass(row.pnl))} title={f.reason ?? undefined}>
        {usd(row.pnl)}
      </span>
      {f.stale && (
        <Badge tone="neutral" title={f.reason ?? undefined}>
          {f.ageMs === null ? "age unknown" : `${formatAge(f.ageMs)} old`}
        </Badge>
      )}
    </span>
  );
}

/** Today's series as a whole: how fresh its answer is and whether the server cut it short. */
interface SeriesState {
  freshness: Freshness;
  /** More closes today than the server sends: the oldest are left out. */
  truncated: boolean;
}

function Spark({ row, series: state }: { row: FleetRow; series: SeriesState }) {
  const spark = row.spark;
  const known = isUnknownSpark(spark) ? null : spark;
  const last = known?.y[known.y.length - 1] ?? 0;
  const { stale, reason, ageMs } = state.freshness;
  // Coloured as today's result only when today's series is fresh and whole.
  const tone = stale || state.truncated ? "muted" : last >= 0 ? "ok" : "bad";
  const values = known?.y;
  const series = useMemo(() => [{ label: "Realized PnL today (USD)", values: values ?? [], tone } as const], [values, tone]);
  if (isUnknownSpark(spark)) {
    return (
      <span className="text-xs text-muted" title={spark.unknown} data-testid="fleet-spark" data-state="unknown">
        unknown: {spark.unknown}
      </span>
    );
  }
  const marks = (
    <>
      {state.truncated && (
        <Badge tone="neutral" title="More closes today than the server sends: the oldest are left out, so this is not the whole day">
          partial
        </Badge>
      )}
      {stale && (
        <Badge tone="neutral" title={reason ?? undefined}>
          {ageMs === null ? "age unknown" : `${formatAge(ageMs)} old`}
        </Badge>
      )}
    </>
  );
  const dataState = state.truncated ? "partial" : stale ? "stale" : "fresh";
  const n = spark.x.length;
  if (n < 2) {
    const closes = n === 1 ? "1 close" : "no close";
    return (
      <span className="inline-flex flex-wrap items-center gap-1 text-xs text-muted" data-testid="fleet-spark" data-state={dataState}>
        {state.truncated ? `${closes} among the newest` : `${closes} today`}
        {marks}
      </span>
    );
  }
  const scope = state.truncated ? `the newest ${n} closes today (partial: older closes left out)` : `each of ${n} closes`;
  return (
    <span className="inline-flex flex-wrap items-center gap-1" data-testid="fleet-spark" data-state={dataState}>
      <Sparkline
        x={spark.x}
        series={series}
        label={`${row.name}: realized PnL today after ${scope}, now ${usd(last)}${stale ? ` (stale: ${reason ?? "not current"})` : ""}`}
        width={120}
        height={28}
        fromZero={false}
      />
      {marks}
    </span>
  );
}

function Name({ row }: { row: FleetRow }) {
  return (
    <Link to="/bots/$botId" params={{ botId: row.id }} title={`Bot id ${row.id}`} data-bot-id={row.id} className="break-all font-medium text-accent hover:underline">
      {row.name}
    </Link>
  );
}

function Tier({ tier }: { tier: string | null }) {
  return tier ? <TierBadge tier={tier} /> : <span className="text-xs text-muted">not scored</span>;
}

function FleetPager({ at, total, truncated, onPage }: { at: ReturnType<typeof fleetPage>; total: number; truncated: boolean; onPage: (page: number) => void }) {
  return (
    <nav aria-label="Fleet pages" className="mt-3 flex flex-wrap items-center gap-2 text-sm">
      <span role="status" data-testid="fleet-count" className="text-muted">
        Showing {at.first}–{at.last} of {total} bot{total === 1 ? "" : "s"}
        {truncated && ` (the first ${FLEET_MAX}; filter on the Bots page for the rest)`}
      </span>
      {at.pages > 1 && (
        <>
          <Button size="sm" disabledReason={at.page === 0 ? "This is the first page." : null} onClick={() => onPage(at.page - 1)}>
            <ChevronLeft size={14} aria-hidden /> Previous
          </Button>
          <span className="text-xs text-muted">
            page {at.page + 1} of {at.pages}
          </span>
          <Button size="sm" disabledReason={at.page >= at.pages - 1 ? "This is the last page." : null} onClick={() => onPage(at.page + 1)}>
            Next <ChevronRight size={14} aria-hidden />
          </Button>
        </>
      )}
    </nav>
  );
}

export function FleetGrid() {
  const bots = useQuery(fleetBotsQuery);
  const series = useQuery(pnlTodayQuery);
  const now = useNow(1000);
  const [page, setPage] = useState(0);
  const items = bots.data?.items;
  const sparks = useMemo(() => sparksOf(series.data), [series.data]);
  const seriesState: SeriesState = { freshness: queryFreshness(series, now, freshForMs(POLL.normal)), truncated: series.data?.truncated ?? false };
  // No answer yet (or none ever): every bot's series is unknown, never "no close today".
  const noSeries: UnknownSpark | null = series.data
    ? null
    : { unknown: series.isError ? `today's series could not be read (${isApiError(series.error) ? series.error.code : "ERROR"})` : "today's series is loading" };
  const rows = items
    ? fleetRows({ bots: items, sparks: noSeries ?? sparks, fetchedAt: bots.dataUpdatedAt, fetchFailed: bots.isError, maxAnswerAgeMs: freshForMs(POLL.normal), now })
    : [];
  const at = fleetPage(rows.length, page);
  const shown = rows.slice(at.start, at.end);
  return (
    <Card title="Fleet" status={<PanelStatus query={bots} />} actions={<Link to="/bots" className="text-sm text-accent hover:underline">All bots</Link>}>
      {bots.isPending && <p className="text-sm text-muted">Loading…</p>}
      {bots.isError && !items && <QueryError error={bots.error} />}
      {items && rows.length === 0 && <EmptyState title="No bots yet" reason="Create a bot (Bots → New bot) or the starter set to see the fleet here." />}
      {rows.length > 0 && (
        <>
          <table className="hidden w-full text-sm md:table" aria-label="Fleet">
            <thead>
              <tr className="border-b border-line text-left text-xs text-muted">
                <th className="py-1.5 pr-3 font-medium">Bot</th>
                <th className="py-1.5 pr-3 font-medium">Stage</th>
                <th className="py-1.5 pr-3 font-medium">State</th>
                <th className="py-1.5 pr-3 font-medium">PnL today (USD)</th>
                <th className="py-1.5 pr-3 font-medium">Today</th>
                <th className="py-1.5 font-medium">Tier</th>
              </tr>
            </thead>
            <tbody>
              {shown.map((row) => (
                <tr key={row.id} className="border-b border-line/60 last:border-0" data-testid="fleet-row">
                  <td className="py-1.5 pr-3"><Name row={row} /></td>
                  <td className="py-1.5 pr-3"><StageBadge stage={row.stage} /></td>
                  <td className="py-1.5 pr-3"><StatusBadge status={row.status} /></td>
                  <td className="py-1.5 pr-3"><Pnl row={row} /></td>
                  <td className="py-1.5 pr-3"><Spark row={row} series={seriesState} /></td>
                  <td className="py-1.5"><Tier tier={row.tier} /></td>
                </tr>
              ))}
            </tbody>
          </table>
          <ul className="flex flex-col gap-2 md:hidden" aria-label="Fleet cards">
            {shown.map((row) => (
              <li key={row.id} className="rounded-md border border-line p-3" data-testid="fleet-card">
                <div className="flex flex-wrap items-center gap-2">
                  <Name row={row} />
                  <StageBadge stage={row.stage} />
                  <StatusBadge status={row.status} />
                </div>
                <div className="mt-2 flex flex-wrap items-center justify-between gap-2">
                  <Pnl row={row} />
                  <Tier tier={row.tier} />
                </div>
                <div className="mt-2"><Spark row={row} series={seriesState} /></div>
              </li>
            ))}
          </ul>
          <FleetPager at={at} total={rows.length} truncated={bots.data?.truncated ?? false} onPage={setPage} />
        </>
      )}
    </Card>
  );
}
