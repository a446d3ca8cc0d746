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
