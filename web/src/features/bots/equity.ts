// The equity curve's data: the bot's closed trades, each adding its realized PnL net of its
// commissions, cumulated in the order they closed. Nothing is interpolated or invented.
import type { Trade } from "../../queries/bots";
import { dec } from "./format";

export interface EquityPoint {
  /** Seconds since the epoch (UTC), strictly increasing. */
  time: number;
  /** Cumulative net realized PnL, USD. */
  value: number;
}

export interface Equity {
  points: EquityPoint[];
  /** Closed trades counted. */
  closed: number;
  /** Trades still open (not on the curve). */
  open: number;
  total: number | null;
  gross: number;
  commission: number;
}

export function equityOf(trades: readonly Trade[]): Equity {
  const closed = trades
    .filter((t) => t.closed_at && dec(t.realized_pnl) !== null)
    .map((t) => ({ at: Date.parse(t.closed_at!), opened: Date.parse(t.opened_at), gross: dec(t.realized_pnl)!, commission: dec(t.commission) ?? 0 }))
    .filter((t) => Number.isFinite(t.at))
    .sort((a, b) => a.at - b.at);
  const open = trades.filter((t) => !t.closed_at).length;
  if (closed.length === 0) return { points: [], closed: 0, open, total: null, gross: 0, commission: 0 };
  const points: EquityPoint[] = [];
  // The curve starts at 0 when the first counted trade opened (or a second before it closed).
  const first = closed[0]!;
  const start = Math.floor(Math.min(Number.isFinite(first.opened) ? first.opened : first.at, first.at - 1000) / 1000);
  let last: EquityPoint = { time: start, value: 0 };
  points.push(last);
  let sum = 0;
  let gross = 0;
  let commission = 0;
  for (const t of closed) {
    sum += t.gross - t.commission;
    gross += t.gross;
    commission += t.commission;
    const time = Math.floor(t.at / 1000);
    // Several trades closing in the same second: one point with their combined total.
    if (last.time >= time) last.value = round2(sum);
    else {
      last = { time, value: round2(sum) };
      points.push(last);
    }
  }
  return { points, closed: closed.length, open, total: round2(sum), gross: round2(gross), commission: round2(commission) };
}

function round2(n: number): number {
  return Math.round(n * 100) / 100;
}
