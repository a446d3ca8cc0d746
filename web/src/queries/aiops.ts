// AI Ops reads: per LLM provider summary over a window, and the same per time bucket.
import { queryOptions } from "@tanstack/react-query";
import { api, unwrap } from "../api/client";
import type { components } from "../api/schema";
import { POLL } from "../lib/queryClient";

export type AiOpsSummary = components["schemas"]["AiOpsSummary"];
export type ProviderAiOps = components["schemas"]["ProviderAiOps"];
export type AiOpsTotals = components["schemas"]["AiOpsTotals"];

/** The windows the page offers, and how many buckets each is cut into for the charts. */
export const WINDOWS = [
  { id: "1h", label: "1 h", buckets: 12 },
  { id: "24h", label: "24 h", buckets: 24 },
  { id: "7d", label: "7 d", buckets: 28 },
] as const;
export type WindowId = (typeof WINDOWS)[number]["id"];

export function windowOf(raw: string | undefined): (typeof WINDOWS)[number] {
  return WINDOWS.find((w) => w.id === raw) ?? WINDOWS[1];
}

/** GET /api/ai-ops/summary?window=: calls, errors by code and latency percentiles per provider. */
export const aiOpsSummaryQuery = (window: WindowId) =>
  queryOptions({
    queryKey: ["/api/ai-ops/summary", { window }],
    queryFn: () => unwrap(api.GET("/api/ai-ops/summary", { params: { query: { window } } })),
    refetchInterval: POLL.slow,
    meta: { critical: true, label: "AI Ops summary" },
  });

export type AiOpsSeries = components["schemas"]["AiOpsSeries"];
export type AiOpsProviderSeries = components["schemas"]["AiOpsProviderSeries"];
export type AiOpsBucket = components["schemas"]["AiOpsBucket"];

/** GET /api/ai-ops/series?window=&buckets=: per provider, calls, errors and p50/p95/p99 per bucket. */
export const aiOpsSeriesQuery = (window: WindowId, buckets: number) =>
  queryOptions({
    queryKey: ["/api/ai-ops/series", { window, buckets }],
    queryFn: () => unwrap(api.GET("/api/ai-ops/series", { params: { query: { window, buckets: String(buckets) } } })),
    refetchInterval: POLL.slow,
    meta: { critical: true, label: "AI Ops series" },
  });
