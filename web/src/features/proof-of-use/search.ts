// The Proof-of-Use tab's URL search params: provider, bot, status (filters), window (15m, 1h,
// 24h, 7d or custom, default 24h), from/to (RFC 3339, custom only), usage (open event id).
import { isWindowId, WINDOWS, type TimeWindow, type UsageFilters } from "../../queries/usage";
import type { SearchParams } from "../../router";
import { UUID_RE } from "../../components/BotIdField";

export const DEFAULT_WINDOW = "24h";

export interface ParsedSearch {
  filters: UsageFilters;
  /** null when the custom range is incomplete or backwards (`problem` says why). */
  window: TimeWindow | null;
  problem: string | null;
}

export function parseSearch(search: SearchParams): ParsedSearch {
  const filters: UsageFilters = {
    provider: search.provider,
    bot_id: search.bot && UUID_RE.test(search.bot) ? search.bot : undefined,
    status: search.status,
  };
  const w = search.window ?? DEFAULT_WINDOW;
  if (isWindowId(w)) return { filters, window: { kind: "preset", id: w }, problem: null };
  if (w === "custom") {
    const from = search.from ? Date.parse(search.from) : NaN;
    const to = search.to ? Date.parse(search.to) : NaN;
    if (Number.isNaN(from) || Number.isNaN(to)) return { filters, window: null, problem: "A custom range needs both a start and an end." };
    if (from >= to) return { filters, window: null, problem: "The start of the range must be before its end." };
    return { filters, window: { kind: "custom", from: new Date(from).toISOString(), to: new Date(to).toISOString() }, problem: null };
  }
  return { filters, window: null, problem: `Unknown window "${w}": pick one of ${Object.keys(WINDOWS).join(", ")} or a custom range.` };
}

export function windowLabel(w: TimeWindow): string {
  if (w.kind === "preset") return WINDOWS[w.id].label.replace(/^Last/, "the last");
  return `${new Date(w.from).toLocaleString()} – ${new Date(w.to).toLocaleString()}`;
}

/** `2026-11-26T13:04` in local time, for datetime-local inputs. */
export function toLocalInput(iso: string | undefined): string {
  if (!iso) return "";
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return "";
  const d = new Date(t);
  const p = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

/** A datetime-local value as RFC 3339 (UTC), or undefined when empty or unreadable. */
export function fromLocalInput(value: string): string | undefined {
  if (!value) return undefined;
  const t = new Date(value).getTime();
  return Number.isNaN(t) ? undefined : new Date(t).toISOString();
}
