// /lab/sweeps/$sweepId: a sweep's progress (finished children / all), the ranking with the
// out-of-sample figure beside the in-sample one (server-sorted), each walk-forward fold's
// choice, and for a sweep over exactly two parameters a heatmap.
import { useMemo, useState } from "react";
import { useQuery } from "@tanstack/react-query";
import { Link, useParams } from "@tanstack/react-router";
import { ArrowLeft } from "lucide-react";
import { Card } from "../../components/Card";
import { EmptyState } from "../../components/EmptyState";
import { PanelStatus, QueryError } from "../../components/PanelStatus";
import { useRoleGate } from "../../lib/roleGate";
import { useTitle } from "../../lib/title";
import { sweepQuery, useJobStream, type SortKey } from "../../queries/lab";
import { CancelJob, Progress } from "../jobs/CancelJob";
import { rangeText, StatusBadge } from "./common";
import { ReviewCard } from "./ReviewCard";
import { count } from "./format";
import { figureText, Heatmap } from "./Heatmap";
import { FIGURES, figureValue, heatmapOf, paramsLabel, parseRanking, parseSpace, type FigureKey, type Figures, type WindowKey } from "./sweep";

const SORTS: { key: SortKey; label: string }[] = [
  { key: "net_pnl", label: "Net PnL" },
  { key: "profit_factor", label: "Profit factor" },
  { key: "trades", label: "Trades" },
  { key: "max_drawdown", label: "Max drawdown" },
  { key: "sharpe", label: "Sharpe" },
  { key: "oos_net_pnl", label: "Out-of-sample net PnL" },
];

const SELECT = "rounded-md border border-line bg-surface-2 px-2 py-1 text-sm";

function FigureCell({ f, k }: { f: Figures | null; k: FigureKey }) {
  const v = figureValue(f, k);
  const cls = k === "net_pnl" && v !== null ? (v > 0 ? "text-ok" : v < 0 ? "text-bad" : "") : "";
  return (
    <td className={`px-2 py-1 text-right tabular-nums ${cls}`} title={f ? (k === "net_pnl" ? `${f.net_pnl} USD` : String(f[k] ?? "none")) : "Not every run of this window has finished"}>
      {figureText(k, v)}
    </td>
  );
}

function parseFolds(raw: unknown): { fold: number; params: Record<string, unknown>; in_sample: Figures | null; out_of_sample: Figures | null; in_sample_backtest_id: string; out_of_sample_backtest_id: string | null }[] {
  if (!Array.isArray(raw)) return [];
  return raw.flatMap((f) => {
    if (!f || typeof f !== "object") return [];
    const r = f as Record<string, unknown>;
    const rows = parseRanking([{ params: r.params, in_sample: r.in_sample, out_of_sample: r.out_of_sample, backtest_ids: [] }]);
    if (typeof r.fold !== "number" || typeof r.in_sample_backtest_id !== "string" || rows.length === 0) return [];
    return [{ fold: r.fold, params: rows[0]!.params, in_sample: rows[0]!.in_sample, out_of_sample: rows[0]!.out_of_sample, in_sample_backtest_id: r.in_sample_backtest_id, out_of_sample_backtest_id: typeof r.out_of_sample_backtest_id === "string" ? r.out_of_sample_backtest_id : null }];
  });
}

