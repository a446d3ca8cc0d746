// /lab: the Strategy Lab. Backtests and sweeps with their state and live progress (the job
// events of the live stream; polled every 2 s only while that stream is down), Cancel for operators, "New backtest" (a drawer), and a
// pick of 2–4 finished runs to compare.
import { useState } from "react";
import { useQuery } from "@tanstack/react-query";
import { Link, useNavigate, useSearch } from "@tanstack/react-router";
import { FlaskConical } from "lucide-react";
import { Button } from "../../components/Button";
import { Card } from "../../components/Card";
import { Drawer } from "../../components/Drawer";
import { EmptyState } from "../../components/EmptyState";
import { PanelStatus, QueryError } from "../../components/PanelStatus";
import { useRoleGate } from "../../lib/roleGate";
import { useTitle } from "../../lib/title";
import { ago, formatTime, parseTime, useNow } from "../../lib/time";
import type { EventSourceFactory } from "../../queries/events";
import { backtestsQuery, sweepsQuery, useJobStream, type Backtest } from "../../queries/lab";
import { Pager, useCursor } from "../bots/Pager";
import { CancelJob, Progress } from "../jobs/CancelJob";
import { BacktestForm } from "./BacktestForm";
import { rangeText, StatusBadge, strategyText } from "./common";
import { count, metricsOf, signedMoney } from "./format";
import { pnlClass } from "../bots/format";

export const MAX_COMPARE = 4;

function When({ iso, now }: { iso: string | null | undefined; now: number }) {
  const t = parseTime(iso);
  if (t === null) return <span className="text-muted">—</span>;
  return (
    <time dateTime={iso ?? undefined} title={formatTime(iso)} className="text-xs whitespace-nowrap">
      {ago(t, now)}
    </time>
  );
}

const REFRESH = [["/api/backtests"], ["/api/backtests/sweeps"]];

