// Trades as CSV: one row per closed round trip, the API's exact decimal strings and RFC 3339
// times (no rounding), fields quoted only when they must be (RFC 4180).
import type { components } from "../../api/schema";

export type BacktestTrade = components["schemas"]["BacktestTrade"];

export const TRADE_COLUMNS = ["seq", "side", "qty", "entry_ts", "entry_price", "exit_ts", "exit_price", "gross_pnl", "commission", "net_pnl"] as const;

/** One CSV field: quoted when it holds a comma, a quote, or a line break (quotes doubled). */
export function csvField(value: string | number | null | undefined): string {
  const s = value === null || value === undefined ? "" : String(value);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** The CSV text (CRLF line ends, header first). */
export function tradesCsv(trades: readonly BacktestTrade[]): string {
  const lines = [TRADE_COLUMNS.join(",")];
  for (const t of trades) lines.push(TRADE_COLUMNS.map((c) => csvField(t[c])).join(","));
  return `${lines.join("\r\n")}\r\n`;
}

/** "backtest-0193ab12-ES-5m-trades.csv". */
export function csvFileName(backtest: { id: string; symbol: string; timeframe: string }): string {
  return `backtest-${backtest.id.slice(0, 8)}-${backtest.symbol}-${backtest.timeframe}-trades.csv`;
}

/** Saves `text` as a file through a temporary object URL. */
export function downloadText(text: string, fileName: string, type = "text/csv;charset=utf-8") {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = document.createElement("a");
  a.href = url;
  a.download = fileName;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 0);
}
