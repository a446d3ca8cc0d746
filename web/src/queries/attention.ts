// The Overview's reads: the needs-attention queue and today's PnL series of the fleet.
import { queryOptions } from "@tanstack/react-query";
import { api, unwrap } from "../api/client";
import type { components } from "../api/schema";
import { POLL } from "../lib/queryClient";

export type AttentionBody = components["schemas"]["AttentionBody"];
export type AttentionItem = components["schemas"]["AttentionItemView"];
export type PnlTodayBody = components["schemas"]["PnlTodayBody"];

/** GET /api/attention: what needs a human now, SEV-1 first then oldest first. */
export const attentionQuery = queryOptions({
  queryKey: ["/api/attention"],
  queryFn: () => unwrap(api.GET("/api/attention")),
  refetchInterval: POLL.fast,
  meta: { critical: true, label: "Needs attention" },
});

/** GET /api/fleet/pnl-today: each bot's realized PnL after each close today (sparklines). */
export const pnlTodayQuery = queryOptions({
  queryKey: ["/api/fleet/pnl-today"],
  queryFn: () => unwrap(api.GET("/api/fleet/pnl-today")),
  refetchInterval: POLL.normal,
});