export function SweepDetail({ id }: { id: string }) {
  const [sort, setSort] = useState<SortKey | undefined>();
  const [order, setOrder] = useState<"asc" | "desc" | undefined>();
  const [figure, setFigure] = useState<FigureKey>("net_pnl");
  const [win, setWin] = useState<WindowKey>("in_sample");
  const query = useQuery(sweepQuery(id, sort, order));
  const gate = useRoleGate("Cancel", "operator", ["/api/backtests/sweeps/{id}", "/api/jobs/{id}/cancel"]);
  const view = query.data;
  const ranking = useMemo(() => parseRanking(view?.ranking), [view?.ranking]);
  const space = useMemo(() => parseSpace(view?.sweep.space), [view?.sweep.space]);
  const walkForward = Boolean(view?.sweep.walk_forward);
  const grid = useMemo(() => heatmapOf(space, ranking, figure, walkForward ? win : "in_sample"), [space, ranking, figure, win, walkForward]);
  useTitle(view ? `Sweep ${view.sweep.symbol} ${view.sweep.timeframe}` : "Sweep");
  if (query.isPending) return <p className="text-sm text-muted">Loading sweep…</p>;
  if (!view) return <QueryError error={query.error} />;
  const s = view.sweep;
  const c = view.children;
  const folds = parseFolds(view.walk_forward);
  const oos = view.walk_forward_out_of_sample ? parseRanking([{ params: {}, in_sample: view.walk_forward_out_of_sample, backtest_ids: [] }])[0]?.in_sample ?? null : null;
  return (
    <div className="flex flex-col gap-4">
      <div className="flex flex-wrap items-center gap-3">
        <Link to="/lab" className="flex items-center gap-1 text-sm text-muted hover:text-fg">
          <ArrowLeft size={14} aria-hidden /> Lab
        </Link>
        <h1 className="text-xl font-semibold tracking-tight">
          Sweep {s.symbol} {s.timeframe} {s.strategy_kind}
        </h1>
        <StatusBadge status={s.status} />
        <PanelStatus query={query} />
        <div className="ml-auto flex items-center gap-3">
          <Progress job={{ id: s.job_id, progress_pct: s.progress_pct }} />
          <CancelJob job={{ id: s.job_id, kind: "sweep", status: s.status }} gate={gate} also={[["/api/backtests/sweeps/{id}", id], ["/api/backtests/sweeps"]]} label="Cancel sweep" />
        </div>
      </div>
      <p className="text-sm text-muted" data-testid="sweep-summary">
        {rangeText(s.from, s.to)} · {s.mode}
        {s.samples ? ` (${s.samples} samples)` : ""} over {space.map((a) => `${a.name} ∈ {${a.values.join(", ")}}`).join(" × ")} · {count(s.combinations)} combinations
        {s.skipped ? ` (${s.skipped} skipped as invalid)` : ""} · {count(s.backtests)} backtests: {c.succeeded} succeeded, {c.running} running, {c.queued} queued, {c.failed + c.timed_out} failed, {c.cancelled} cancelled · objective {s.objective}
        {s.walk_forward ? ` · walk-forward ${JSON.stringify(s.walk_forward)}` : ""}
      </p>
      {s.error_code && (
        <p role="alert" className="rounded-md border border-bad/40 bg-bad/10 p-3 text-sm">
          {s.error_code}: {s.error}
        </p>
      )}

      <Card
        title="Heatmap"
        actions={
          grid ? (
            <div className="flex items-center gap-2 text-sm">
              <label className="flex items-center gap-1">
                <span className="text-muted">Figure</span>
                <select value={figure} onChange={(e) => setFigure(e.target.value as FigureKey)} className={SELECT}>
                  {FIGURES.map((f) => (
                    <option key={f.key} value={f.key}>
                      {f.label}
                    </option>
                  ))}
                </select>
              </label>
              {walkForward && (
                <label className="flex items-center gap-1">
                  <span className="text-muted">Window</span>
                  <select value={win} onChange={(e) => setWin(e.target.value as WindowKey)} className={SELECT}>
                    <option value="in_sample">In-sample</option>
                    <option value="out_of_sample">Out-of-sample</option>
                  </select>
                </label>
              )}
            </div>
          ) : null
        }
      >
        {grid ? <Heatmap grid={grid} figure={figure} /> : <p className="text-sm text-muted">A heatmap needs a sweep over exactly two parameters; this one sweeps {space.length}.</p>}
      </Card>

      <Card
        title="Ranking"
        actions={
          <div className="flex items-center gap-2 text-sm">
            <label className="flex items-center gap-1">
              <span className="text-muted">Sort by</span>
              <select value={sort ?? view.sort} onChange={(e) => setSort(e.target.value as SortKey)} className={SELECT}>
                {SORTS.filter((o) => walkForward || o.key !== "oos_net_pnl").map((o) => (
                  <option key={o.key} value={o.key}>
                    {o.label}
                  </option>
                ))}
              </select>
            </label>
            <select aria-label="Order" value={order ?? (view.descending ? "desc" : "asc")} onChange={(e) => setOrder(e.target.value as "asc" | "desc")} className={SELECT}>
              <option value="desc">highest first</option>
              <option value="asc">lowest first</option>
            </select>
          </div>
        }
      >
        {ranking.length === 0 ? (
          <EmptyState title="No combinations" reason="The sweep has no ranked combination yet." />
        ) : (
          <div className="relative overflow-x-auto" tabIndex={0}>
            <table aria-label="Sweep ranking" className="w-full text-sm">
              <thead className="text-xs text-muted">
                <tr>
                  <th rowSpan={walkForward ? 2 : 1} className="px-2 py-1 text-left font-medium">
                    #
                  </th>
                  <th rowSpan={walkForward ? 2 : 1} className="px-2 py-1 text-left font-medium">
                    Params
                  </th>
                  {FIGURES.map((f) => (
                    <th key={f.key} colSpan={walkForward ? 2 : 1} className="px-2 py-1 text-right font-medium">
                      {f.label}
                    </th>
                  ))}
                  <th rowSpan={walkForward ? 2 : 1} className="px-2 py-1 font-medium">
                    <span className="sr-only">Runs</span>
                  </th>
                </tr>
                {walkForward && (
                  <tr>
                    {FIGURES.map((f) => [
                      <th key={`${f.key}-is`} className="px-2 py-1 text-right font-normal">
                        in-sample
                      </th>,
                      <th key={`${f.key}-oos`} className="px-2 py-1 text-right font-normal">
                        out-of-sample
                      </th>,
                    ])}
                  </tr>
                )}
              </thead>
              <tbody>
                {ranking.map((r, i) => (
                  <tr key={paramsLabel(r.params)} className="border-t border-line" data-testid="ranking-row">
                    <td className="px-2 py-1 tabular-nums">{i + 1}</td>
                    <td className="px-2 py-1 font-mono text-xs">{paramsLabel(r.params)}</td>
                    {FIGURES.map((f) => (walkForward ? [<FigureCell key={`${f.key}-is`} f={r.in_sample} k={f.key} />, <FigureCell key={`${f.key}-oos`} f={r.out_of_sample} k={f.key} />] : <FigureCell key={f.key} f={r.in_sample} k={f.key} />))}
                    <td className="px-2 py-1 text-xs whitespace-nowrap">
                      {r.backtest_ids.slice(0, 4).map((bid, j) => (
                        <Link key={bid} to="/lab/backtests/$backtestId" params={{ backtestId: bid }} className="mr-2 text-accent hover:underline">
                          run {j + 1}
                        </Link>
                      ))}
                      {r.backtest_ids.length > 4 && <span className="text-muted">+{r.backtest_ids.length - 4}</span>}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
        <p className="mt-2 text-xs text-muted">
          {walkForward ? "In-sample: the folds' in-sample windows combined; out-of-sample: the folds' out-of-sample windows combined (PnL and trades add up, the deepest drawdown counts, ratios are the folds' mean). " : "Each combination over the whole range. "}
          A figure shows once every run of its window has finished. Open a run to see it in full or create a bot from it.
        </p>
      </Card>

      {walkForward && (
        <Card title="Walk-forward: each fold's choice">
          {folds.length === 0 ? (
            <p className="text-sm text-muted">No fold has a finished in-sample run yet.</p>
          ) : (
            <table aria-label="Walk-forward folds" className="w-full text-sm">
              <thead className="text-xs text-muted">
                <tr>
                  <th className="px-2 py-1 text-left font-medium">Fold</th>
                  <th className="px-2 py-1 text-left font-medium">Chosen in-sample by {s.objective}</th>
                  <th className="px-2 py-1 text-right font-medium">In-sample net PnL</th>
                  <th className="px-2 py-1 text-right font-medium">Out-of-sample net PnL</th>
                  <th className="px-2 py-1 text-right font-medium">Out-of-sample trades</th>
                </tr>
              </thead>
              <tbody>
                {folds.map((f) => (
                  <tr key={f.fold} className="border-t border-line">
                    <td className="px-2 py-1">{f.fold}</td>
                    <td className="px-2 py-1 font-mono text-xs">
                      <Link to="/lab/backtests/$backtestId" params={{ backtestId: f.in_sample_backtest_id }} className="text-accent hover:underline">
                        {paramsLabel(f.params as Record<string, string>)}
                      </Link>
                    </td>
                    <FigureCell f={f.in_sample} k="net_pnl" />
                    <FigureCell f={f.out_of_sample} k="net_pnl" />
                    <FigureCell f={f.out_of_sample} k="trades" />
                  </tr>
                ))}
              </tbody>
              {oos && (
                <tfoot>
                  <tr className="border-t border-line font-medium">
                    <td className="px-2 py-1" colSpan={3}>
                      Out of sample over every fold
                    </td>
                    <FigureCell f={oos} k="net_pnl" />
                    <FigureCell f={oos} k="trades" />
                  </tr>
                </tfoot>
              )}
            </table>
          )}
        </Card>
      )}

      <ReviewCard subject="sweep" id={s.id} status={s.status} />
    </div>
  );
}

/** Route component for /lab/sweeps/$sweepId. */
export function SweepPage() {
  useJobStream();
  const { sweepId } = useParams({ strict: false }) as { sweepId?: string };
  if (!sweepId) return <EmptyState title="No sweep selected" reason="The address names no sweep id." />;
  return <SweepDetail id={sweepId} />;
}
