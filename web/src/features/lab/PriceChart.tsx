// The price over a backtest's range as candles (GET /api/backtests/{id}/bars, merged server-side
// into at most 1,500 candles) with each trade's entry and exit marked on the candle that holds
// it (lightweight-charts 5, TradingView attribution kept on as its licence asks).
import { useEffect, useMemo, useRef } from "react";
import { useQuery } from "@tanstack/react-query";
import { CandlestickSeries, ColorType, createChart, createSeriesMarkers, type IChartApi, type ISeriesApi, type ISeriesMarkersPluginApi, type SeriesMarker, type Time, type UTCTimestamp } from "lightweight-charts";
import { Card } from "../../components/Card";
import { EmptyState } from "../../components/EmptyState";
import { PanelStatus, QueryError } from "../../components/PanelStatus";
import { backtestBarsQuery, type Backtest } from "../../queries/lab";
import { dec } from "../bots/format";
import { localSeconds } from "../bots/EquityCurve";
import type { BacktestTrade } from "./csv";
import { duration } from "./format";
import { tradeMarkers, type TradeMarker } from "./series";

export const PRICE_CANDLES = 1_500;

function cssVar(name: string, fallback: string): string {
  const v = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  return v || fallback;
}

function theme() {
  const fg = cssVar("--tp-muted", "#9aa4b5");
  const line = cssVar("--tp-line", "#2c3442");
  return {
    layout: { background: { type: ColorType.Solid, color: "transparent" }, textColor: fg, attributionLogo: true },
    grid: { vertLines: { color: line }, horzLines: { color: line } },
    rightPriceScale: { borderColor: line },
    timeScale: { borderColor: line, timeVisible: true, secondsVisible: false },
  };
}

function colors() {
  const ok = cssVar("--tp-ok", "#3ccf73");
  const bad = cssVar("--tp-bad", "#ff5f66");
  return { upColor: ok, downColor: bad, wickUpColor: ok, wickDownColor: bad, borderVisible: false };
}

/** Markers carry their text (trade number, price) only up to this many trades: past it they would cover the candles. */
export const LABELLED_TRADES = 12;

/** A buy (long entry, short exit) is an up arrow below the candle; a sell the opposite. */
function markerOf(m: TradeMarker, labelled: boolean): SeriesMarker<Time> {
  const buy = (m.kind === "entry") === (m.side === "LONG");
  return {
    time: localSeconds(m.time) as UTCTimestamp,
    position: buy ? "belowBar" : "aboveBar",
    shape: buy ? "arrowUp" : "arrowDown",
    color: m.kind === "entry" ? cssVar("--tp-accent", "#4f8cff") : cssVar("--tp-warn", "#f5b942"),
    text: labelled ? m.text : undefined,
  };
}

function Candles({ candles, markers }: { candles: { time: number; open: number; high: number; low: number; close: number }[]; markers: TradeMarker[] }) {
  const ref = useRef<HTMLDivElement>(null);
  const chart = useRef<IChartApi | null>(null);
  const series = useRef<ISeriesApi<"Candlestick"> | null>(null);
  const marks = useRef<ISeriesMarkersPluginApi<Time> | null>(null);
  useEffect(() => {
    if (!ref.current) return;
    const c = createChart(ref.current, { autoSize: true, ...theme() });
    const s = c.addSeries(CandlestickSeries, colors());
    chart.current = c;
    series.current = s;
    marks.current = createSeriesMarkers(s, []);
    const observer = new MutationObserver(() => {
      c.applyOptions(theme());
      s.applyOptions(colors());
    });
    observer.observe(document.documentElement, { attributes: true, attributeFilter: ["data-theme"] });
    return () => {
      observer.disconnect();
      c.remove();
      chart.current = null;
      series.current = null;
      marks.current = null;
    };
  }, []);
  useEffect(() => {
    series.current?.setData(candles.map((k) => ({ ...k, time: localSeconds(k.time) as UTCTimestamp })));
    const labelled = markers.length <= LABELLED_TRADES * 2;
    marks.current?.setMarkers(markers.map((m) => markerOf(m, labelled)));
    chart.current?.timeScale().fitContent();
  }, [candles, markers]);
  return <div ref={ref} className="h-80 w-full" data-testid="price-chart" />;
}

export function PriceChart({ backtest, trades }: { backtest: Backtest; trades: BacktestTrade[] }) {
  const query = useQuery(backtestBarsQuery(backtest.id, PRICE_CANDLES));
  const candles = useMemo(
    () =>
      (query.data?.candles ?? []).flatMap((k) => {
        const [open, high, low, close] = [dec(k.open), dec(k.high), dec(k.low), dec(k.close)];
        const time = Date.parse(k.ts) / 1000;
        return open === null || high === null || low === null || close === null || !Number.isFinite(time) ? [] : [{ time, open, high, low, close }];
      }),
    [query.data],
  );
  const markers = useMemo(() => tradeMarkers(trades, candles.map((k) => k.time)), [trades, candles]);
  const data = query.data;
  return (
    <Card title={`Price (${backtest.symbol} ${backtest.timeframe}) with entries and exits`} status={<PanelStatus query={query} />}>
      {query.isPending && <p className="text-sm text-muted">Loading bars…</p>}
      {query.isError && <QueryError error={query.error} />}
      {data && candles.length === 0 && <EmptyState title="No stored bars" reason="No bars of this range are stored (yet): they are loaded when the run starts." />}
      {data && candles.length > 0 && (
        <>
          <Candles candles={candles} markers={markers} />
          <p className="mt-2 text-xs text-muted" data-testid="price-chart-note">
            {candles.length.toLocaleString("en-US")} candles of {duration(data.bucket_seconds)} from {data.source_bars.toLocaleString("en-US")} stored bars ({data.providers[0] ?? "no provider"}); {markers.filter((m) => m.kind === "entry").length} entries (blue) and {markers.filter((m) => m.kind === "exit").length} exits (amber) on the candle that holds them. Up arrows buy, down arrows sell{markers.length > LABELLED_TRADES * 2 ? "; the trades table has each one's prices" : ""}.
          </p>
        </>
      )}
    </Card>
  );
}
