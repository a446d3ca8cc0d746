// The Strategy Lab's endpoints: backtests and sweeps (jobs with progress), one backtest with its
// results, a sweep's ranking, "create bot from this result". Keys start with the API path.
// While a run is QUEUED or RUNNING its query polls every 2 s (progress), otherwise it does not.
import { keepPreviousData, queryOptions, useMutation, useQueryClient } from "@tanstack/react-query";
import { api, unwrap } from "../api/client";
import type { components } from "../api/schema";
import { POLL } from "../lib/queryClient";

export type Backtest = components["schemas"]["Backtest"];
export type BacktestDetail = components["schemas"]["BacktestDetail"];
export type Sweep = components["schemas"]["Sweep"];
export type SweepView = components["schemas"]["SweepView"];
export type CreateBacktestBody = components["schemas"]["CreateBacktest"];
export type CreateSweepBody = components["schemas"]["CreateSweep"];
export type JobStatus = components["schemas"]["JobStatus"];

/** Progress is polled this often while anything shown is QUEUED or RUNNING. */
export const PROGRESS_POLL_MS = 2_000;

export function isActive(status: JobStatus | undefined): boolean {
  return status === "QUEUED" || status === "RUNNING";
}

export const LAB_PAGE = 50;

export const backtestsQuery = (filter: { botId?: string; sweepId?: string; cursor?: string; limit?: number }) =>
  queryOptions({
    queryKey: ["/api/backtests", filter],
    queryFn: () =>
      unwrap(api.GET("/api/backtests", { params: { query: { limit: filter.limit ?? LAB_PAGE, bot_id: filter.botId, sweep_id: filter.sweepId, cursor: filter.cursor } } })),
    refetchInterval: (q) => (q.state.data?.items.some((b) => isActive(b.status)) ? PROGRESS_POLL_MS : POLL.normal),
    placeholderData: keepPreviousData,
    meta: { critical: true, label: "Backtests" },
  });

export const sweepsQuery = (filter: { cursor?: string }) =>
  queryOptions({
    queryKey: ["/api/backtests/sweeps", filter],
    queryFn: () => unwrap(api.GET("/api/backtests/sweeps", { params: { query: { limit: LAB_PAGE, cursor: filter.cursor } } })),
    refetchInterval: (q) => (q.state.data?.items.some((s) => isActive(s.status)) ? PROGRESS_POLL_MS : POLL.normal),
    placeholderData: keepPreviousData,
    meta: { critical: true, label: "Sweeps" },
  });

export const backtestQuery = (id: string) =>
  queryOptions({
    queryKey: ["/api/backtests/{id}", id],
    queryFn: () => unwrap(api.GET("/api/backtests/{id}", { params: { path: { id } } })),
    refetchInterval: (q) => (!q.state.data || isActive(q.state.data.backtest.status) ? PROGRESS_POLL_MS : false),
    meta: { label: "Backtest" },
  });

export type SortKey = components["schemas"]["SortKey"];

export const sweepQuery = (id: string, sort?: SortKey, order?: "asc" | "desc") =>
  queryOptions({
    queryKey: ["/api/backtests/sweeps/{id}", id, sort ?? null, order ?? null],
    queryFn: () => unwrap(api.GET("/api/backtests/sweeps/{id}", { params: { path: { id }, query: { sort, order } } })),
    refetchInterval: (q) => (!q.state.data || isActive(q.state.data.sweep.status) ? PROGRESS_POLL_MS : false),
    placeholderData: keepPreviousData,
    meta: { label: "Sweep" },
  });

export function useCreateBacktest() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (body: CreateBacktestBody) => unwrap(api.POST("/api/backtests", { body })),
    onSuccess: () => void client.invalidateQueries({ queryKey: ["/api/backtests"] }),
  });
}

export function useCreateSweep() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (body: CreateSweepBody) => unwrap(api.POST("/api/backtests/sweeps", { body })),
    onSuccess: () => void client.invalidateQueries({ queryKey: ["/api/backtests/sweeps"] }),
  });
}

export function useCreateBotFromBacktest(id: string) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (name: string | undefined) => unwrap(api.POST("/api/backtests/{id}/bot", { params: { path: { id } }, body: { name } })),
    onSuccess: () => void client.invalidateQueries({ queryKey: ["/api/bots"] }),
  });
}

export type BacktestBars = components["schemas"]["BacktestBars"];

/** The price chart's candles of a backtest's range (GET /api/backtests/{id}/bars). */
export const backtestBarsQuery = (id: string, maxCandles: number) =>
  queryOptions({
    queryKey: ["/api/backtests/{id}/bars", id, maxCandles],
    queryFn: () => unwrap(api.GET("/api/backtests/{id}/bars", { params: { path: { id }, query: { max_candles: maxCandles } } })),
    staleTime: Infinity,
    meta: { label: "Backtest bars" },
  });
