// A small uPlot time-series chart with its data as an accessible table. uPlot is loaded on
// demand (it is only needed once a chart is on screen) and only where a canvas can draw.
import { useEffect, useRef } from "react";
import type uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { formatAxisTime, formatTime } from "../../lib/time";

/** A theme token (`--tp-…`) that colours a series. */
export type Token = "accent" | "ok" | "warn" | "bad" | "info" | "muted";

export interface ChartSeries {
  label: string;
  values: (number | null)[];
  token: Token;
  kind: "line" | "bars";
}

function canDraw(): boolean {
  if (typeof window === "undefined" || typeof window.matchMedia !== "function") return false;
  try {
    return document.createElement("canvas").getContext("2d") != null;
  } catch {
    return false;
  }
}

const css = (name: string) => getComputedStyle(document.documentElement).getPropertyValue(`--tp-${name}`).trim() || "#888";

function options(uplot: typeof uPlot, width: number, height: number, xs: number[], series: ChartSeries[], format: (v: number) => string, axisFormat: (v: number) => string): uPlot.Options {
  const axis = css("muted");
  const grid = css("line");
  const bars = uplot.paths.bars?.({ size: [0.7, 40], align: 0 });
  // Half a bucket of room at each end, so the first and last bars are drawn whole.
  const half = xs.length > 1 ? (xs[1]! - xs[0]!) / 2 : 1800;
  return {
    width,
    height,
    scales: { x: { time: true, range: (_u, min, max) => [min - half, max + half] } },
    cursor: { drag: { x: false, y: false } },
    legend: { show: true, live: true },
    axes: [
      // 24-hour local time on the time axis (uPlot's default is 12-hour "2pm").
      { stroke: axis, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 }, values: (_u, vals) => vals.map((v) => (v == null ? "" : formatAxisTime(v))) },
      { stroke: axis, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 }, size: 64, values: (_u, vals) => vals.map((v) => (v == null ? "" : axisFormat(v))) },
    ],
    series: [
      { value: (_u, v) => (v == null ? "—" : formatTime(new Date(v * 1000).toISOString())) },
      ...series.map((s): uPlot.Series => {
        const color = css(s.token);
        return {
          label: s.label,
          stroke: color,
          width: s.kind === "line" ? 1.5 : 1,
          fill: s.kind === "bars" ? `${color}55` : undefined,
          paths: s.kind === "bars" ? bars : undefined,
          points: { show: s.kind === "line", size: 4 },
          spanGaps: false,
          value: (_u, v) => (v == null ? "—" : format(v)),
        };
      }),
    ],
  };
}

/**
 * `xs` are bucket starts in seconds. A null value is a bucket without data: drawn as a gap,
 * never as zero.
 */
export function TimeChart({ title, xs, series, format, axisFormat = format, height = 180, empty }: {
  title: string;
  /** The value axis' labels (default `format`): shorter where values are long. */
  axisFormat?: (v: number) => string;
  /** Shown instead of the chart when there is nothing to draw (why). */
  empty?: string | null;
  xs: number[];
  series: ChartSeries[];
  format: (v: number) => string;
  height?: number;
}) {
  const host = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = host.current;
    if (!el || empty || !canDraw()) return;
    let chart: uPlot | null = null;
    let cancelled = false;
    let build: (() => void) | null = null;
    const data = [xs, ...series.map((s) => s.values)] as uPlot.AlignedData;
    void import("uplot").then(({ default: UPlot }) => {
      if (cancelled) return;
      build = () => {
        chart?.destroy();
        chart = new UPlot(options(UPlot, Math.max(240, el.clientWidth), height, xs, series, format, axisFormat), data, el);
      };
      build();
    });
    // Follows the container's width and the light/dark theme (colours are read from tokens).
    const resize = typeof ResizeObserver === "function" ? new ResizeObserver(() => chart?.setSize({ width: Math.max(240, el.clientWidth), height })) : null;
    resize?.observe(el);
    const theme = new MutationObserver(() => build?.());
    theme.observe(document.documentElement, { attributes: true, attributeFilter: ["data-theme"] });
    return () => {
      cancelled = true;
      resize?.disconnect();
      theme.disconnect();
      chart?.destroy();
    };
  }, [xs, series, format, axisFormat, height, empty]);

  return (
    <figure aria-label={title} className="flex min-w-0 flex-col gap-1">
      <figcaption className="text-xs font-medium text-muted">{title}</figcaption>
      {empty ? (
        <p className="flex items-center justify-center rounded-md border border-dashed border-line px-6 text-center text-xs text-muted" style={{ height }}>
          {empty}
        </p>
      ) : (
        <div ref={host} className="min-h-[1px] w-full [&_.u-legend]:text-xs! [&_.u-legend_th]:font-normal!" data-testid="uplot-host" />
      )}
      <details className="text-xs">
        <summary className="cursor-pointer text-muted">Data table</summary>
        <div className="relative mt-1 max-h-64 overflow-auto" tabIndex={0}>
          <table className="w-full text-left">
            <caption className="sr-only">{title}</caption>
            <thead className="text-muted">
              <tr>
                <th className="pr-3 font-medium">Bucket start</th>
                {series.map((s) => (
                  <th key={s.label} className="pr-3 font-medium">{s.label}</th>
                ))}
              </tr>
            </thead>
            <tbody className="font-mono">
              {xs.map((x, i) => (
                <tr key={x}>
                  <td className="pr-3">{formatTime(new Date(x * 1000).toISOString())}</td>
                  {series.map((s) => {
                    const v = s.values[i];
                    return <td key={s.label} className="pr-3">{v == null ? "—" : format(v)}</td>;
                  })}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </details>
    </figure>
  );
}
