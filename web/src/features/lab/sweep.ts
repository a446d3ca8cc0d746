// A sweep as the page reads it: the ranking rows (in-sample beside out-of-sample) and, for a
// sweep over exactly two parameters, the heatmap grid of one figure. Read defensively: the
// ranking is a free-form object in the OpenAPI document.
import { dec } from "../bots/format";

/** `domain::backtest::sweep::Figures`. */
export interface Figures {
  net_pnl: string;
  profit_factor: number | null;
  trades: number;
  max_drawdown_pct: number;
  sharpe: number | null;
}

export type ParamValue = string | number | boolean;

export interface RankRow {
  params: Record<string, ParamValue>;
  in_sample: Figures | null;
  out_of_sample: Figures | null;
  backtest_ids: string[];
}

export type FigureKey = keyof Figures;
export type WindowKey = "in_sample" | "out_of_sample";

export const FIGURES: { key: FigureKey; label: string; lowerIsBetter: boolean }[] = [
  { key: "net_pnl", label: "Net PnL", lowerIsBetter: false },
  { key: "profit_factor", label: "Profit factor", lowerIsBetter: false },
  { key: "trades", label: "Trades", lowerIsBetter: false },
  { key: "max_drawdown_pct", label: "Max drawdown %", lowerIsBetter: true },
  { key: "sharpe", label: "Sharpe", lowerIsBetter: false },
];

function figuresOf(raw: unknown): Figures | null {
  if (!raw || typeof raw !== "object") return null;
  const f = raw as Record<string, unknown>;
  if (typeof f.net_pnl !== "string" || typeof f.trades !== "number" || typeof f.max_drawdown_pct !== "number") return null;
  const num = (v: unknown) => (typeof v === "number" && Number.isFinite(v) ? v : null);
  return { net_pnl: f.net_pnl, profit_factor: num(f.profit_factor), trades: f.trades, max_drawdown_pct: f.max_drawdown_pct, sharpe: num(f.sharpe) };
}

/** The ranking rows, in the server's order; malformed rows are dropped. */
export function parseRanking(raw: unknown): RankRow[] {
  if (!Array.isArray(raw)) return [];
  const rows: RankRow[] = [];
  for (const item of raw) {
    if (!item || typeof item !== "object") continue;
    const r = item as Record<string, unknown>;
    if (!r.params || typeof r.params !== "object") continue;
    const params: Record<string, ParamValue> = {};
    for (const [k, v] of Object.entries(r.params as Record<string, unknown>)) {
      if (typeof v === "string" || typeof v === "number" || typeof v === "boolean") params[k] = v;
    }
    const ids = Array.isArray(r.backtest_ids) ? r.backtest_ids.filter((x): x is string => typeof x === "string") : [];
    rows.push({ params, in_sample: figuresOf(r.in_sample), out_of_sample: figuresOf(r.out_of_sample), backtest_ids: ids });
  }
  return rows;
}

/** The swept axes `[[name, [values…]], …]`, in name order. */
export function parseSpace(raw: unknown): { name: string; values: ParamValue[] }[] {
  if (!Array.isArray(raw)) return [];
  return raw.flatMap((axis) => {
    if (!Array.isArray(axis) || typeof axis[0] !== "string" || !Array.isArray(axis[1])) return [];
    const values = (axis[1] as unknown[]).filter((v): v is ParamValue => typeof v === "string" || typeof v === "number" || typeof v === "boolean");
    return [{ name: axis[0], values }];
  });
}

/** A figure as a number (net PnL parsed from its decimal string), or null. */
export function figureValue(f: Figures | null, key: FigureKey): number | null {
  if (!f) return null;
  if (key === "net_pnl") return dec(f.net_pnl);
  const v = f[key];
  return typeof v === "number" && Number.isFinite(v) ? v : null;
}

/** "fast=5, slow=20". */
export function paramsLabel(params: Record<string, ParamValue>): string {
  return Object.entries(params)
    .map(([k, v]) => `${k}=${String(v)}`)
    .join(", ");
}

export interface Heatmap {
  x: { name: string; values: ParamValue[] };
  y: { name: string; values: ParamValue[] };
  /** `cells[yi][xi]`: the figure, or null (invalid combination, skipped, not finished). */
  cells: (number | null)[][];
  /** The row behind each cell (for its backtest ids), or null. */
  rows: (RankRow | null)[][];
  min: number | null;
  max: number | null;
}

/**
 * The grid of `key` (of `window`) over a sweep of exactly two parameters: x = the first axis,
 * y = the second. Null for any other number of axes.
 */
export function heatmapOf(space: { name: string; values: ParamValue[] }[], ranking: RankRow[], key: FigureKey, window: WindowKey): Heatmap | null {
  if (space.length !== 2) return null;
  const [x, y] = space as [(typeof space)[number], (typeof space)[number]];
  const id = (v: ParamValue) => JSON.stringify(v);
  const byCell = new Map<string, RankRow>();
  for (const row of ranking) {
    if (!(x.name in row.params) || !(y.name in row.params)) continue;
    byCell.set(`${id(row.params[x.name]!)}|${id(row.params[y.name]!)}`, row);
  }
  let min: number | null = null;
  let max: number | null = null;
  const rows = y.values.map((yv) => x.values.map((xv) => byCell.get(`${id(xv)}|${id(yv)}`) ?? null));
  const cells = rows.map((line) =>
    line.map((row) => {
      const v = row ? figureValue(row[window], key) : null;
      if (v !== null) {
        min = min === null ? v : Math.min(min, v);
        max = max === null ? v : Math.max(max, v);
      }
      return v;
    }),
  );
  return { x, y, cells, rows, min, max };
}

/**
 * How good a cell is on a scale of −1 (worst) … 1 (best). Net PnL is scaled around 0 (a loss is
 * always on the bad side); other figures from the worst to the best value present. 0 when all
 * values are equal.
 */
export function cellScore(value: number, min: number, max: number, key: FigureKey): number {
  const lowerIsBetter = FIGURES.find((f) => f.key === key)?.lowerIsBetter ?? false;
  if (key === "net_pnl") {
    const span = Math.max(Math.abs(min), Math.abs(max));
    return span === 0 ? 0 : value / span;
  }
  if (max === min) return 0;
  const t = (value - min) / (max - min); // 0 … 1
  const score = t * 2 - 1;
  return lowerIsBetter ? -score : score;
}
