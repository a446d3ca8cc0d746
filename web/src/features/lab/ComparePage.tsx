// /lab/compare?ids=a,b[,c,d]: 2–4 backtests side by side — their inputs, every metric (the best
// of each row marked) and their equity overlaid on one time axis.
import { useMemo } from "react";
import { useQueries } from "@tanstack/react-query";
import { Link, useSearch } from "@tanstack/react-router";
import { ArrowLeft } from "lucide-react";
import { Card } from "../../components/Card";
import { EmptyState } from "../../components/EmptyState";
import { QueryError } from "../../components/PanelStatus";
import { useTitle } from "../../lib/title";
import { backtestQuery } from "../../queries/lab";
import { TimeChart, type Token } from "../ai-ops/TimeChart";
import { rangeText, StatusBadge, strategyText } from "./common";
import { bestIndex, compactMoney, metricCells, metricsOf, money } from "./format";
import { MAX_COMPARE } from "./LabPage";
import { alignSteps, curveOf } from "./series";

const TOKENS: Token[] = ["accent", "warn", "ok", "info"];

/** The ids of `?ids=`: unique, at most four. */
export function compareIds(raw: string | undefined): string[] {
  return [...new Set((raw ?? "").split(",").map((s) => s.trim()).filter(Boolean))].slice(0, MAX_COMPARE);
}

export function ComparePage() {
  useTitle("Compare backtests");
  const search = useSearch({ strict: false }) as { ids?: string };
  const ids = compareIds(search.ids);
  // Fewer than two runs is no comparison: nothing is fetched.
  const queries = useQueries({ queries: ids.length >= 2 ? ids.map((id) => backtestQuery(id)) : [] });
  const runs = queries.map((q) => q.data?.backtest ?? null);
  const labels = runs.map((b, i) => (b ? `#${i + 1} ${b.symbol} ${b.timeframe} ${b.strategy_kind}` : `#${i + 1}`));
  const stamp = queries.map((q) => q.dataUpdatedAt).join(",");
  const overlay = useMemo(() => {
    const curves = runs.map((b) => (b ? curveOf(b.equity_curve, "equity") : []));
    const aligned = alignSteps(curves);
    return { xs: aligned.xs, series: aligned.values.map((values, i) => ({ label: labels[i]!, values, token: TOKENS[i % TOKENS.length]!, kind: "line" as const })) };
    // eslint-disable-next-line react-hooks/exhaustive-deps -- recomputed when a run's data changes
  }, [stamp]);
  if (ids.length < 2) {
    return <EmptyState title="Pick 2 to 4 backtests" reason="Tick 2 to 4 finished backtests in the Lab's list, then Compare." action={<Link to="/lab" className="text-accent hover:underline">Back to the Lab</Link>} />;
  }
  const metrics = runs.map((b) => (b ? metricsOf(b.metrics) : null));
  const cells = metrics.map((m) => (m ? metricCells(m) : null));
  const rows = (cells.find(Boolean) ?? []).map((c) => c.key);
  return (
    <div className="flex flex-col gap-4">
      <div className="flex flex-wrap items-center gap-3">
        <Link to="/lab" className="flex items-center gap-1 text-sm text-muted hover:text-fg">
          <ArrowLeft size={14} aria-hidden /> Lab
        </Link>
        <h1 className="text-xl font-semibold tracking-tight">Compare {ids.length} backtests</h1>
      </div>
      {queries.map((q, i) => (q.isError ? <QueryError key={ids[i]} error={q.error} /> : null))}
      <Card title="Metrics side by side">
        <div className="relative overflow-x-auto" tabIndex={0}>
          <table aria-label="Compared metrics" className="w-full text-sm">
            <thead className="text-left text-xs text-muted">
              <tr>
                <th className="px-2 py-1 font-medium">Run</th>
                {runs.map((b, i) => (
                  <th key={ids[i]} className="px-2 py-1 align-top font-medium">
                    <Link to="/lab/backtests/$backtestId" params={{ backtestId: ids[i]! }} className="text-accent hover:underline">
                      {labels[i]}
                    </Link>
                    {b && (
                      <span className="block font-normal">
                        {strategyText(b.strategy_kind, b.strategy_params)}
                        <br />
                        {rangeText(b.from, b.to)}, {b.slippage_ticks} tick slippage, {money(b.commission_per_side)}/fill, {money(b.starting_capital)}
                        <br />
                        <StatusBadge status={b.status} />
                      </span>
                    )}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {rows.map((key) => {
                const row = cells.map((cs) => cs?.find((c) => c.key === key) ?? null);
                const label = row.find(Boolean)?.label ?? key;
                const best = bestIndex(row.map((c) => c?.value ?? null), row.find(Boolean)?.better ?? null);
                return (
                  <tr key={key} className="border-t border-line" data-testid={`compare-${key}`}>
                    <th scope="row" className="px-2 py-1 text-left font-medium text-muted">
                      {label}
                    </th>
                    {row.map((c, i) => (
                      <td key={ids[i]} className={`px-2 py-1 tabular-nums ${best === i ? "font-semibold text-ok" : ""}`} title={c?.title ?? "No result"}>
                        {c?.text ?? "—"}
                        {best === i && <span className="sr-only"> (best)</span>}
                      </td>
                    ))}
                  </tr>
                );
              })}
            </tbody>
          </table>
          {rows.length === 0 && <p className="text-sm text-muted">None of these runs has results yet.</p>}
        </div>
        <p className="mt-2 text-xs text-muted">The best value of each row is green (higher is better, except commissions and drawdown); no mark on a tie.</p>
      </Card>
      <Card title="Equity overlaid (USD)">
        <TimeChart title="Equity" xs={overlay.xs} series={overlay.series} format={(v) => money(v)} axisFormat={compactMoney} height={300} empty={overlay.xs.length === 0 ? "No equity curves to draw yet." : null} />
        <p className="mt-2 text-xs text-muted">Each run's equity holds its value until its next point; a run has no line outside its own range.</p>
      </Card>
    </div>
  );
}
