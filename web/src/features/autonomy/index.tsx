// The Autonomy tab (/autonomy): bots per tier (system status) and a quick list of the bots with
// score, tier and their first failing gate. The gates are only in each bot's autonomy-score, so
// the list reads one score per bot shown (it says so) and pages bots 25 at a time. Score and
// tier come from the list's own `summary.autonomy` until each bot's score has loaded.
import { useMemo } from "react";
import { Link } from "@tanstack/react-router";
import { useInfiniteQuery, useQueries } from "@tanstack/react-query";
import { api, unwrap } from "../../api/client";
import { Badge } from "../../components/Badge";
import { Button } from "../../components/Button";
import { Card } from "../../components/Card";
import { EmptyState } from "../../components/EmptyState";
import { PanelStatus, QueryError } from "../../components/PanelStatus";
import { TraceId } from "../../components/TraceId";
import { isApiError } from "../../api/errors";
import { POLL } from "../../lib/queryClient";
import { freshForMs, queryFreshness } from "../../lib/freshness";
import { ago, parseTime, useNow } from "../../lib/time";
import { cn } from "../../lib/cn";
import { autonomyScoreQuery, gateLabel, parseBreakdown, TIERS, tierRank } from "../../queries/autonomy";
import { useSystemStatus } from "../../queries/status";
import { usePatchSearch, useSearchParams } from "../bots/traces/search";
import { botStatusTone } from "../bots/traces/verdict";
import { AutonomyCompact } from "./AutonomyScore";
import { TierBadge } from "./TierBadge";
import { useTitle } from "../../lib/title";

export const BOTS_PAGE = 25;

function TierCounts() {
  const status = useSystemStatus();
  const counts = status.data?.bots.byAutonomyTier ?? null;
  const total = counts ? TIERS.reduce((n, t) => n + counts[t], 0) : null;
  return (
    <Card title="Bots per tier" status={<PanelStatus query={status} />}>
      {status.isError && !status.data && <QueryError error={status.error} />}
      {status.data && !counts ? (
        <EmptyState title="Tier counts unknown" reason="The system status did not include bots per tier (the database could not be read for it). The counts are not guessed." />
      ) : (
        <div className="grid grid-cols-2 gap-3 md:grid-cols-4" aria-label="Bots per autonomy tier">
          {[...TIERS].reverse().map((tier) => (
            <div key={tier} className="flex flex-col gap-2 rounded-md border border-line bg-surface-2/40 p-3" data-testid={`tier-count-${tier}`}>
              <span className="self-start">
                <TierBadge tier={tier} />
              </span>
              <span className="text-2xl font-semibold tabular-nums">{counts ? counts[tier] : "—"}</span>
            </div>
          ))}
        </div>
      )}
      {total !== null && (
        <p className="mt-3 text-xs text-muted">
          {total} bot{total === 1 ? "" : "s"} in all. Bots never scored count as LOCKED.
        </p>
      )}
    </Card>
  );
}

const SORTS = {
  "score-asc": "Score, lowest first",
  "score-desc": "Score, highest first",
  name: "Name",
} as const;
type Sort = keyof typeof SORTS;

