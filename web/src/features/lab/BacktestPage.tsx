// /lab/backtests/$backtestId: one backtest. While queued or running: its state and live
// progress (polled every 2 s) and Cancel. Once SUCCEEDED: metric cards (units, exact values as
// tooltips), equity and drawdown on a time axis, the price with entries and exits, trades with
// CSV export, no-trade reasons by code, and "Create bot from this result".
import { useMemo, useState } from "react";
import { useQuery } from "@tanstack/react-query";
import { Link, useParams } from "@tanstack/react-router";
import { ArrowLeft, Download } from "lucide-react";
import { ActionError } from "../../components/ActionError";
import { Button } from "../../components/Button";
import { Card } from "../../components/Card";
import { DetailRow } from "../../components/DetailList";
import { EmptyState } from "../../components/EmptyState";
import { PanelStatus, QueryError } from "../../components/PanelStatus";
import { BotName } from "../../components/BotName";
import { useRoleGate } from "../../lib/roleGate";
import { useTitle } from "../../lib/title";
import { formatTime } from "../../lib/time";
import { ReviewCard } from "./ReviewCard";
import { backtestQuery, isActive, useCreateBotFromBacktest, useJobStream, type Backtest } from "../../queries/lab";
import { pnlClass, price } from "../bots/format";
import { EquityChart } from "../bots/EquityCurve";
import { TimeChart } from "../ai-ops/TimeChart";
import { CancelJob, Progress } from "../jobs/CancelJob";
import { rangeText, StatusBadge, strategyText } from "./common";
import { csvFileName, downloadText, tradesCsv, type BacktestTrade } from "./csv";
import { count, metricCells, metricsOf, money, signedMoney, type MetricCell } from "./format";
import { PriceChart } from "./PriceChart";
import { curveOf } from "./series";

const TONE_CLASS: Record<MetricCell["tone"], string> = { gain: "text-ok", loss: "text-bad", plain: "" };

export function MetricCards({ cells }: { cells: MetricCell[] }) {
  return (
    <dl className="grid grid-cols-2 gap-3 sm:grid-cols-4 lg:grid-cols-7" aria-label="Metrics">
      {cells.map((c) => (
        <div key={c.key} className="rounded-lg border border-line bg-surface p-3" data-testid={`metric-${c.key}`}>
          <dt className="text-xs text-muted">{c.label}</dt>
          <dd className={`mt-1 text-lg font-semibold tabular-nums ${TONE_CLASS[c.tone]}`} title={c.title}>
            {c.text}
          </dd>
        </div>
      ))}
    </dl>
  );
}

/** Suppressed evaluations by no-trade reason code, most frequent first. */
export function noTradeRows(raw: unknown): [string, number][] {
  if (!raw || typeof raw !== "object") return [];
  return Object.entries(raw as Record<string, unknown>)
    .filter((e): e is [string, number] => typeof e[1] === "number")
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
}

