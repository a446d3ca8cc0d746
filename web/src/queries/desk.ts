// The desk's controls: cancel orders, close position, kill and flatten, acknowledge exposure,
// archive / un-archive one bot; start/stop a selection (POST /api/bots/bulk); the reconciliation
// view (GET /api/reconciliation, POST /api/bots/{id}/reconcile); alert routing
// (GET|PUT /api/settings/alerts, POST /api/settings/alerts/test).
import { queryOptions, useMutation, useQueryClient } from "@tanstack/react-query";
import { api, unwrap } from "../api/client";
import type { components } from "../api/schema";
import { POLL } from "../lib/queryClient";

export type DeskAction = "cancel" | "close" | "killFlatten" | "acknowledge" | "archive" | "unarchive";
export type Removal = components["schemas"]["Removal"];
export type BulkOutcome = components["schemas"]["BulkOutcome"];
export type Mismatch = components["schemas"]["MismatchRow"];
export type AccountRisk = components["schemas"]["AccountRiskStatus"];
export type AlertSettings = components["schemas"]["AlertSettingsBody"];

/** What a desk action answered: the bot after it and, for cancel/close/kill, what was removed. */
export interface DeskAnswer {
  bot: components["schemas"]["Bot"];
  removal?: Removal;
}

export interface DeskRequest {
  action: DeskAction;
  /** A 2FA code: the client steps up (POST /api/auth/step-up) before sending the action. */
  code?: string;
  /** Kill and flatten: why. */
  reason?: string;
}

async function sendDesk(id: string, req: DeskRequest): Promise<DeskAnswer> {
  const path = { path: { id } };
  switch (req.action) {
    case "cancel":
      return unwrap(api.POST("/api/bots/{id}/cancel-orders", { params: path }));
    case "close":
      return unwrap(api.POST("/api/bots/{id}/close-position", { params: path }));
    case "killFlatten":
      return unwrap(api.POST("/api/bots/{id}/kill", { params: path, body: { reason: req.reason?.trim() || null, flatten: true } }));
    case "acknowledge":
      return unwrap(api.POST("/api/bots/{id}/acknowledge-exposure", { params: path }));
    case "archive":
      return unwrap(api.POST("/api/bots/{id}/archive", { params: path }));
    case "unarchive":
      return unwrap(api.POST("/api/bots/{id}/unarchive", { params: path }));
  }
}

/** Runs a desk action on one bot (stepping up first when a code is given). */
export function useDeskAction(id: string) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: async (req: DeskRequest) => {
      if (req.code) {
        await unwrap(api.POST("/api/auth/step-up", { body: { code: req.code.trim() } }));
        void client.invalidateQueries({ queryKey: ["/api/auth/me"] });
      }
      return sendDesk(id, req);
    },
    onSettled: () => {
      void client.invalidateQueries({ queryKey: ["/api/bots/{id}", id] });
      void client.invalidateQueries({ queryKey: ["/api/bots/{id}/position", id] });
      void client.invalidateQueries({ queryKey: ["/api/bots/{id}/orders", id] });
      void client.invalidateQueries({ queryKey: ["/api/bots/{id}/trades", id] });
      void client.invalidateQueries({ queryKey: ["/api/bots"] });
    },
  });
}

/** POST /api/bots/bulk: start or stop a selection; each bot's own outcome. */
export function useBulk() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (body: { action: "start" | "stop"; bot_ids: string[] }) => unwrap(api.POST("/api/bots/bulk", { body })),
    onSettled: () => void client.invalidateQueries({ queryKey: ["/api/bots"] }),
  });
}

export const reconciliationQuery = queryOptions({
  queryKey: ["/api/reconciliation"],
  queryFn: () => unwrap(api.GET("/api/reconciliation")),
  refetchInterval: POLL.fast,
  meta: { critical: true, label: "Reconciliation" },
});

/** POST /api/bots/{id}/reconcile {action} (2FA step-up: a code steps up first). */
export function useReconcile() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: async ({ botId, action, code }: { botId: string; action: "adopt" | "flatten"; code?: string }) => {
      if (code) {
        await unwrap(api.POST("/api/auth/step-up", { body: { code: code.trim() } }));
        void client.invalidateQueries({ queryKey: ["/api/auth/me"] });
      }
      return unwrap(api.POST("/api/bots/{id}/reconcile", { params: { path: { id: botId } }, body: { action } }));
    },
    onSettled: () => void client.invalidateQueries({ queryKey: ["/api/reconciliation"] }),
  });
}

export const accountRiskQuery = queryOptions({
  queryKey: ["/api/account-risk"],
  queryFn: () => unwrap(api.GET("/api/account-risk")),
  refetchInterval: POLL.fast,
  meta: { critical: true, label: "Account risk" },
});

/** POST /api/account-risk/{broker}/{account}/rearm (2FA step-up: a code steps up first). */
export function useRearmAccount() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: async ({ broker, account, code }: { broker: string; account: string; code?: string }) => {
      if (code) {
        await unwrap(api.POST("/api/auth/step-up", { body: { code: code.trim() } }));
        void client.invalidateQueries({ queryKey: ["/api/auth/me"] });
      }
      return unwrap(api.POST("/api/account-risk/{broker}/{account}/rearm", { params: { path: { broker, account } } }));
    },
    onSettled: () => void client.invalidateQueries({ queryKey: ["/api/account-risk"] }),
  });
}

export const alertSettingsQuery = queryOptions({
  queryKey: ["/api/settings/alerts"],
  queryFn: () => unwrap(api.GET("/api/settings/alerts")),
  refetchInterval: POLL.slow,
  meta: { critical: true, label: "Alert routing" },
});

export function useSaveAlertSettings() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (body: { severities: string[]; kills: boolean }) => unwrap(api.PUT("/api/settings/alerts", { body })),
    onSuccess: (body) => client.setQueryData(alertSettingsQuery.queryKey, body),
  });
}

export function useTestAlert() {
  return useMutation({ mutationFn: () => unwrap(api.POST("/api/settings/alerts/test")) });
}
