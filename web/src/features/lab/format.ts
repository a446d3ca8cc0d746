// How a backtest's figures read: money in USD with two decimals (the exact decimal string in the
// tooltip), percentages with one decimal and a % sign, ratios with two decimals, durations in
// days/hours/minutes. A figure the metrics do not have (no losing trade for a profit factor)
// reads "—" with the reason, never 0 or Infinity.
import { dec, usd } from "../bots/format";

/** `domain::backtest_metrics::Metrics` as the API serializes it (decimals as strings). */
export interface Metrics {
  starting_capital: string;
  ending_equity: string;
  net_pnl: string;
  gross_pnl: string;
  commissions: string;
  trades: number;
  winning_trades: number;
  losing_trades: number;
  win_rate_pct: number | null;
  profit_factor: number | null;
  avg_trade: string | null;
  sharpe: number | null;
  sortino: number | null;
  trading_days: number;
  max_drawdown: string;
  max_drawdown_pct: number;
  exposure_pct: number;
  longest_flat_seconds: number;
}

const PLAIN_USD = new Intl.NumberFormat("en-US", { style: "currency", currency: "USD", minimumFractionDigits: 2, maximumFractionDigits: 2 });
const COUNT = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });

/** "$100,000.00" (no sign: a balance, not a change). */
export function money(value: string | number | null | undefined): string {
  const n = typeof value === "number" ? value : dec(value);
  return n === null || !Number.isFinite(n) ? "—" : PLAIN_USD.format(n);
}

/** "$95.2k", "$1.05M", "$950": a chart axis label (the exact value is in the legend and table). */
export function compactMoney(value: number): string {
  if (!Number.isFinite(value)) return "—";
  const abs = Math.abs(value);
  const sign = value < 0 ? "−" : "";
  if (abs >= 1_000_000) return `${sign}$${Number((abs / 1_000_000).toFixed(2))}M`;
  if (abs >= 10_000) return `${sign}$${Number((abs / 1_000).toFixed(1))}k`;
  return `${sign}$${Number(abs.toFixed(2))}`;
}

/** "+$12.50" / "−$3.00" (a change). */
export function signedMoney(value: string | number | null | undefined): string {
  const n = typeof value === "number" ? value : dec(value);
  return n === null || !Number.isFinite(n) ? "—" : usd(n);
}

/** "54.3 %". */
export function pct(value: number | null | undefined, digits = 1): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return "—";
  return `${value.toFixed(digits)} %`;
}

/** "1.42". */
export function ratio(value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return "—";
  return value.toFixed(2);
}

export function count(value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return "—";
  return COUNT.format(value);
}

