// The Strategy Lab's endpoints: backtests and sweeps (jobs with progress), one backtest with its
// results, a sweep's ranking, "create bot from this result". Keys start with the API path.
// Progress comes live: `useJobStream` folds the `job` events of GET /api/events/stream into the
// cached runs. Only while that stream is down does a QUEUED or RUNNING run's query poll (every
// 2 s); otherwise lists refresh at the normal pace and a run's page does not poll.
import { useEffect, useState } from "react";
import { hashKey, keepPreviousData, queryOptions, useMutation, useQueryClient, type QueryClient } from "@tanstack/react-query";
import { api, unwrap } from "../api/client";
import type { components } from "../api/schema";
import { POLL } from "../lib/queryClient";
import { browserEventSource, type EventSourceFactory, type EventSourceLike } from "./events";

export type Backtest = components["schemas"]["Backtest"];
export type BacktestDetail = components["schemas"]["BacktestDetail"];
export type Sweep = components["schemas"]["Sweep"];
export type SweepView = components["schemas"]["SweepView"];
export type CreateBacktestBody = components["schemas"]["CreateBacktest"];
export type CreateSweepBody = components["schemas"]["CreateSweep"];
export type JobStatus = components["schemas"]["JobStatus"];

/** Without the live stream, progress is polled this often while anything shown is QUEUED or RUNNING. */
export const PROGRESS_POLL_MS = 2_000;

export function isActive(status: JobStatus | undefined): boolean {
  return status === "QUEUED" || status === "RUNNING";
}

// ---- live progress ----

/** Whether a job stream is open now (set by `useJobStream`): then nothing needs to poll. */
let jobStreamLive = false;

export function isJobStreamLive(): boolean {
  return jobStreamLive;
}

/**
 * How often a query showing a QUEUED or RUNNING run refetches: every 2 s while progress is not
 * live; while it is, at the normal pace at most (a safety net: an active run's page never
 * waits on one event alone).
 */
function progressPoll(active: boolean, otherwise: number | false): number | false {
  if (!active) return otherwise;
  if (!jobStreamLive) return PROGRESS_POLL_MS;
  return otherwise === false ? POLL.normal : Math.min(otherwise, POLL.normal);
}

/** The `data` of a `job` event (`bus::EventBus::publish_job`). */
export interface JobEvent {
  job_id: string;
  status: JobStatus;
  progress_pct: number;
}

