import { ago, formatTime, parseTime, useNow } from "../../lib/time";

/** "2 min ago" with the exact time as its tooltip, or `never` (explained by `neverTitle`). */
export function When({ iso, never, neverTitle }: { iso: string | null | undefined; never: string; neverTitle?: string }) {
  const now = useNow(1000);
  const t = parseTime(iso);
  if (t === null) return <span className="text-muted" title={neverTitle}>{never}</span>;
  return <time dateTime={iso ?? undefined} title={formatTime(iso)}>{ago(t, now)}</time>;
}