/** "3 d 4 h", "2 h 5 min", "45 min", "30 s". */
export function duration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds) || seconds < 0) return "—";
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min`;
  const h = Math.floor(m / 60);
  if (h < 24) return m % 60 ? `${h} h ${m % 60} min` : `${h} h`;
  const d = Math.floor(h / 24);
  return h % 24 ? `${d} d ${h % 24} h` : `${d} d`;
}

export type MetricTone = "gain" | "loss" | "plain";

export interface MetricCell {
  key: string;
  label: string;
  /** Rounded, with its unit. */
  text: string;
  /** The exact value as stored, or why there is none. */
  title: string;
  tone: MetricTone;
  /** For comparing runs: higher is better (true), lower is better (false), neither (null). */
  better: boolean | null;
  /** The number compared (null when the run has none). */
  value: number | null;
}

function toneOf(n: number | null): MetricTone {
  if (n === null || n === 0) return "plain";
  return n > 0 ? "gain" : "loss";
}

/** Every metric card of a run, in display order. */
export function metricCells(m: Metrics): MetricCell[] {
  const net = dec(m.net_pnl);
  const gross = dec(m.gross_pnl);
  const avg = dec(m.avg_trade);
  const exact = (v: unknown, unit = "") => (v === null || v === undefined ? "" : `${String(v)}${unit}`);
  return [
    { key: "net_pnl", label: "Net PnL", text: signedMoney(m.net_pnl), title: `${m.net_pnl} USD after commissions`, tone: toneOf(net), better: true, value: net },
    { key: "gross_pnl", label: "Gross PnL", text: signedMoney(m.gross_pnl), title: `${m.gross_pnl} USD before commissions`, tone: toneOf(gross), better: true, value: gross },
    { key: "commissions", label: "Commissions", text: money(m.commissions), title: `${m.commissions} USD`, tone: "plain", better: false, value: dec(m.commissions) },
    { key: "ending_equity", label: "Ending equity", text: money(m.ending_equity), title: `${m.ending_equity} USD from ${m.starting_capital} USD`, tone: "plain", better: true, value: dec(m.ending_equity) },
    { key: "trades", label: "Trades", text: count(m.trades), title: `${m.winning_trades} won, ${m.losing_trades} lost`, tone: "plain", better: null, value: m.trades },
    {
      key: "win_rate_pct",
      label: "Win rate",
      text: pct(m.win_rate_pct),
      title: m.win_rate_pct === null ? "No closed trade" : `${exact(m.win_rate_pct, " %")} (${m.winning_trades} of ${m.trades})`,
      tone: "plain",
      better: true,
      value: m.win_rate_pct,
    },
    {
      key: "profit_factor",
      label: "Profit factor",
      text: ratio(m.profit_factor),
      title: m.profit_factor === null ? (m.trades === 0 ? "No closed trade" : "None: no losing trade, so there is no loss to divide by") : `${exact(m.profit_factor)} (gross profit / gross loss)`,
      tone: "plain",
      better: true,
      value: m.profit_factor,
    },
    { key: "avg_trade", label: "Average trade", text: signedMoney(m.avg_trade), title: m.avg_trade === null ? "No closed trade" : `${m.avg_trade} USD net per trade`, tone: toneOf(avg), better: true, value: avg },
    {
      key: "sharpe",
      label: "Sharpe (daily)",
      text: ratio(m.sharpe),
      title: m.sharpe === null ? `None: fewer than two trading days or no spread of daily returns (${m.trading_days} trading days)` : `${exact(m.sharpe)}: mean / stdev of ${m.trading_days} daily returns × √252`,
      tone: "plain",
      better: true,
      value: m.sharpe,
    },
    {
      key: "sortino",
      label: "Sortino (daily)",
      text: ratio(m.sortino),
      title: m.sortino === null ? `None: no losing day (no downside) or fewer than two trading days (${m.trading_days} trading days)` : `${exact(m.sortino)}: mean / downside deviation of ${m.trading_days} daily returns × √252`,
      tone: "plain",
      better: true,
      value: m.sortino,
    },
    { key: "max_drawdown", label: "Max drawdown", text: money(m.max_drawdown), title: `${m.max_drawdown} USD below the equity peak`, tone: dec(m.max_drawdown) ? "loss" : "plain", better: false, value: dec(m.max_drawdown) },
    { key: "max_drawdown_pct", label: "Max drawdown %", text: pct(m.max_drawdown_pct, 2), title: `${exact(m.max_drawdown_pct, " %")} of the equity peak`, tone: m.max_drawdown_pct ? "loss" : "plain", better: false, value: m.max_drawdown_pct },
    { key: "exposure_pct", label: "Exposure", text: pct(m.exposure_pct), title: `${exact(m.exposure_pct, " %")} of the equity points (bars) inside a trade`, tone: "plain", better: null, value: m.exposure_pct },
    { key: "longest_flat_seconds", label: "Longest flat", text: duration(m.longest_flat_seconds), title: `${m.longest_flat_seconds} s without a position`, tone: "plain", better: null, value: m.longest_flat_seconds },
  ];
}

/** The metrics object of a backtest, or null when it has none (not finished) or it is malformed. */
export function metricsOf(raw: unknown): Metrics | null {
  if (!raw || typeof raw !== "object") return null;
  const m = raw as Partial<Metrics>;
  return typeof m.net_pnl === "string" && typeof m.trades === "number" ? (m as Metrics) : null;
}

/** Index (into `values`) of the best figure by `better`, or null on a tie for best or without two figures. */
export function bestIndex(values: (number | null)[], better: boolean | null): number | null {
  if (better === null) return null;
  const present = values.map((v, i) => [v, i] as const).filter((p): p is readonly [number, number] => p[0] !== null);
  if (present.length < 2) return null;
  const best = present.reduce((a, b) => ((better ? b[0] > a[0] : b[0] < a[0]) ? b : a));
  return present.filter((p) => p[0] === best[0]).length > 1 ? null : best[1];
}
