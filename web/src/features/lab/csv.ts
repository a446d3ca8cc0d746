// Trades as CSV: one row per closed round trip, the API's exact decimal strings and RFC 3339
// times (no rounding), fields quoted only when they must be (RFC 4180, lib/csv.ts).
import type { components } from "../../api/schema";
import { csvField } from "../../lib/csv";

export { csvField, downloadText } from "../../lib/csv";

export type BacktestTrade = components["schemas"]["BacktestTrade"];

export const TRADE_COLUMNS = ["seq", "side", "qty", "entry_ts", "entry_price", "exit_ts", "exit_price", "gross_pnl", "commission", "net_pnl"] as const;

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
