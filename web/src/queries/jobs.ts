// /api/jobs: job runs (backtests and other background work) with their state and progress,
// and the operator's cancel.
import { keepPreviousData, queryOptions } from "@tanstack/react-query";
import { api, unwrap } from "../api/client";
import type { components } from "../api/schema";
import { POLL } from "../lib/queryClient";

export type JobRun = components["schemas"]["JobRun"];
export type JobStatus = components["schemas"]["JobStatus"];

/** A job the operator may still cancel (the FSM allows QUEUED|RUNNING → CANCELLED only). */
export function cancellable(status: JobStatus): boolean {
  return status === "QUEUED" || status === "RUNNING";
}

export const JOBS_PAGE = 50;

export const jobsQuery = (filter: { status?: JobStatus; cursor?: string }) =>
  queryOptions({
    queryKey: ["/api/jobs", filter],
    queryFn: () => unwrap(api.GET("/api/jobs", { params: { query: { limit: JOBS_PAGE, status: filter.status, cursor: filter.cursor } } })),
    refetchInterval: POLL.fast,
    placeholderData: keepPreviousData,
    meta: { critical: true, label: "Jobs" },
  });

/** POST /api/jobs/{id}/cancel (operator role). */
export function cancelJob(id: string) {
  return unwrap(api.POST("/api/jobs/{id}/cancel", { params: { path: { id } } }));
}
