// The fleet at a glance: every bot by NAME (id on hover), stage, state, today's PnL with its
// freshness, a sparkline of today's realized PnL and its autonomy tier. A dense table from
// 768 px up, one card per bot below. A PnL whose mark is older than the bot's freshness limit
// (or from a failed refresh) is greyed with its age, never coloured as a fresh gain or loss.
import { useMemo } from "react";
import { useQuery } from "@tanstack/react-query";
import { Link } from "@tanstack/react-router";
import { Badge } from "../../components/Badge";
import { Card } from "../../components/Card";
import { EmptyState } from "../../components/EmptyState";
import { PanelStatus, QueryError } from "../../components/PanelStatus";
import { Sparkline } from "../../components/Sparkline";
import { cn } from "../../lib/cn";
import { formatAge } from "../../lib/freshness";
import { useNow } from "../../lib/time";
import { pnlTodayQuery } from "../../queries/attention";
import { botsQuery } from "../../queries/bots";
import { TierBadge } from "../autonomy/TierBadge";
import { StageBadge, StatusBadge } from "../bots/badges";
import { pnlClass, usd } from "../bots/format";
import { fleetRows, sparks as sparksOf, type FleetRow } from "./fleet";

function Pnl({ row }: { row: FleetRow }) {
  const f = row.freshness;
  if (row.pnl === null) {
    return (
      <span className="text-muted" title={f.reason ?? undefined} data-testid="fleet-pnl" data-stale="true">
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

function Spark({ row }: { row: FleetRow }) {
  const last = row.spark.y[row.spark.y.length - 1] ?? 0;
  const tone = row.freshness.stale ? "muted" : last >= 0 ? "ok" : "bad";
  const series = useMemo(() => [{ label: "Realized PnL today (USD)", values: row.spark.y, tone } as const], [row.spark, tone]);
  if (row.spark.x.length < 2) {
    return <span className="text-xs text-muted">{row.spark.x.length === 1 ? "1 close today" : "no close today"}</span>;
  }
  return (
    <Sparkline
      x={row.spark.x}
      series={series}
      label={`${row.name}: realized PnL today after each of ${row.spark.x.length} closes, now ${usd(last)}`}
      width={120}
      height={28}
      fromZero={false}
    />
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

export function FleetGrid() {
  const bots = useQuery(botsQuery({}));
  const series = useQuery(pnlTodayQuery);
  const now = useNow(1000);
  const items = bots.data?.items;
  const sparks = useMemo(() => sparksOf(series.data), [series.data]);
  const rows = items ? fleetRows({ bots: items, sparks, fetchedAt: bots.dataUpdatedAt, fetchFailed: bots.isError, now }) : [];
  return (
    <Card title="Fleet" status={<PanelStatus query={bots} />} actions={bots.data?.next_cursor ? <Link to="/bots" className="text-sm text-accent hover:underline">All bots</Link> : undefined}>
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
              {rows.map((row) => (
                <tr key={row.id} className="border-b border-line/60 last:border-0" data-testid="fleet-row">
                  <td className="py-1.5 pr-3"><Name row={row} /></td>
                  <td className="py-1.5 pr-3"><StageBadge stage={row.stage} /></td>
                  <td className="py-1.5 pr-3"><StatusBadge status={row.status} /></td>
                  <td className="py-1.5 pr-3"><Pnl row={row} /></td>
                  <td className="py-1.5 pr-3"><Spark row={row} /></td>
                  <td className="py-1.5"><Tier tier={row.tier} /></td>
                </tr>
              ))}
            </tbody>
          </table>
          <ul className="flex flex-col gap-2 md:hidden" aria-label="Fleet cards">
            {rows.map((row) => (
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
                <div className="mt-2"><Spark row={row} /></div>
              </li>
            ))}
          </ul>
        </>
      )}
    </Card>
  );
}
