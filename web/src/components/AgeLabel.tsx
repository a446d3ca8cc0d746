import { ago, useNow } from "../lib/time";

/** "as of 12 s ago" for data fetched at `updatedAt` (ms); "no data yet" before the first. */
export function AgeLabel({ updatedAt, prefix = "as of" }: { updatedAt: number | null | undefined; prefix?: string }) {
  const now = useNow(1000);
  if (!updatedAt) return <span className="text-xs text-muted">no data yet</span>;
  return (
    <span className="text-xs text-muted" title={new Date(updatedAt).toISOString()}>
      {prefix} {ago(updatedAt, now)}
    </span>
  );
}
