// The news gate's state (GET /api/news-gate): last fetch and classification, why it is
// unavailable, the active risk-off headlines, and every gated bot with its gate now.
import { queryOptions } from "@tanstack/react-query";
import { api, unwrap } from "../api/client";
import type { components } from "../api/schema";
import { POLL } from "../lib/queryClient";

export type NewsGateView = components["schemas"]["NewsGateView"];
export type GatedBot = components["schemas"]["GatedBot"];

export const newsGateQuery = queryOptions({
  queryKey: ["/api/news-gate"],
  queryFn: () => unwrap(api.GET("/api/news-gate")),
  refetchInterval: POLL.fast,
});