function NoTradeReasons({ raw }: { raw: unknown }) {
  const rows = noTradeRows(raw);
  const total = rows.reduce((s, r) => s + r[1], 0);
  return (
    <Card title="No-trade reasons">
      {rows.length === 0 ? (
        <p className="text-sm text-muted">No evaluation was suppressed: every bar either traded or had no signal.</p>
      ) : (
        <table aria-label="No-trade reasons" className="w-full text-sm">
          <thead className="text-left text-xs text-muted">
            <tr>
              <th className="py-1 font-medium">Reason code</th>
              <th className="py-1 text-right font-medium">Evaluations</th>
              <th className="py-1 text-right font-medium">Share</th>
            </tr>
          </thead>
          <tbody>
            {rows.map(([code, n]) => (
              <tr key={code} className="border-t border-line">
                <td className="py-1 font-mono text-xs">{code}</td>
                <td className="py-1 text-right tabular-nums">{count(n)}</td>
                <td className="py-1 text-right whitespace-nowrap tabular-nums">{total ? `${((n / total) * 100).toFixed(1)} %` : "—"}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Card>
  );
}

function TradesCard({ backtest, trades }: { backtest: Backtest; trades: BacktestTrade[] }) {
  return (
    <Card
      title={`Trades (${count(trades.length)})`}
      actions={
        <Button size="sm" disabledReason={trades.length === 0 ? "No trades to export" : null} onClick={() => downloadText(tradesCsv(trades), csvFileName(backtest))}>
          <Download size={13} aria-hidden /> Export CSV
        </Button>
      }
    >
      {trades.length === 0 ? (
        <EmptyState title="No trades" reason="The strategy never completed a round trip in this range: see the no-trade reasons." />
      ) : (
        <div className="relative max-h-96 overflow-auto" tabIndex={0}>
          <table className="tp-table" aria-label="Backtest trades">
            <thead>
              <tr>
                <th>#</th>
                <th>Side</th>
                <th>Qty</th>
                <th>Entry</th>
                <th>Entry price</th>
                <th>Exit</th>
                <th>Exit price</th>
                <th>Gross</th>
                <th>Commission</th>
                <th>Net</th>
              </tr>
            </thead>
            <tbody>
              {trades.map((t) => (
                <tr key={t.seq}>
                  <td className="tabular-nums">{t.seq}</td>
                  <td>{t.side}</td>
                  <td className="tabular-nums">{t.qty}</td>
                  <td className="whitespace-nowrap">{formatTime(t.entry_ts)}</td>
                  <td className="tabular-nums">{price(t.entry_price)}</td>
                  <td className="whitespace-nowrap">{formatTime(t.exit_ts)}</td>
                  <td className="tabular-nums">{price(t.exit_price)}</td>
                  <td className={`tabular-nums ${pnlClass(Number(t.gross_pnl))}`} title={`${t.gross_pnl} USD`}>
                    {signedMoney(t.gross_pnl)}
                  </td>
                  <td className="tabular-nums" title={`${t.commission} USD`}>
                    {money(t.commission)}
                  </td>
                  <td className={`tabular-nums ${pnlClass(Number(t.net_pnl))}`} title={`${t.net_pnl} USD`}>
                    {signedMoney(t.net_pnl)}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </Card>
  );
}

function CreateBot({ backtest }: { backtest: Backtest }) {
  const gate = useRoleGate("Creating a bot", "operator", ["/api/backtests/{id}"]);
  const create = useCreateBotFromBacktest(backtest.id);
  const [name, setName] = useState("");
  const reason = gate ?? (backtest.status === "SUCCEEDED" ? null : "Only a SUCCEEDED backtest can become a bot");
  return (
    <Card title="Create bot from this result">
      <p className="mb-3 text-sm text-muted">
        A LAB bot (STOPPED) with this run's strategy, params, symbol, timeframe and risk limits; this backtest is linked as its evidence for LAB → PAPER.
      </p>
      {create.data ? (
        <p className="text-sm" role="status">
          Created{" "}
          <Link to="/bots/$botId" params={{ botId: create.data.bot.id }} className="font-medium text-accent hover:underline" data-testid="created-bot-link">
            {create.data.bot.name}
          </Link>{" "}
          ({create.data.bot.stage}, {create.data.bot.status}).
        </p>
      ) : (
        <form
          className="flex flex-wrap items-end gap-2"
          onSubmit={(e) => {
            e.preventDefault();
            create.mutate(name.trim() || undefined);
          }}
        >
          <label className="flex flex-col gap-1 text-sm">
            <span className="font-medium">Name (optional)</span>
            <input value={name} onChange={(e) => setName(e.target.value)} maxLength={100} placeholder={`${backtest.strategy_kind}-${backtest.symbol}-${backtest.timeframe}-${backtest.id.replace(/-/g, "").slice(0, 8)}`} className="w-80 rounded-md border border-line bg-surface-2 px-2 py-1.5 text-sm" />
          </label>
          <Button type="submit" variant="primary" disabled={create.isPending} disabledReason={reason}>
            {create.isPending ? "Creating…" : "Create bot"}
          </Button>
        </form>
      )}
      {create.isError && (
        <div className="mt-3">
          <ActionError error={create.error} />
        </div>
      )}
    </Card>
  );
}

function Inputs({ b }: { b: Backtest }) {
  return (
    <Card title="Inputs">
      <dl>
        <DetailRow label="Strategy">{strategyText(b.strategy_kind, b.strategy_params)}</DetailRow>
        <DetailRow label="Market">
          {b.symbol} {b.timeframe}
          {b.provider_id ? `, bars from ${b.provider_id}` : ""}
          {typeof b.bars === "number" ? ` (${count(b.bars)} bars)` : ""}
        </DetailRow>
        <DetailRow label="Range">{rangeText(b.from, b.to)}</DetailRow>
        <DetailRow label="Fill model">
          {b.slippage_ticks} tick{b.slippage_ticks === 1 ? "" : "s"} slippage per fill, {money(b.commission_per_side)} commission per contract per fill
        </DetailRow>
        <DetailRow label="Capital">{money(b.starting_capital)}</DetailRow>
        {b.bot_id && (
          <DetailRow label="Bot">
            <Link to="/bots/$botId" params={{ botId: b.bot_id }} className="text-accent hover:underline">
              <BotName id={b.bot_id} />
            </Link>
          </DetailRow>
        )}
        {b.sweep_id && (
          <DetailRow label="Sweep">
            <Link to="/lab/sweeps/$sweepId" params={{ sweepId: b.sweep_id }} className="text-accent hover:underline">
              combination {b.sweep_combination ?? "?"}
              {b.sweep_window ? `, ${b.sweep_window}` : ""}
              {b.sweep_fold != null ? `, fold ${b.sweep_fold}` : ""}
            </Link>
          </DetailRow>
        )}
        <DetailRow label="Hashes">
          <span className="font-mono text-[11px] break-all" title="sha256 of the canonical inputs">
            inputs {b.inputs_hash}
          </span>
          {b.results_hash && (
            <span className="block font-mono text-[11px] break-all" title="sha256 of the canonical results: the same inputs and bars give the same hash">
              results {b.results_hash}
            </span>
          )}
        </DetailRow>
      </dl>
    </Card>
  );
}

function Charts({ b, trades }: { b: Backtest; trades: BacktestTrade[] }) {
  const equity = useMemo(() => curveOf(b.equity_curve, "equity"), [b.equity_curve]);
  const drawdown = useMemo(() => {
    const pts = curveOf(b.drawdown_curve, "drawdown_pct");
    return { xs: pts.map((p) => p.time), series: [{ label: "Drawdown %", values: pts.map((p) => -p.value), token: "bad" as const, kind: "line" as const }] };
  }, [b.drawdown_curve]);
  const capital = Number(b.starting_capital);
  return (
    <div className="grid gap-4 lg:grid-cols-2">
      <Card title="Equity (USD)">
        {equity.length === 0 ? <EmptyState title="No equity curve" reason="The run stored no equity points." /> : <EquityChart points={equity} baseValue={Number.isFinite(capital) ? capital : 0} testId="backtest-equity-chart" priceFormat={money} />}
        <p className="mt-2 text-xs text-muted">Equity marked at each bar's close (at most 2,000 points, the last of each equal bucket); green above the starting capital, red below.</p>
      </Card>
      <Card title="Drawdown (% below the equity peak)">
        <TimeChart title="Drawdown" xs={drawdown.xs} series={drawdown.series} format={(v) => `${v.toFixed(2)} %`} height={256} empty={drawdown.xs.length === 0 ? "No drawdown curve stored." : null} />
      </Card>
      <div className="lg:col-span-2">
        <PriceChart backtest={b} trades={trades} />
      </div>
    </div>
  );
}

function Result({ id }: { id: string }) {
  const query = useQuery(backtestQuery(id));
  const gate = useRoleGate("Cancel", "operator", ["/api/backtests/{id}", "/api/jobs/{id}/cancel"]);
  const b = query.data?.backtest;
  useTitle(b ? `Backtest ${b.symbol} ${b.timeframe}` : "Backtest");
  if (query.isPending) return <p className="text-sm text-muted">Loading backtest…</p>;
  if (!b) return <QueryError error={query.error} />;
  const trades = query.data?.trades ?? [];
  const metrics = metricsOf(b.metrics);
  const killed = b.killed && typeof b.killed === "object" ? (b.killed as { at?: string; reason?: string }) : null;
  return (
    <div className="flex flex-col gap-4">
      <div className="flex flex-wrap items-center gap-3">
        <Link to="/lab" className="flex items-center gap-1 text-sm text-muted hover:text-fg">
          <ArrowLeft size={14} aria-hidden /> Lab
        </Link>
        <h1 className="text-xl font-semibold tracking-tight">
          Backtest {b.symbol} {b.timeframe}
        </h1>
        <StatusBadge status={b.status} />
        <PanelStatus query={query} />
        <div className="ml-auto flex items-center gap-3">
          <Progress job={{ id: b.job_id, progress_pct: b.progress_pct }} />
          <CancelJob job={{ id: b.job_id, kind: "backtest", status: b.status }} gate={gate} also={[["/api/backtests/{id}", id], ["/api/backtests"]]} label="Cancel backtest" />
        </div>
      </div>
      <p className="text-sm text-muted">{strategyText(b.strategy_kind, b.strategy_params)}</p>
      {query.isError && <QueryError error={query.error} />}
      {isActive(b.status) && (
        <p role="status" className="rounded-md border border-line bg-surface-2 p-3 text-sm" data-testid="run-progress">
          {b.status === "QUEUED" ? "Queued: waiting for a worker." : `Running: ${b.progress_pct}% (loading bars up to 20 %, then the engine over the range).`} The result appears here when the job ends.
        </p>
      )}
      {(b.status === "FAILED" || b.status === "TIMEOUT" || b.status === "CANCELLED") && (
        <div role="alert" className="rounded-md border border-bad/40 bg-bad/10 p-3 text-sm">
          <p className="font-medium">
            {b.status}
            {b.error_code ? `: ${b.error_code}` : ""}
          </p>
          {b.error && <p className="mt-1 text-muted">{b.error}</p>}
          <p className="mt-1 text-muted">Nothing of a run that did not succeed is kept: run it again from New backtest.</p>
        </div>
      )}
      {killed && (
        <p role="alert" className="rounded-md border border-warn/50 bg-warn/10 p-3 text-sm">
          A kill trigger stopped the run at {formatTime(killed.at)} ({killed.reason ?? "reason not recorded"}), as it would have stopped the bot: the figures end there.
        </p>
      )}
      {metrics && <MetricCards cells={metricCells(metrics)} />}
      {metrics && (
        <p className="text-sm">
          Net <span className={`font-semibold ${pnlClass(Number(metrics.net_pnl))}`}>{signedMoney(metrics.net_pnl)}</span> on {money(metrics.starting_capital)}, ending at {money(metrics.ending_equity)}; {count(metrics.trading_days)} trading days.
        </p>
      )}
      {b.status === "SUCCEEDED" && <Charts b={b} trades={trades} />}
      {b.status === "SUCCEEDED" && (
        <div className="grid gap-4 lg:grid-cols-[2fr_1fr]">
          <TradesCard backtest={b} trades={trades} />
          <NoTradeReasons raw={b.no_trade_counts} />
        </div>
      )}
      <ReviewCard subject="backtest" id={b.id} status={b.status} />
      <div className="grid gap-4 lg:grid-cols-2">
        <Inputs b={b} />
        <CreateBot backtest={b} />
      </div>
    </div>
  );
}

/** Route component for /lab/backtests/$backtestId. */
export function BacktestPage() {
  useJobStream();
  const { backtestId } = useParams({ strict: false }) as { backtestId?: string };
  if (!backtestId) return <EmptyState title="No backtest selected" reason="The address names no backtest id." />;
  return <Result id={backtestId} />;
}
