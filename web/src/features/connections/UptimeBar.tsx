import { cn } from "../../lib/cn";
import type { UptimeBucket } from "../../queries/integrations";

/** Two-digit local hour, "13:00". */
function hour(iso: string): string {
  return `${String(new Date(iso).getHours()).padStart(2, "0")}:00`;
}

/** How one hour looks: no calls is not "up", most calls failing is red, any failing amber. */
export function bucketTone(b: UptimeBucket): "none" | "ok" | "warn" | "bad" {
  const total = b.ok + b.errors;
  if (total === 0) return "none";
  if (b.errors === 0) return "ok";
  return b.errors * 2 > total ? "bad" : "warn";
}

const TONE = { none: "bg-line", ok: "bg-ok", warn: "bg-warn", bad: "bg-bad" } as const;

/**
 * The last 24 hours of a provider's calls, one bar per hour (oldest left). The numbers are in
 * each bar's tooltip and in the summary label, so the colours never stand alone.
 */
export function UptimeBar({ buckets, label }: { buckets: UptimeBucket[]; label: string }) {
  if (buckets.length === 0) return <p className="text-xs text-muted">No calls in the last 24 h</p>;
  const ok = buckets.reduce((n, b) => n + b.ok, 0);
  const errors = buckets.reduce((n, b) => n + b.errors, 0);
  const bad = buckets.filter((b) => b.errors > 0).length;
  const summary = `${label}, last 24 h: ${ok} ok and ${errors} failed calls; ${bad} of ${buckets.length} hours with failures`;
  return (
    <div className="flex flex-col gap-1">
      <div role="img" aria-label={summary} data-testid="uptime-bar" className="flex h-4 items-stretch gap-px">
        {buckets.map((b) => (
          <span
            key={b.start}
            data-tone={bucketTone(b)}
            title={`${hour(b.start)}: ${b.ok} ok, ${b.errors} failed`}
            className={cn("min-w-[3px] flex-1 rounded-[1px]", TONE[bucketTone(b)])}
          />
        ))}
      </div>
      <p className="flex justify-between text-[11px] text-muted tabular-nums">
        <span>{hour(buckets[0]!.start)}</span>
        <span>
          {ok} ok · {errors} failed (24 h)
        </span>
        <span>now</span>
      </p>
    </div>
  );
}