const STATUSES: readonly string[] = ["QUEUED", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED", "TIMEOUT"];

export function parseJobEvent(raw: string): JobEvent | null {
  try {
    const v: unknown = JSON.parse(raw);
    if (typeof v !== "object" || v === null) return null;
    const { job_id, status, progress_pct } = v as Record<string, unknown>;
    if (typeof job_id !== "string" || typeof status !== "string" || !STATUSES.includes(status) || typeof progress_pct !== "number") return null;
    return { job_id, status: status as JobStatus, progress_pct };
  } catch {
    return null;
  }
}

type Run = { job_id: string; status: JobStatus; progress_pct: number };

const LIVE_KEYS = [["/api/backtests"], ["/api/backtests/sweeps"], ["/api/backtests/{id}"], ["/api/backtests/sweeps/{id}"]] as const;

/**
 * Folds a job event into every cached backtest and sweep (lists and pages) run by that job. A
 * run that ended is refetched (its results, its ranking); a new job refreshes the lists.
 */
export function applyJobEvent(client: QueryClient, ev: JobEvent): void {
  const ended = !isActive(ev.status);
  const patch = <T extends Run>(run: T): T =>
    run.job_id === ev.job_id && (run.status !== ev.status || run.progress_pct !== ev.progress_pct)
      ? { ...run, status: ev.status, progress_pct: ev.progress_pct }
      : run;
  const touched: (readonly unknown[])[] = [];
  const update = <D>(key: readonly unknown[], data: D | undefined, next: (d: D) => D) => {
    if (data === undefined) return;
    const after = next(data);
    if (after !== data) {
      client.setQueryData(key, after);
      touched.push(key);
    }
  };
  const list = <T extends Run>(d: { items: T[] }) => {
    const items = d.items.map(patch);
    return items.some((x, i) => x !== d.items[i]) ? { ...d, items } : d;
  };
  for (const [key, data] of client.getQueriesData<{ items: Backtest[] }>({ queryKey: ["/api/backtests"] })) update(key, data, list);
  for (const [key, data] of client.getQueriesData<{ items: Sweep[] }>({ queryKey: ["/api/backtests/sweeps"] })) update(key, data, list);
  for (const [key, data] of client.getQueriesData<BacktestDetail>({ queryKey: ["/api/backtests/{id}"] }))
    update(key, data, (d) => (patch(d.backtest) === d.backtest ? d : { ...d, backtest: patch(d.backtest) }));
  for (const [key, data] of client.getQueriesData<SweepView>({ queryKey: ["/api/backtests/sweeps/{id}"] }))
    update(key, data, (d) => (patch(d.sweep) === d.sweep ? d : { ...d, sweep: patch(d.sweep) }));
  if (ended) {
    for (const key of touched) void client.invalidateQueries({ queryKey: key, exact: true });
    // A query still loading (or refetching) may answer with the run as it was before this
    // event and then wait on no other: it is read again. (A first load in flight is not
    // restarted by an invalidation, only joined: read again once it has answered.)
    const done = new Set(touched.map((key) => hashKey(key)));
    for (const [prefix] of LIVE_KEYS)
      for (const q of client.getQueryCache().findAll({ queryKey: [prefix] })) {
        if (done.has(q.queryHash)) continue;
        const again = () => client.invalidateQueries({ queryKey: q.queryKey, exact: true });
        if (q.state.data === undefined) void again().then(again);
        else if (q.state.fetchStatus === "fetching") void again();
      }
  }
  if (ev.status === "QUEUED" && touched.length === 0) {
    void client.invalidateQueries({ queryKey: ["/api/backtests"] });
    void client.invalidateQueries({ queryKey: ["/api/backtests/sweeps"] });
  }
}

/**
 * Keeps a same-origin EventSource on GET /api/events/stream?kinds=job open while a lab page is
 * shown and folds its `job` events into the cache. While it is open the lab's queries stop
 * polling; when it fails they poll again (and catch up at once), and the browser's own
 * reconnect brings the stream back. Returns whether progress is live.
 */
export function useJobStream(factory?: EventSourceFactory): boolean {
  const client = useQueryClient();
  const [live, setLive] = useState(false);
  useEffect(() => {
    // No EventSource (an old browser, a unit test without a fake): progress stays polled.
    const open = factory ?? (typeof EventSource === "function" ? browserEventSource : null);
    if (!open) return;
    const catchUp = () => {
      for (const key of LIVE_KEYS) void client.invalidateQueries({ queryKey: key });
    };
    const setMode = (on: boolean) => {
      if (jobStreamLive !== on) {
        jobStreamLive = on;
        // Re-evaluates every lab query's poll interval (and catches up after a gap).
        catchUp();
      }
      setLive(on);
    };
    const source: EventSourceLike = open("/api/events/stream?kinds=job");
    source.addEventListener("open", () => setMode(true));
    source.addEventListener("error", () => setMode(false));
    source.addEventListener("job", (ev) => {
      const event = parseJobEvent(ev.data);
      if (event) applyJobEvent(client, event);
    });
    source.addEventListener("reset", catchUp);
    return () => {
      source.close();
      jobStreamLive = false;
    };
  }, [client, factory]);
  return live;
}

export const LAB_PAGE = 50;

export const backtestsQuery = (filter: { botId?: string; sweepId?: string; cursor?: string; limit?: number }) =>
  queryOptions({
    queryKey: ["/api/backtests", filter],
    queryFn: () =>
      unwrap(api.GET("/api/backtests", { params: { query: { limit: filter.limit ?? LAB_PAGE, bot_id: filter.botId, sweep_id: filter.sweepId, cursor: filter.cursor } } })),
    refetchInterval: (q) => progressPoll(!!q.state.data?.items.some((b) => isActive(b.status)), POLL.normal),
    placeholderData: keepPreviousData,
    meta: { critical: true, label: "Backtests" },
  });

export const sweepsQuery = (filter: { cursor?: string }) =>
  queryOptions({
    queryKey: ["/api/backtests/sweeps", filter],
    queryFn: () => unwrap(api.GET("/api/backtests/sweeps", { params: { query: { limit: LAB_PAGE, cursor: filter.cursor } } })),
    refetchInterval: (q) => progressPoll(!!q.state.data?.items.some((s) => isActive(s.status)), POLL.normal),
    placeholderData: keepPreviousData,
    meta: { critical: true, label: "Sweeps" },
  });

export const backtestQuery = (id: string) =>
  queryOptions({
    queryKey: ["/api/backtests/{id}", id],
    queryFn: () => unwrap(api.GET("/api/backtests/{id}", { params: { path: { id } } })),
    refetchInterval: (q) => progressPoll(!q.state.data || isActive(q.state.data.backtest.status), false),
    meta: { label: "Backtest" },
  });

export type SortKey = components["schemas"]["SortKey"];

export const sweepQuery = (id: string, sort?: SortKey, order?: "asc" | "desc") =>
  queryOptions({
    queryKey: ["/api/backtests/sweeps/{id}", id, sort ?? null, order ?? null],
    queryFn: () => unwrap(api.GET("/api/backtests/sweeps/{id}", { params: { path: { id }, query: { sort, order } } })),
    refetchInterval: (q) => progressPoll(!q.state.data || isActive(q.state.data.sweep.status), false),
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
