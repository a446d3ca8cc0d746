import { AlertTriangle } from "lucide-react";
import { AgeLabel } from "../../components/AgeLabel";

/**
 * Says that what a card shows is the last good status, not the current one: the status endpoint
 * is failing (`failed`), or it has not answered within the freshness limit.
 */
export function StaleNote({ updatedAt, what, failed }: { updatedAt: number; what: string; failed: boolean }) {
  return (
    <p className="mb-3 flex flex-wrap items-center gap-x-2 rounded-md border border-warn/40 bg-warn/10 px-3 py-2 text-xs">
      <AlertTriangle size={13} className="text-warn" aria-hidden />
      <span>
        Stale: {what} from the last good status (<AgeLabel updatedAt={updatedAt} />
        ). {failed ? "The status endpoint is failing" : "The status endpoint has not answered since"}, so what holds now is unknown.
      </span>
    </p>
  );
}

/** The body of a card that has no data because the status endpoint failed before any answer. */
export function NoStatus({ what }: { what: string }) {
  return <p className="text-sm text-muted">{what} unknown: the status endpoint failed before its first answer (see System status).</p>;
}
