// Equity curve (lightweight-charts 5, TradingView attribution logo kept on as its licence asks):
// cumulative net realized PnL of the bot's closed trades. Empty when nothing ever closed.
import { useEffect, useRef } from "react";
import { useQuery } from "@tanstack/react-query";
import { BaselineSeries, ColorType, createChart, type IChartApi, type ISeriesApi, type UTCTimestamp } from "lightweight-charts";
import { Card } from "../../components/Card";
import { EmptyState } from "../../components/EmptyState";
import { PanelStatus, QueryError } from "../../components/PanelStatus";
import { allTradesQuery, EQUITY_MAX_PAGES } from "../../queries/bots";
import { equityOf, type EquityPoint } from "./equity";
import { pnlClass, usd } from "./format";

function cssVar(name: string, fallback: string): string {
  const v = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  return v || fallback;
}

function themeOptions() {
  const fg = cssVar("--tp-muted", "#9aa4b5");
  const line = cssVar("--tp-line", "#2c3442");
  return {
    layout: { background: { type: ColorType.Solid, color: "transparent" }, textColor: fg, attributionLogo: true },
    grid: { vertLines: { color: line }, horzLines: { color: line } },
    rightPriceScale: { borderColor: line },
    timeScale: { borderColor: line, timeVisible: true, secondsVisible: false },
  };
}

function seriesColors() {
  const ok = cssVar("--tp-ok", "#3ccf73");
  const bad = cssVar("--tp-bad", "#ff5f66");
  return {
    topLineColor: ok,
    topFillColor1: `${ok}44`,
    topFillColor2: `${ok}08`,
    bottomLineColor: bad,
    bottomFillColor1: `${bad}08`,
    bottomFillColor2: `${bad}44`,
  };
}

/** `utcSeconds` shifted by the local zone's offset at that instant. */
export function localSeconds(utcSeconds: number): number {
  return utcSeconds - new Date(utcSeconds * 1000).getTimezoneOffset() * 60;
}

/**
 * The chart itself; re-themed when <html data-theme> changes. Above `baseValue` (0 for PnL, the
 * starting capital for a backtest's equity) is green, below it red.
 */
export function EquityChart({ points, baseValue = 0, testId = "equity-chart", priceFormat = usd }: { points: EquityPoint[]; baseValue?: number; testId?: string; priceFormat?: (p: number) => string }) {
  const ref = useRef<HTMLDivElement>(null);
  const chart = useRef<IChartApi | null>(null);
  const series = useRef<ISeriesApi<"Baseline"> | null>(null);

  useEffect(() => {
    if (!ref.current) return;
    const c = createChart(ref.current, { autoSize: true, ...themeOptions(), localization: { priceFormatter: (p: number) => priceFormat(p) } });
    const s = c.addSeries(BaselineSeries, { baseValue: { type: "price", price: baseValue }, lineWidth: 2, ...seriesColors() });
    chart.current = c;
    series.current = s;
    const observer = new MutationObserver(() => {
      c.applyOptions(themeOptions());
      s.applyOptions(seriesColors());
    });
    observer.observe(document.documentElement, { attributes: true, attributeFilter: ["data-theme"] });
    return () => {
      observer.disconnect();
      c.remove();
      chart.current = null;
      series.current = null;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps -- the base is applied below when it changes
  }, []);

  useEffect(() => {
    series.current?.applyOptions({ baseValue: { type: "price", price: baseValue } });
  }, [baseValue]);

  useEffect(() => {
    // The chart draws its time axis in UTC; shift each point so the axis reads local time
    // like every other time on the page.
    series.current?.setData(points.map((p) => ({ time: localSeconds(p.time) as UTCTimestamp, value: p.value })));
    chart.current?.timeScale().fitContent();
  }, [points]);

  return <div ref={ref} className="h-64 w-full" data-testid={testId} />;
}

export function EquityCurve({ botId }: { botId: string }) {
  const query = useQuery(allTradesQuery(botId));
  const equity = query.data ? equityOf(query.data.trades) : null;
  const truncated = query.data?.truncated ?? false;
  /** Trades read (the newest first): with `truncated`, all the header's figure covers. */
  const counted = (query.data?.trades.length ?? 0).toLocaleString("en-US");
  return (
    <Card
      title="Equity curve"
      status={<PanelStatus query={query} />}
      actions={
        equity && equity.total !== null ? (
          truncated ? (
            // Only the newest trades were read: their sum is not the bot's result, so it is not coloured as one.
            <span className="text-sm" data-testid="equity-total" data-partial="true" title={`Older trades exist beyond the newest ${counted}: the bot's full net realized PnL is not known here`}>
              Net realized of the newest {counted} trades only <span className="font-semibold tabular-nums text-muted">{usd(equity.total)}</span>
              <span className="text-xs text-muted"> over {equity.closed} closed trade{equity.closed === 1 ? "" : "s"}; older trades not counted</span>
            </span>
          ) : (
            <span className="text-sm" data-testid="equity-total" data-partial="false">
              Net realized <span className={`font-semibold tabular-nums ${pnlClass(equity.total)}`}>{usd(equity.total)}</span>
              <span className="text-xs text-muted"> over {equity.closed} closed trade{equity.closed === 1 ? "" : "s"}</span>
            </span>
          )
        ) : null
      }
    >
      {query.isError && <div className="mb-3"><QueryError error={query.error} /></div>}
      {query.isPending && <p className="text-sm text-muted">Loading trades…</p>}
      {equity && equity.points.length === 0 && (
        <EmptyState
          title="No closed trades yet"
          reason={
            equity.open > 0
              ? `The curve is drawn from the realized PnL of closed trades; this bot has ${equity.open} open trade${equity.open === 1 ? "" : "s"} and none closed yet.`
              : "The curve is drawn from the realized PnL of closed trades; this bot has no fills yet."
          }
        />
      )}
      {equity && equity.points.length > 0 && (
        <>
          <EquityChart points={equity.points} />
          <p className="mt-2 text-xs text-muted">
            Cumulative realized PnL net of commissions (gross {usd(equity.gross)}, commissions {usd(-equity.commission)}), one step per closed trade, at its closing time.
            {equity.open > 0 && ` ${equity.open} open trade${equity.open === 1 ? " is" : "s are"} not on the curve (see Position & PnL).`}
            {truncated && ` Only the newest ${EQUITY_MAX_PAGES * 500} trades are counted, so the curve starts at 0 later than the bot's first trade.`}
          </p>
        </>
      )}
    </Card>
  );
}
