// CSV (RFC 4180) and file download, shared by every export (bot trades, backtest trades):
// fields separated by commas, records by CRLF; a field holding a comma, a double quote, CR or
// LF is enclosed in double quotes with each inner double quote doubled. Pure except downloadText.

/** One field, quoted only when RFC 4180 requires it. `null`/`undefined` become an empty field. */
export function csvField(value: string | number | boolean | null | undefined): string {
  if (value === null || value === undefined) return "";
  const text = String(value);
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** Records to CSV text: CRLF between records and after the last one (RFC 4180 §2.1–2.2). */
export function toCsv(rows: readonly (readonly (string | number | boolean | null | undefined)[])[]): string {
  return rows.map((row) => row.map(csvField).join(",")).join("\r\n") + (rows.length > 0 ? "\r\n" : "");
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

type Cell = string | number | boolean | null | undefined;

/**
 * API objects as CSV: one column per field (in the order fields first appear), values exactly
 * as the API sent them; nested objects and arrays as compact JSON (e.g. a trace's signals).
 */
export function objectsCsv(items: readonly Record<string, unknown>[]): string {
  const headers: string[] = [];
  for (const item of items) for (const key of Object.keys(item)) if (!headers.includes(key)) headers.push(key);
  const cell = (v: unknown): Cell => (v === null || v === undefined ? null : typeof v === "object" ? JSON.stringify(v) : (v as Cell));
  return toCsv([headers, ...items.map((item) => headers.map((h) => cell(item[h])))]);
}

/** Every item of a keyset-paged list, page after page until the last (or `max` items). */
export async function pageAll<T>(page: (cursor: string | undefined) => Promise<{ items: T[]; next_cursor?: string | null }>, max = 100_000): Promise<{ items: T[]; truncated: boolean }> {
  const items: T[] = [];
  let cursor: string | undefined;
  for (;;) {
    const body = await page(cursor);
    items.push(...body.items);
    if (items.length >= max) return { items: items.slice(0, max), truncated: true };
    if (!body.next_cursor || body.items.length === 0) return { items, truncated: false };
    cursor = body.next_cursor;
  }
}

/** A file name: letters, digits, dot, dash and underscore only, stamped with the UTC time. */
export function exportFileName(subject: string, what: string, at: Date): string {
  const safe = subject.replace(/[^A-Za-z0-9._-]+/g, "_").replace(/^_+|_+$/g, "") || "export";
  const stamp = at.toISOString().replace(/[:]/g, "").replace(/\.\d+Z$/, "Z");
  return `${safe}-${what}-${stamp}.csv`;
}

/**
 * A number as plain decimal text for a CSV cell: exactly the digits JavaScript round-trips
 * (0.6379310344827587 stays whole), never exponent notation (1e-7 → "0.0000001",
 * 1.5e21 → "1500000000000000000000"); non-finite numbers become an empty cell.
 */
export function decimalText(value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return "";
  const text = String(value);
  const m = /^(-?)(\d+)(?:\.(\d+))?e([+-]\d+)$/.exec(text);
  if (!m) return text;
  const [, sign, int, frac = "", expRaw] = m;
  const exp = Number(expRaw);
  const digits = int! + frac;
  const point = int!.length + exp;
  if (point <= 0) return `${sign}0.${"0".repeat(-point)}${digits}`;
  if (point >= digits.length) return `${sign}${digits}${"0".repeat(point - digits.length)}`;
  return `${sign}${digits.slice(0, point)}.${digits.slice(point)}`;
}

/** An RFC 3339 time as ISO 8601 UTC with a Z (the API's microseconds kept); unreadable → as sent. */
export function isoUtc(value: string | null | undefined): string {
  if (!value) return "";
  if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/.test(value)) return value;
  const t = Date.parse(value);
  return Number.isNaN(t) ? value : new Date(t).toISOString();
}
