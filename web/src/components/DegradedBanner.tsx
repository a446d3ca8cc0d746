import { Link } from "@tanstack/react-router";
import { AlertTriangle } from "lucide-react";
import { useFailures } from "../lib/health";
import { systemStatusQuery, useSystemStatus } from "../queries/status";
import { AgeLabel } from "./AgeLabel";
import { TraceId } from "./TraceId";

/**
 * Shown whenever a critical query fails (or has no answer within its freshness limit) or the
 * system is DEGRADED/BLOCKED. It names what failed, when its data was last good and the trace
 * id; it never hides behind stale data.
 */
export function DegradedBanner() {
  const failures = useFailures();
  const status = useSystemStatus();
  const statusStale = failures.some((f) => f.endpoint === systemStatusQuery.queryKey[0]);
  const system = status.data?.system_status;
  const degraded = system === "DEGRADED" || system === "BLOCKED";
  if (failures.length === 0 && !degraded) return null;
  const sev1 = status.data?.blockers.filter((b) => b.severity === "SEV-1").length ?? 0;
  return (
    <div role="alert" aria-label="Degraded" className="border-b border-bad/40 bg-bad/10 px-4 py-2 text-sm" data-testid="degraded-banner">
      {failures.map((f) => (
        <div key={f.endpoint} className="flex flex-wrap items-center gap-x-3 gap-y-1">
          <AlertTriangle size={14} className="text-bad" aria-hidden />
          <span className="font-semibold text-bad">{f.label} {f.stale ? "not current" : "unavailable"}</span>
          <span className="font-mono text-xs">GET {f.endpoint}</span>
          <span>
            {f.code}: {f.message}
          </span>
          <span className="text-xs text-muted">
            {f.lastGoodAt ? <AgeLabel updatedAt={f.lastGoodAt} prefix="last good data" /> : "no good data yet"}
          </span>
          <TraceId id={f.traceId} />
        </div>
      ))}
      {degraded && (
        <div className="flex flex-wrap items-center gap-x-3">
          <AlertTriangle size={14} className={system === "BLOCKED" ? "text-bad" : "text-warn"} aria-hidden />
          <span className="font-semibold">System {system}</span>
          <span>
            {status.data!.blockers.length} blocker{status.data!.blockers.length === 1 ? "" : "s"}
            {sev1 > 0 ? ` (${sev1} SEV-1)` : ""}; autonomy {status.data!.autonomy_allowed ? "allowed" : "not allowed"}.
          </span>
          <Link to="/" className="text-accent underline">
            See blockers
          </Link>
          {statusStale && <AgeLabel updatedAt={status.dataUpdatedAt} prefix="status as of" />}
        </div>
      )}
    </div>
  );
}
