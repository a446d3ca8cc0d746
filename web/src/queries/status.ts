import { queryOptions, useQuery } from "@tanstack/react-query";
import { api, unwrap } from "../api/client";
import { POLL } from "../lib/queryClient";
import { stepUp } from "./auth";

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

/** GET /api/system/trading-switch: the global trading switch shown in the shell. */
export const tradingSwitchQuery = queryOptions({
  queryKey: ["/api/system/trading-switch"],
  queryFn: () => unwrap(api.GET("/api/system/trading-switch")),
  refetchInterval: POLL.normal,
  meta: { critical: true, label: "Trading switch" },
});


/** POST /api/system/kill-switch (admin; a release needs a recent step-up: `code` steps up first). */
export async function setKillSwitch(req: { active: boolean; reason?: string; code?: string }) {
  if (req.code) await stepUp(req.code);
  return unwrap(api.POST("/api/system/kill-switch", { body: req.reason ? { active: req.active, reason: req.reason } : { active: req.active } }));
}

/** POST /api/system/trading-switch (admin; turning it on needs a recent step-up: `code` steps up first). */
export async function setTradingSwitch(req: { enabled: boolean; code?: string }) {
  if (req.code) await stepUp(req.code);
  return unwrap(api.POST("/api/system/trading-switch", { body: { enabled: req.enabled } }));
}