function BotList() {
  const search = useSearchParams();
  const patch = usePatchSearch();
  const now = useNow(5000);
  const tierFilter = search.tier && (TIERS as readonly string[]).includes(search.tier) ? search.tier : null;
  const sort: Sort = search.sort && search.sort in SORTS ? (search.sort as Sort) : "score-asc";
  const bots = useInfiniteQuery({
    queryKey: ["/api/bots", { limit: BOTS_PAGE }],
    queryFn: ({ pageParam }) => unwrap(api.GET("/api/bots", { params: { query: { limit: BOTS_PAGE, cursor: pageParam } } })),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (last) => last.next_cursor ?? undefined,
    refetchInterval: POLL.normal,
    meta: { critical: true, label: "Bots" },
  });
  const items = useMemo(() => {
    const seen = new Set<string>();
    return (bots.data?.pages ?? []).flatMap((p) => p.items).filter((b) => !seen.has(b.id) && (seen.add(b.id), true));
  }, [bots.data]);
  const scores = useQueries({ queries: items.map((b) => ({ ...autonomyScoreQuery(b.id, POLL.slow), meta: { critical: false } })) });

  const rows = items.map((b, i) => {
    const q = scores[i]!;
    const row = q.data?.autonomy_score ?? null;
    const sum = b.summary?.autonomy ?? null;
    const gates = row ? parseBreakdown(row.breakdown).gates : null;
    // Gates are last-known (muted, with why) once the score's refetch failed or its answer is old.
    const f = queryFreshness(q, now, freshForMs(POLL.slow));
    return {
      bot: b,
      q,
      lastKnown: gates !== null && f.stale ? (f.reason ?? "not current") : null,
      score: row?.autonomy_score ?? sum?.score ?? null,
      tier: row?.autonomy_tier ?? sum?.tier ?? null,
      computedAt: row?.last_updated_at ?? sum?.computed_at ?? null,
      gates,
      firstFailing: gates?.find((g) => !g.passed) ?? null,
      unscoredReason: q.data && !row ? (q.data.no_score_reason ?? "not scored yet") : null,
    };
  });
  const shown = rows
    .filter((r) => !tierFilter || (r.tier ?? "LOCKED") === tierFilter)
    .sort((a, b) => {
      if (sort === "name") return a.bot.name.localeCompare(b.bot.name);
      const sa = a.score ?? -1;
      const sb = b.score ?? -1;
      return sort === "score-asc" ? sa - sb || tierRank(a.tier) - tierRank(b.tier) : sb - sa || tierRank(b.tier) - tierRank(a.tier);
    });

  const filters = (
    <div className="flex flex-wrap items-center gap-2">
      <div className="inline-flex max-w-full flex-wrap overflow-hidden rounded-md border border-line" role="group" aria-label="Filter by tier">
        {[null, ...TIERS].map((t) => (
          <button
            key={t ?? "all"}
            type="button"
            aria-pressed={tierFilter === t}
            onClick={() => patch({ tier: t ?? undefined })}
            className={cn(
              "border-r border-line px-2 py-1 font-mono text-xs last:border-r-0",
              tierFilter === t ? "bg-accent text-on-accent" : "bg-surface-2 hover:bg-surface",
            )}
          >
            {t ?? "All"}
          </button>
        ))}
      </div>
      <label className="flex items-center gap-1 text-xs">
        Sort
        <select
          value={sort}
          onChange={(e) => patch({ sort: e.target.value === "score-asc" ? undefined : e.target.value })}
          className="rounded border border-line bg-surface-2 px-1.5 py-0.5"
        >
          {Object.entries(SORTS).map(([k, label]) => (
            <option key={k} value={k}>
              {label}
            </option>
          ))}
        </select>
      </label>
    </div>
  );

  return (
    <Card title="Bots" status={<PanelStatus query={bots} />} actions={filters}>
      {bots.isError && <QueryError error={bots.error} />}
      {bots.isPending ? (
        <p className="text-sm text-muted">Loading bots…</p>
      ) : items.length === 0 && bots.isSuccess ? (
        <EmptyState title="No bots" reason="No bot has been created yet, so there is nothing to score. Create one on the Bots tab." />
      ) : (
        items.length > 0 && (
          <div className="flex flex-col gap-3">
            <div className="relative overflow-x-auto" tabIndex={0}>
              <table className="tp-table text-sm" aria-label="Bots by autonomy">
                <thead>
                  <tr>
                    <th scope="col">Bot</th>
                    <th scope="col">Stage</th>
                    <th scope="col">Status</th>
                    <th scope="col">Autonomy</th>
                    <th scope="col">Computed</th>
                    <th scope="col">Gates</th>
                    <th scope="col">First failing gate</th>
                  </tr>
                </thead>
                <tbody>
                  {shown.map((r) => {
                    const computed = parseTime(r.computedAt);
                    return (
                      <tr key={r.bot.id} data-bot={r.bot.id}>
                        <td>
                          <Link to="/bots/$botId" params={{ botId: r.bot.id }} className="font-medium text-accent hover:underline">
                            {r.bot.name}
                          </Link>
                          <div className="text-xs text-muted">
                            {r.bot.symbol} · {r.bot.timeframe}
                          </div>
                        </td>
                        <td className="font-mono text-xs">{r.bot.stage}</td>
                        <td>
                          <Badge tone={botStatusTone(r.bot.status)}>{r.bot.status}</Badge>
                        </td>
                        <td>
                          <AutonomyCompact score={r.score} tier={r.tier} />
                          {r.unscoredReason && <div className="mt-0.5 max-w-[220px] text-xs text-muted">{r.unscoredReason}</div>}
                        </td>
                        <td className="text-xs whitespace-nowrap text-muted" title={r.computedAt ?? undefined}>
                          {computed !== null ? ago(computed, now) : "—"}
                        </td>
                        <td className="text-xs whitespace-nowrap">
                          {r.gates && r.lastKnown ? (
                            <span className="inline-flex flex-col gap-0.5 text-muted" data-testid="gates-last-known" title={`Last known: ${r.lastKnown}`}>
                              <span>last known: {r.gates.filter((g) => g.passed).length} of {r.gates.length} passed</span>
                              {r.q.isError ? <ScoreError error={r.q.error} /> : <span>{r.lastKnown}</span>}
                            </span>
                          ) : r.gates ? (
                            `${r.gates.filter((g) => g.passed).length} of ${r.gates.length} pass`
                          ) : r.q.isError ? (
                            <ScoreError error={r.q.error} />
                          ) : r.q.isPending ? (
                            <span className="text-muted">loading…</span>
                          ) : (
                            <span className="text-muted">—</span>
                          )}
                        </td>
                        <td className="text-xs">
                          {r.firstFailing ? (
                            <span title={r.firstFailing.fix ?? undefined} className={cn(r.lastKnown && "text-muted")}>
                              {r.lastKnown && <span className="block">last known:</span>}
                              <span className={cn("font-medium", !r.lastKnown && "text-bad")}>{gateLabel(r.firstFailing.gate)}</span>
                              {r.firstFailing.fix && <span className="block text-muted">{r.firstFailing.fix}</span>}
                            </span>
                          ) : r.gates && r.lastKnown ? (
                            <span className="text-muted" data-testid="first-failing-last-known" title={`Last known: ${r.lastKnown}`}>
                              last known: {r.gates.length > 0 ? "every gate passed" : "no gates recorded"} (not current: {r.lastKnown})
                            </span>
                          ) : r.gates ? (
                            r.gates.length > 0 ? <span className="text-ok">none: every gate passes</span> : <span className="text-muted">no gates recorded</span>
                          ) : (
                            <span className="text-muted">—</span>
                          )}
                        </td>
                      </tr>
                    );
                  })}
                </tbody>
              </table>
            </div>
            {shown.length === 0 && (
              <p className="text-sm text-muted">
                None of the {items.length} loaded bots is <span className="font-mono">{tierFilter}</span>.
              </p>
            )}
            <div className="flex flex-wrap items-center gap-3 text-xs text-muted">
              <span>
                {items.length} bot{items.length === 1 ? "" : "s"} loaded
                {bots.hasNextPage ? ` (${BOTS_PAGE} per page)` : " — that is all of them"}. Gates come from each bot's autonomy score: one
                request per bot shown ({items.length}). Filter and sort apply to the loaded bots.
              </span>
              {bots.hasNextPage && (
                <Button size="sm" onClick={() => void bots.fetchNextPage()} disabled={bots.isFetchingNextPage}>
                  {bots.isFetchingNextPage ? "Loading…" : "Load more"}
                </Button>
              )}
            </div>
            {bots.isFetchNextPageError && <QueryError error={bots.error} />}
          </div>
        )
      )}
    </Card>
  );
}

function ScoreError({ error }: { error: unknown }) {
  const e = isApiError(error) ? error : null;
  return (
    <span className="inline-flex flex-col gap-0.5">
      <Badge tone="bad">{e?.code ?? "ERROR"}</Badge>
      {e?.traceId && <TraceId id={e.traceId} short />}
    </span>
  );
}

/** /autonomy: tier counts and the per-bot quick list. */
export function AutonomyPage() {
  useTitle("Autonomy");
  return (
    <div className="flex flex-col gap-4">
      <header>
        <h1 className="text-xl font-semibold">Autonomy</h1>
        <p className="text-sm text-muted">
          How far each bot can be trusted on its own: a 0–100 score from five sub-scores, and a tier that also needs its gates to pass.
        </p>
      </header>
      <TierCounts />
      <BotList />
    </div>
  );
}
