// The curves of a backtest on a time axis (seconds since the epoch, UTC): equity and drawdown
// as stored (at most 2,000 points each), several runs' equity on one shared axis, and trade
// entries/exits placed on the candle that holds them.
import { dec } from "../bots/format";

export interface Point {
  /** Seconds since the epoch, UTC. */
  time: number;
  value: number;
}

function seconds(ts: unknown): number | null {
  if (typeof ts !== "string") return null;
  const t = Date.parse(ts);
  return Number.isFinite(t) ? t / 1000 : null;
}

function numberOf(v: unknown): number | null {
  if (typeof v === "number") return Number.isFinite(v) ? v : null;
  if (typeof v === "string") return dec(v);
  return null;
}

/** `[{ts, <field>}]` → points, oldest first, a repeated time keeping its last value. */
export function curveOf(raw: unknown, field: string): Point[] {
  if (!Array.isArray(raw)) return [];
  const points: Point[] = [];
  for (const p of raw) {
    if (!p || typeof p !== "object") continue;
    const rec = p as Record<string, unknown>;
    const time = seconds(rec.ts);
    const value = numberOf(rec[field]);
    if (time === null || value === null) continue;
    points.push({ time, value });
  }
  points.sort((a, b) => a.time - b.time);
  const out: Point[] = [];
  for (const p of points) {
    if (out.length > 0 && out[out.length - 1]!.time === p.time) out[out.length - 1] = p;
    else out.push(p);
  }
  return out;
}

/**
 * Several step series on one time axis (the union of their times): each value holds until the
 * series' next point (equity changes only at a bar), null before its first point and after
 * its last, so nothing is drawn where a run has no data.
 */
export function alignSteps(series: readonly Point[][]): { xs: number[]; values: (number | null)[][] } {
  const xs = [...new Set(series.flatMap((s) => s.map((p) => p.time)))].sort((a, b) => a - b);
  const values = series.map((s) => {
    const out: (number | null)[] = [];
    let i = 0;
    let current: number | null = null;
    const last = s.length > 0 ? s[s.length - 1]!.time : -Infinity;
    for (const x of xs) {
      while (i < s.length && s[i]!.time <= x) current = s[i++]!.value;
      out.push(x > last ? null : current);
    }
    return out;
  });
  return { xs, values };
}

/** The start of the candle (of sorted `starts`) that holds `time`, or null if before the first. */
export function candleOf(starts: readonly number[], time: number): number | null {
  let lo = 0;
  let hi = starts.length - 1;
  let found: number | null = null;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (starts[mid]! <= time) {
      found = starts[mid]!;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return found;
}

export interface TradeMarker {
  time: number;
  kind: "entry" | "exit";
  side: "LONG" | "SHORT";
  text: string;
}

/**
 * Entry and exit markers of `trades` on the candles `starts` (a marker sits on the candle that
 * holds its time; one before the first candle is dropped), sorted by time as the chart needs.
 */
export function tradeMarkers(
  trades: readonly { seq: number; side: string; entry_ts: string; exit_ts: string; entry_price: string; exit_price: string; net_pnl: string }[],
  starts: readonly number[],
): TradeMarker[] {
  const out: TradeMarker[] = [];
  for (const t of trades) {
    const side = t.side === "SHORT" ? "SHORT" : "LONG";
    const entry = seconds(t.entry_ts);
    const exit = seconds(t.exit_ts);
    const e = entry === null ? null : candleOf(starts, entry);
    const x = exit === null ? null : candleOf(starts, exit);
    if (e !== null) out.push({ time: e, kind: "entry", side, text: `#${t.seq} ${side === "LONG" ? "buy" : "sell"} ${t.entry_price}` });
    if (x !== null) out.push({ time: x, kind: "exit", side, text: `#${t.seq} exit ${t.exit_price} (${t.net_pnl})` });
  }
  return out.sort((a, b) => a.time - b.time);
}
