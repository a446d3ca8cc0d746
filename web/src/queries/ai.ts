// AI actions: Explain a bot (POST /api/bots/{id}/explain) and review a backtest or sweep
// (POST /api/backtests/{id}/review, /api/backtests/sweeps/{id}/review). Both are billed LLM
// calls, so they run only when the operator asks (mutations), never on page load.
import { useMutation } from "@tanstack/react-query";
import { api, unwrap } from "../api/client";
import type { components } from "../api/schema";

export type Explanation = components["schemas"]["Explanation"];
export type Citation = components["schemas"]["Citation"];
export type BacktestReview = components["schemas"]["BacktestReview"];
export type ReviewCheck = components["schemas"]["Check"];

export function useExplain(botId: string) {
  return useMutation({
    mutationKey: ["/api/bots/{id}/explain", botId],
    mutationFn: async () => (await unwrap(api.POST("/api/bots/{id}/explain", { params: { path: { id: botId } } }))).explanation,
  });
}

export type ReviewSubject = "backtest" | "sweep";

export function useReview(subject: ReviewSubject, id: string) {
  return useMutation({
    mutationKey: ["review", subject, id],
    mutationFn: async () =>
      (
        await unwrap(
          subject === "backtest"
            ? api.POST("/api/backtests/{id}/review", { params: { path: { id } } })
            : api.POST("/api/backtests/sweeps/{id}/review", { params: { path: { id } } }),
        )
      ).review,
  });
}

/** The checks a refused review still carries in its error details (`details.checks`). */
export function checksOfRefusal(details: unknown): ReviewCheck[] {
  if (!details || typeof details !== "object") return [];
  const checks = (details as { checks?: unknown }).checks;
  if (!Array.isArray(checks)) return [];
  return checks.filter((c): c is ReviewCheck => Boolean(c) && typeof c === "object" && typeof c.code === "string" && typeof c.outcome === "string");
}
