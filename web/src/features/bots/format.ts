// Number and money formatting for the bots views. Decimal strings come from the API as text
// (`"-12.50"`); they are parsed only for display and arithmetic on display values.
import type { Tone } from "../../components/Badge";

/** A decimal string as a number, or null when absent or not a number. */
export function dec(value: string | null | undefined): number | null {
  if (value === null || value === undefined || value === "") return null;
  const n = Number(value);
  return Number.isFinite(n) ? n : null;
}

const USD = new Intl.NumberFormat("en-US", { style: "currency", currency: "USD", minimumFractionDigits: 2, maximumFractionDigits: 2 });

/** "+$12.50", "−$3.00", "$0.00". */
export function usd(n: number): string {
  if (n === 0 || Object.is(n, -0)) return USD.format(0);
  return `${n > 0 ? "+" : "−"}${USD.format(Math.abs(n))}`;
}

/** A price as the API gave it (already on the tick grid), without a sign. */
export function price(value: string | null | undefined): string {
  const n = dec(value);
  return n === null ? "—" : n.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 6 });
}

export function pnlTone(n: number | null): Tone {
  if (n === null || n === 0) return "neutral";
  return n > 0 ? "ok" : "bad";
}

/** The text class of a PnL value. */
export function pnlClass(n: number | null): string {
  if (n === null) return "text-muted";
  if (n > 0) return "text-ok";
  if (n < 0) return "text-bad";
  return "";
}
