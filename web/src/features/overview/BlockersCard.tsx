import { Badge, SeverityBadge } from "../../components/Badge";
import { Card } from "../../components/Card";
import { EmptyState } from "../../components/EmptyState";
import { PanelStatus } from "../../components/PanelStatus";
import { TraceId } from "../../components/TraceId";
import { cn } from "../../lib/cn";
import { NoStatus, StaleNote } from "./StaleNote";
import { isStale, type Blocker, type StatusQuery } from "./types";
import { useNow } from "../../lib/time";

const RANK: Record<string, number> = { "SEV-1": 0, "SEV-2": 1 };

function BlockerItem({ blocker }: { blocker: Blocker }) {
  return (
    <li className="flex flex-col gap-1.5 py-3 first:pt-0 last:pb-0" data-testid="blocker">
      <div className="flex flex-wrap items-center gap-2">
        <SeverityBadge severity={blocker.severity} />
        <span className="font-mono text-xs font-semibold">{blocker.code}</span>
      </div>
      <p className="text-sm">{blocker.message}</p>
      <p className="text-sm text-muted">
        <span className="font-medium text-fg">Fix: </span>
        {blocker.suggested_fix}
      </p>
      <TraceId id={blocker.trace_id} short />
    </li>
  );
}

/** What blocks or degrades trading, SEV-1 first; "none" only when the status is fresh. */
export function BlockersCard({ status }: { status: StatusQuery }) {
  const data = status.data;
  const now = useNow(1000);
  const stale = isStale(status, now);
  const blockers = [...(data?.blockers ?? [])].sort((a, b) => (RANK[a.severity] ?? 2) - (RANK[b.severity] ?? 2));
  return (
    <Card
      title="Blockers"
      status={
        <>
          {data && <Badge tone={blockers.length === 0 ? "neutral" : blockers.some((b) => b.severity === "SEV-1") ? "bad" : "warn"}>{blockers.length}</Badge>}
          <PanelStatus query={status} />
        </>
      }
    >
      {status.isPending && <p className="text-sm text-muted">Loading…</p>}
      {status.isError && !data && <NoStatus what="Blockers" />}
      {data && stale && <StaleNote updatedAt={status.dataUpdatedAt} what="blockers" failed={status.isError} />}
      {data && blockers.length === 0 && !stale && (
        <EmptyState title="No blockers reported" reason="The latest status check found nothing that blocks or degrades trading." />
      )}
      {data && blockers.length === 0 && stale && (
        <p className="text-sm text-muted">The last good status listed no blockers; whether any exist now is unknown.</p>
      )}
      {blockers.length > 0 && (
        <ul className={cn("divide-y divide-line", stale && "opacity-70")} aria-label="Blockers">
          {blockers.map((b, i) => (
            <BlockerItem key={`${b.code}-${i}`} blocker={b} />
          ))}
        </ul>
      )}
    </Card>
  );
}
