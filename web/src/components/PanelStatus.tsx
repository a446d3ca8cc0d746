import type { UseQueryResult } from "@tanstack/react-query";
import { ApiError } from "../api/errors";
import { AgeLabel } from "./AgeLabel";
import { Badge } from "./Badge";
import { TraceId } from "./TraceId";

/**
 * A panel's one status spot: loading, fresh ("as of 3 s ago"), or failed — keeping the age of
 * the last good data beside the error so stale numbers are never mistaken for current ones.
 */
export function PanelStatus({ query }: { query: Pick<UseQueryResult, "status" | "error" | "dataUpdatedAt" | "isFetching"> }) {
  if (query.status === "pending") return <span className="text-xs text-muted">loading…</span>;
  if (query.status === "error") {
    const err = query.error;
    const api = err instanceof ApiError ? err : null;
    return (
      <span className="inline-flex flex-wrap items-center gap-2" role="alert">
        <Badge tone="bad">{api?.code ?? "ERROR"}</Badge>
        {query.dataUpdatedAt ? <AgeLabel updatedAt={query.dataUpdatedAt} prefix="stale: last good" /> : null}
        {api?.traceId && <TraceId id={api.traceId} short />}
      </span>
    );
  }
  return <AgeLabel updatedAt={query.dataUpdatedAt} />;
}

/** The message of a failed query, for panels that have no data to keep showing. */
export function QueryError({ error }: { error: unknown }) {
  const api = error instanceof ApiError ? error : null;
  return (
    <div role="alert" className="rounded-md border border-bad/40 bg-bad/10 p-3 text-sm">
      <p className="font-medium text-bad">{api?.code ?? "ERROR"}: {error instanceof Error ? error.message : String(error)}</p>
      {api?.suggestedFix && <p className="mt-1 text-muted">Fix: {api.suggestedFix}</p>}
      {api?.traceId && <p className="mt-1"><TraceId id={api.traceId} /></p>}
    </div>
  );
}
