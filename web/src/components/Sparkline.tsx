// A small uPlot line chart without axes or legend, for trends beside a number. Colours come
// from the theme tokens (read when drawn, redrawn when the theme changes); the numbers it
// shows are in its accessible label, so it never stands alone.
//
// uPlot is loaded on first use (its own chunk; it also touches matchMedia when it loads, which
// test DOMs lack): until then, or if it cannot draw, the element still carries the label.
import { useEffect, useRef } from "react";
import type uPlot from "uplot";

export type SparkTone = "accent" | "ok" | "warn" | "bad" | "info" | "muted";

export interface SparkSeries {
  label: string;
  values: readonly number[];
  tone: SparkTone;
  /** Shade the area under the line. */
  fill?: boolean;
}

function token(tone: SparkTone): string {
  const v = getComputedStyle(document.documentElement).getPropertyValue(`--tp-${tone}`).trim();
  return v || "#888";
}

/** `#rrggbb` with an alpha, for fills; anything else is returned unchanged. */
function withAlpha(color: string, alpha: number): string {
  const m = /^#([0-9a-f]{6})$/i.exec(color);
  if (!m) return color;
  return `#${m[1]}${Math.round(alpha * 255)
    .toString(16)
    .padStart(2, "0")}`;
}

export function Sparkline({ x, series, label, width = 160, height = 36, fromZero = true }: {
  /** Unix seconds, ascending, one per point. */
  x: readonly number[];
  series: readonly SparkSeries[];
  /** What the chart shows, in words (its accessible name). */
  label: string;
  width?: number;
  height?: number;
  /** Counts start the y axis at zero; values that go negative (PnL) span their own range. */
  fromZero?: boolean;
}) {
  const ref = useRef<HTMLDivElement>(null);

  useEffect(() => {
    const el = ref.current;
    if (!el) return;
    let chart: uPlot | null = null;
    let UPlot: typeof uPlot | null = null;
    let cancelled = false;
    const draw = () => {
      if (!UPlot || cancelled) return;
      chart?.destroy();
      const opts: uPlot.Options = {
        width,
        height,
        pxAlign: false,
        legend: { show: false },
        cursor: { show: false },
        select: { show: false, left: 0, top: 0, width: 0, height: 0 },
        axes: [{ show: false }, { show: false }],
        scales: {
          x: { time: true },
          // From zero, so a flat line of small counts does not look like a spike.
          y: {
            range: (_u, min, max) => {
              if (fromZero) return [0, Math.max(1, max)];
              const lo = Math.min(0, min);
              const hi = Math.max(0, max);
              return hi - lo < 1 ? [lo - 0.5, hi + 0.5] : [lo, hi];
            },
          },
        },
        series: [
          {},
          ...series.map((s) => {
            const stroke = token(s.tone);
            return { label: s.label, stroke, width: 1.5, fill: s.fill ? withAlpha(stroke, 0.15) : undefined, points: { show: false } };
          }),
        ],
      };
      chart = new UPlot(opts, [x as number[], ...series.map((s) => s.values as number[])], el);
    };
    void Promise.all([import("uplot"), import("uplot/dist/uPlot.min.css")])
      .then(([mod]) => {
        UPlot = mod.default;
        draw();
      })
      .catch(() => {
        // No chart: the label (and the numbers beside it) still say what it would show.
      });
    // The theme lives on <html data-theme>: redraw with its colours when it flips.
    const observer = new MutationObserver(draw);
    observer.observe(document.documentElement, { attributes: true, attributeFilter: ["data-theme"] });
    return () => {
      cancelled = true;
      observer.disconnect();
      chart?.destroy();
    };
  }, [x, series, width, height, fromZero]);

  return <div ref={ref} role="img" aria-label={label} data-testid="sparkline" className="shrink-0" style={{ width, height }} />;
}
