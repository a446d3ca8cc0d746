/** "840 ms", "1.25 s", "12.4 s"; "—" for null. */
export function formatMs(ms: number | null | undefined): string {
  if (ms == null) return "—";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 10_000) return `${(ms / 1000).toFixed(2)} s`;
  return `${(ms / 1000).toFixed(1)} s`;
}

/** "2.5 %", "0 %", "< 0.1 %"; "—" for null (no calls: no rate). */
export function formatRate(rate: number | null | undefined): string {
  if (rate == null) return "—";
  if (rate === 0) return "0 %";
  const pct = rate * 100;
  if (pct < 0.1) return "< 0.1 %";
  return `${pct >= 10 ? pct.toFixed(0) : pct.toFixed(1)} %`;
}

export function formatCount(n: number): string {
  return n.toLocaleString("en-US");
}
