import { queryOptions, useQuery } from "@tanstack/react-query";
import { api, unwrap } from "../api/client";
import { POLL } from "../lib/queryClient";

/** GET /api/system/status: the shell's pill, the banner and the Overview all read this one query. */
export const systemStatusQuery = queryOptions({
  queryKey: ["/api/system/status"],
  queryFn: () => unwrap(api.GET("/api/system/status")),
  refetchInterval: POLL.fast,
  meta: { critical: true, label: "System status" },
});

export function useSystemStatus() {
  return useQuery(systemStatusQuery);
}

/** GET /api/system/kill-switch: the global kill switch state shown in the shell. */
export const killSwitchQuery = queryOptions({
  queryKey: ["/api/system/kill-switch"],
  queryFn: () => unwrap(api.GET("/api/system/kill-switch")),
  refetchInterval: POLL.fast,
  meta: { critical: true, label: "Kill switch" },
});
