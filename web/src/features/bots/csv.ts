// A bot's trades as CSV (RFC 4180 via lib/csv.ts), the API's exact decimal strings and RFC 3339
// times. Pure: the Export button pages the trades through the API and hands them here.
import { toCsv } from "../../lib/csv";
import type { Trade } from "../../queries/bots";

/** Column header and value of each trade column; money and prices exactly as the API sent them. */
export const TRADE_COLUMNS: readonly { header: string; value: (t: Trade) => string | number | null | undefined }[] = [
  { header: "id", value: (t) => t.id },
  { header: "bot_id", value: (t) => t.bot_id },
  { header: "symbol", value: (t) => t.symbol },
  { header: "stage", value: (t) => t.stage },
  { header: "side", value: (t) => t.side },
  { header: "quantity_contracts", value: (t) => t.quantity },
  { header: "entry_price", value: (t) => t.entry_price },
  { header: "exit_price", value: (t) => t.exit_price },
  { header: "realized_pnl_gross_usd", value: (t) => t.realized_pnl },
  { header: "commission_usd", value: (t) => t.commission },
  { header: "opened_at_utc", value: (t) => t.opened_at },
  { header: "closed_at_utc", value: (t) => t.closed_at },
  { header: "run_id", value: (t) => t.run_id },
];

/** The trades as CSV with a header record, in the order given. */
export function tradesCsv(trades: readonly Trade[]): string {
  return toCsv([TRADE_COLUMNS.map((c) => c.header), ...trades.map((t) => TRADE_COLUMNS.map((c) => c.value(t)))]);
}

/** A file name for a bot's export: letters, digits, dot, dash and underscore only. */
export function csvFileName(botName: string, what: string, at: Date): string {
  const safe = botName.replace(/[^A-Za-z0-9._-]+/g, "_").replace(/^_+|_+$/g, "") || "bot";
  const stamp = at.toISOString().replace(/[:]/g, "").replace(/\.\d+Z$/, "Z");
  return `${safe}-${what}-${stamp}.csv`;
}
