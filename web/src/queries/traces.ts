// GET /api/bots/{id}/decision-traces and /no-trade-traces (newest first, keyset cursor, optional
// [from, to) on created_at), the bot detail they are read against, and the exact reads of one
// trace (by row id or W3C trace id) or trade (by id) behind deep links and linked trades.
import { infiniteQueryOptions, queryOptions } from "@tanstack/react-query";
import { api, unwrap } from "../api/client";
import { isApiError, type ApiError } from "../api/errors";
import type { components } from "../api/schema";
import { POLL } from "../lib/queryClient";

export type DecisionTrace = components["schemas"]["DecisionTrace"];
export type NoTradeTrace = components["schemas"]["NoTradeTrace"];
export type TraceBlocker = components["schemas"]["TraceBlocker"];
export type Trade = components["schemas"]["Trade"];
export type BotDetail = components["schemas"]["BotDetail"];
export type Trace = DecisionTrace | NoTradeTrace;
export type TraceKind = "decision" | "no-trade";

export const TRACE_PATHS = {
  decision: "/api/bots/{id}/decision-traces",
  "no-trade": "/api/bots/{id}/no-trade-traces",
} as const satisfies Record<TraceKind, string>;

/** Exact reads of one trace: `{trace_id}` is its row id or its W3C trace id. */
export const TRACE_ITEM_PATHS = {
  decision: "/api/bots/{id}/decision-traces/{trace_id}",
  "no-trade": "/api/bots/{id}/no-trade-traces/{trace_id}",
} as const satisfies Record<TraceKind, string>;

export const TRADE_PATH = "/api/bots/{id}/trades/{trade_id}";
export const BOT_PATH = "/api/bots/{id}";

export function isNoTrade(t: Trace): t is NoTradeTrace {
  return "blocked_by" in t;
}

/** When a trace last said something: a folded suppression at its `last_seen_at`. */
export function traceTime(t: Trace): string {
  return isNoTrade(t) ? t.last_seen_at : t.created_at;
}

export interface TimeRange {
  from?: string;
  to?: string;
}

interface PageQuery extends TimeRange {
  limit: number;
  cursor?: string;
}

export interface TracePage {
  items: Trace[];
  next_cursor?: string | null;
}

/** One page of a bot's decision or no-trade traces. */
export async function fetchTracePage(kind: TraceKind, botId: string, query: PageQuery): Promise<TracePage> {
  const params = { path: { id: botId }, query };
  return kind === "decision"
    ? unwrap(api.GET("/api/bots/{id}/decision-traces", { params }))
    : unwrap(api.GET("/api/bots/{id}/no-trade-traces", { params }));
}

/** The bot's traces of one kind in `range`, `pageSize` per page; "Load more" follows next_cursor. */
export function traceListQuery(kind: TraceKind, botId: string, range: TimeRange, pageSize: number) {
  return infiniteQueryOptions({
    queryKey: [TRACE_PATHS[kind], botId, { ...range, limit: pageSize }],
    queryFn: ({ pageParam }) => fetchTracePage(kind, botId, { ...range, limit: pageSize, cursor: pageParam }),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (last) => last.next_cursor ?? undefined,
    // New traces arrive every bar: poll fast while only the first page is loaded, slower once
    // the operator has paged back (each refetch re-reads every loaded page).
    refetchInterval: (q) => ((q.state.data?.pages.length ?? 1) > 1 ? POLL.normal : POLL.fast),
  });
}

/** GET /api/bots/{id}: the bot, its contract and the runner snapshot (status, kill reason). */
export function botDetailQuery(botId: string) {
  return queryOptions({
    queryKey: [BOT_PATH, botId],
    queryFn: () => unwrap(api.GET("/api/bots/{id}", { params: { path: { id: botId } } })),
    refetchInterval: POLL.fast,
  });
}

/** Whether `ref` names this trace: its row id, or its W3C trace id. */
export function traceMatches(t: Trace, ref: string): boolean {
  const r = ref.toLowerCase();
  return t.id.toLowerCase() === r || t.trace_id.toLowerCase() === r;
}

/**
 * An exact read by id. `found` is the row; `null` with `notFound` when the server answered 404
 * TRACE_NOT_FOUND / TRADE_NOT_FOUND: no such row for THIS bot (another bot's row is never
 * shown). Every other failure (bot unknown, malformed id, outage) throws.
 */
export type Lookup<T> = { found: T; notFound: null } | { found: null; notFound: ApiError };

async function lookup<T>(read: Promise<T>, code: string): Promise<Lookup<T>> {
  try {
    return { found: await read, notFound: null };
  } catch (e) {
    if (isApiError(e) && e.status === 404 && e.code === code) return { found: null, notFound: e };
    throw e;
  }
}

/** One trace of a bot by its row id or W3C trace id (GET …/decision-traces/{trace_id}, …/no-trade-traces/{trace_id}). */
export async function fetchTrace(kind: TraceKind, botId: string, ref: string): Promise<Lookup<Trace>> {
  const params = { path: { id: botId, trace_id: ref } };
  return kind === "decision"
    ? lookup(
        unwrap(api.GET("/api/bots/{id}/decision-traces/{trace_id}", { params })).then((d) => d.decision_trace),
        "TRACE_NOT_FOUND",
      )
    : lookup(
        unwrap(api.GET("/api/bots/{id}/no-trade-traces/{trace_id}", { params })).then((d) => d.no_trade_trace),
        "TRACE_NOT_FOUND",
      );
}

export function traceQuery(kind: TraceKind, botId: string, ref: string) {
  return queryOptions({
    queryKey: [TRACE_ITEM_PATHS[kind], botId, ref],
    queryFn: () => fetchTrace(kind, botId, ref),
    // A folded suppression's count and last_seen_at still grow.
    staleTime: 10_000,
  });
}

/** One trade of a bot by id (GET /api/bots/{id}/trades/{trade_id}), e.g. a decision's trade_log_id. */
export async function fetchTrade(botId: string, tradeId: string): Promise<Lookup<Trade>> {
  const params = { path: { id: botId, trade_id: tradeId } };
  return lookup(unwrap(api.GET("/api/bots/{id}/trades/{trade_id}", { params })).then((d) => d.trade), "TRADE_NOT_FOUND");
}

/** The trade a decision links to (trade_log_id), read by id. */
export function tradeQuery(botId: string, tradeId: string) {
  return queryOptions({
    queryKey: [TRADE_PATH, botId, tradeId],
    queryFn: () => fetchTrade(botId, tradeId),
    // A trade's exit and PnL change until it closes.
    staleTime: 10_000,
  });
}