function BacktestsTable({ gate, now }: { gate: string | null; now: number }) {
  const navigate = useNavigate();
  const paging = useCursor();
  const list = useQuery(backtestsQuery({ cursor: paging.cursor }));
  const [picked, setPicked] = useState<string[]>([]);
  const items = list.data?.items ?? [];
  const toggle = (b: Backtest) => setPicked((p) => (p.includes(b.id) ? p.filter((x) => x !== b.id) : p.length >= MAX_COMPARE ? p : [...p, b.id]));
  const compareReason = picked.length < 2 ? "Pick 2 to 4 finished backtests to compare" : null;
  return (
    <Card
      title="Backtests"
      status={<PanelStatus query={list} />}
      actions={
        <Button
          size="sm"
          disabledReason={compareReason}
          onClick={() => void navigate({ to: "/lab/compare", search: { ids: picked.join(",") } })}
        >
          Compare {picked.length > 0 ? `(${picked.length})` : ""}
        </Button>
      }
    >
      {list.isPending && <p className="text-sm text-muted">Loading backtests…</p>}
      {list.isError && !list.data && <QueryError error={list.error} />}
      {list.data && items.length === 0 && <EmptyState title="No backtests yet" reason="Run one with New backtest: it is queued as a job and its progress shows here." />}
      {items.length > 0 && (
        <div className="relative overflow-x-auto" tabIndex={0}>
          <table aria-label="Backtests" className="w-full text-sm">
            <thead className="text-left text-xs text-muted">
              <tr>
                <th className="px-2 py-2 font-medium">
                  <span className="sr-only">Compare</span>
                </th>
                <th className="px-2 py-2 font-medium">Run</th>
                <th className="px-2 py-2 font-medium">Range</th>
                <th className="px-2 py-2 font-medium">State</th>
                <th className="px-2 py-2 font-medium">Progress</th>
                <th className="px-2 py-2 text-right font-medium">Net PnL</th>
                <th className="px-2 py-2 text-right font-medium">Trades</th>
                <th className="px-2 py-2 font-medium">Created</th>
                <th className="px-2 py-2 font-medium">
                  <span className="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {items.map((b) => {
                const m = metricsOf(b.metrics);
                return (
                  <tr key={b.id} className="border-t border-line align-top" data-testid={`backtest-${b.id}`}>
                    <td className="px-2 py-2">
                      <input
                        type="checkbox"
                        aria-label={`Compare backtest ${b.id}`}
                        checked={picked.includes(b.id)}
                        disabled={b.status !== "SUCCEEDED" || (!picked.includes(b.id) && picked.length >= MAX_COMPARE)}
                        title={b.status !== "SUCCEEDED" ? "Only finished (SUCCEEDED) backtests have results to compare" : undefined}
                        onChange={() => toggle(b)}
                      />
                    </td>
                    <td className="px-2 py-2">
                      <Link to="/lab/backtests/$backtestId" params={{ backtestId: b.id }} className="font-medium text-accent hover:underline">
                        {b.symbol} {b.timeframe}
                      </Link>
                      <span className="block text-xs text-muted">{strategyText(b.strategy_kind, b.strategy_params)}</span>
                    </td>
                    <td className="px-2 py-2 text-xs whitespace-nowrap">{rangeText(b.from, b.to)}</td>
                    <td className="px-2 py-2">
                      <StatusBadge status={b.status} />
                      {b.error_code && <span className="block font-mono text-[11px] text-muted">{b.error_code}</span>}
                    </td>
                    <td className="px-2 py-2">
                      <Progress job={{ id: b.job_id, progress_pct: b.progress_pct }} />
                    </td>
                    <td className={`px-2 py-2 text-right tabular-nums ${m ? pnlClass(Number(m.net_pnl)) : "text-muted"}`} title={m ? `${m.net_pnl} USD` : "No result yet"}>
                      {m ? signedMoney(m.net_pnl) : "—"}
                    </td>
                    <td className="px-2 py-2 text-right tabular-nums">{m ? count(m.trades) : "—"}</td>
                    <td className="px-2 py-2">
                      <When iso={b.created_at} now={now} />
                    </td>
                    <td className="px-2 py-2 text-right">
                      <CancelJob job={{ id: b.job_id, kind: "backtest", status: b.status }} gate={gate} also={REFRESH} label={`Cancel backtest ${b.id}`} />
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
      <Pager label="Backtests" first={paging.first} nextCursor={list.data?.next_cursor} onNext={paging.next} onPrevious={paging.previous} />
    </Card>
  );
}

function SweepsTable({ gate, now }: { gate: string | null; now: number }) {
  const paging = useCursor();
  const list = useQuery(sweepsQuery({ cursor: paging.cursor }));
  const items = list.data?.items ?? [];
  return (
    <Card title="Sweeps" status={<PanelStatus query={list} />}>
      {list.isPending && <p className="text-sm text-muted">Loading sweeps…</p>}
      {list.isError && !list.data && <QueryError error={list.error} />}
      {list.data && items.length === 0 && <EmptyState title="No sweeps yet" reason="Tick Sweep parameters in New backtest and list several values for a parameter." />}
      {items.length > 0 && (
        <div className="relative overflow-x-auto" tabIndex={0}>
          <table aria-label="Sweeps" className="w-full text-sm">
            <thead className="text-left text-xs text-muted">
              <tr>
                <th className="px-2 py-2 font-medium">Sweep</th>
                <th className="px-2 py-2 font-medium">Range</th>
                <th className="px-2 py-2 text-right font-medium">Backtests</th>
                <th className="px-2 py-2 font-medium">State</th>
                <th className="px-2 py-2 font-medium">Progress</th>
                <th className="px-2 py-2 font-medium">Created</th>
                <th className="px-2 py-2 font-medium">
                  <span className="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {items.map((s) => (
                <tr key={s.id} className="border-t border-line align-top" data-testid={`sweep-${s.id}`}>
                  <td className="px-2 py-2">
                    <Link to="/lab/sweeps/$sweepId" params={{ sweepId: s.id }} className="font-medium text-accent hover:underline">
                      {s.symbol} {s.timeframe} {s.strategy_kind}
                    </Link>
                    <span className="block text-xs text-muted">
                      {s.mode}
                      {s.walk_forward ? ", walk-forward" : ""}, by {s.objective}
                    </span>
                  </td>
                  <td className="px-2 py-2 text-xs whitespace-nowrap">{rangeText(s.from, s.to)}</td>
                  <td className="px-2 py-2 text-right tabular-nums" title={`${s.combinations} combinations${s.skipped ? `, ${s.skipped} skipped as invalid` : ""}`}>
                    {count(s.backtests)}
                  </td>
                  <td className="px-2 py-2">
                    <StatusBadge status={s.status} />
                    {s.error_code && <span className="block font-mono text-[11px] text-muted">{s.error_code}</span>}
                  </td>
                  <td className="px-2 py-2">
                    <Progress job={{ id: s.job_id, progress_pct: s.progress_pct }} />
                  </td>
                  <td className="px-2 py-2">
                    <When iso={s.created_at} now={now} />
                  </td>
                  <td className="px-2 py-2 text-right">
                    <CancelJob job={{ id: s.job_id, kind: "sweep", status: s.status }} gate={gate} also={REFRESH} label={`Cancel sweep ${s.id}`} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <Pager label="Sweeps" first={paging.first} nextCursor={list.data?.next_cursor} onNext={paging.next} onPrevious={paging.previous} />
    </Card>
  );
}

export function LabPage({ eventSourceFactory }: { eventSourceFactory?: EventSourceFactory } = {}) {
  useTitle("Strategy Lab");
  useJobStream(eventSourceFactory);
  // ?bot=<id> (the bot page's "Backtest this bot") opens the form on that bot.
  const search = useSearch({ strict: false }) as { bot?: string };
  const [open, setOpen] = useState(Boolean(search.bot));
  const runGate = useRoleGate("Running a backtest", "operator", ["/api/backtests"]);
  const cancelGate = useRoleGate("Cancel", "operator", ["/api/backtests", "/api/jobs/{id}/cancel"]);
  const now = useNow(5000);
  return (
    <div className="flex flex-col gap-4">
      <div className="flex flex-wrap items-center gap-3">
        <h1 className="flex items-center gap-2 text-xl font-semibold tracking-tight">
          <FlaskConical size={20} aria-hidden /> Strategy Lab
        </h1>
        <span className="text-sm text-muted">Backtests and parameter sweeps run as jobs on the same engine as the bots.</span>
        <Button variant="primary" className="ml-auto" onClick={() => setOpen(true)}>
          New backtest
        </Button>
      </div>
      {cancelGate && (
        <p className="text-xs text-warn" data-testid="cancel-gate">
          Cancel unavailable: {cancelGate}
        </p>
      )}
      <BacktestsTable gate={cancelGate} now={now} />
      <SweepsTable gate={cancelGate} now={now} />
      {open && (
        <Drawer title="New backtest" onClose={() => setOpen(false)} width={640}>
          <BacktestForm gate={runGate} nowMs={now} botId={search.bot} />
        </Drawer>
      )}
    </div>
  );
}
