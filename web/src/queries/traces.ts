// GET /api/bots/{id}/decision-traces and /no-trade-traces (newest first, keyset cursor, optional
// [from, to) on created_at), the bot detail they are read against, and the helpers that find one
// trace or trade by id for deep links and linked trades.
import { infiniteQueryOptions, queryOptions } from "@tanstack/react-query";
import { api, unwrap } from "../api/client";
import type { components } from "../api/schema";
import { POLL } from "../lib/queryClient";

export type DecisionTrace = components["schemas"]["DecisionTrace"];
export type NoTradeTrace = components["schemas"]["NoTradeTrace"];
export type TraceBlocker = components["schemas"]["TraceBlocker"];
export type Trade = components["schemas"]["Envelope_PageBody_Trade"]["items"][number];
export type BotDetail = components["schemas"]["BotDetail"];
export type Trace = DecisionTrace | NoTradeTrace;
export type TraceKind = "decision" | "no-trade";

export const TRACE_PATHS = {
  decision: "/api/bots/{id}/decision-traces",
  "no-trade": "/api/bots/{id}/no-trade-traces",
} as const satisfies Record<TraceKind, string>;

export const TRADES_PATH = "/api/bots/{id}/trades";
export const BOT_PATH = "/api/bots/{id}";

/** The server's largest page (store::page::MAX_LIMIT). */
export const MAX_PAGE = 500;

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

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The creation time (ms) a UUIDv7 encodes, or null for any other id. */
export function uuidV7Time(id: string): number | null {
  if (!UUID.test(id) || id[14] !== "7") return null;
  const ms = parseInt(id.replace(/-/g, "").slice(0, 12), 16);
  return Number.isFinite(ms) ? ms : null;
}

/** Whether `ref` names this trace: its row id, or its W3C trace id. */
export function traceMatches(t: Trace, ref: string): boolean {
  const r = ref.toLowerCase();
  return t.id.toLowerCase() === r || t.trace_id.toLowerCase() === r;
}

async function scan<T>(
  fetchPage: (cursor?: string) => Promise<{ items: T[]; next_cursor?: string | null }>,
  match: (t: T) => boolean,
  maxPages: number,
): Promise<{ found: T | null; scanned: number }> {
  let cursor: string | undefined;
  let scanned = 0;
  for (let page = 0; page < maxPages; page++) {
    const p = await fetchPage(cursor);
    scanned += p.items.length;
    const hit = p.items.find(match);
    if (hit) return { found: hit, scanned };
    if (!p.next_cursor) break;
    cursor = p.next_cursor;
  }
  return { found: null, scanned };
}

/** Minutes either side of the time a UUIDv7 id encodes that a search by id reads. */
const ID_WINDOW_MS = 5 * 60_000;
/** How far back a search by W3C trace id (or an id whose time is unknown) reads. */
export const LOCATE_SCAN_PAGES = 4;

export interface Located<T> {
  found: T | null;
  /** What was searched, for "not found" messages. */
  searched: string;
}

/**
 * Finds one trace of a bot by row id or W3C trace id, wherever it is in history: a UUIDv7 row id
 * is looked up around the time it encodes; otherwise the newest traces are read (up to
 * LOCATE_SCAN_PAGES pages of MAX_PAGE). There is no by-id endpoint (see the report).
 */
export async function locateTrace(kind: TraceKind, botId: string, ref: string): Promise<Located<Trace>> {
  const match = (t: Trace) => traceMatches(t, ref);
  const at = uuidV7Time(ref);
  if (at !== null) {
    const from = new Date(at - ID_WINDOW_MS).toISOString();
    const to = new Date(at + ID_WINDOW_MS).toISOString();
    const r = await scan((cursor) => fetchTracePage(kind, botId, { from, to, limit: MAX_PAGE, cursor }), match, 2);
    if (r.found) return { found: r.found, searched: "" };
  }
  const r = await scan((cursor) => fetchTracePage(kind, botId, { limit: MAX_PAGE, cursor }), match, LOCATE_SCAN_PAGES);
  if (r.found) return { found: r.found, searched: "" };
  return {
    found: null,
    searched: `${at !== null ? "the traces around the time its id encodes and " : ""}the ${r.scanned.toLocaleString("en-US")} newest ${kind} traces`,
  };
}

export function locateTraceQuery(kind: TraceKind, botId: string, ref: string) {
  return queryOptions({
    queryKey: [TRACE_PATHS[kind], botId, { locate: ref }],
    queryFn: () => locateTrace(kind, botId, ref),
    staleTime: Infinity,
  });
}

async function fetchTrades(botId: string, query: PageQuery) {
  return unwrap(api.GET("/api/bots/{id}/trades", { params: { path: { id: botId }, query } }));
}

/** The trade a decision links to (trade_log_id): trades are read around the time its id encodes, then the newest. */
export async function locateTrade(botId: string, tradeId: string): Promise<Located<Trade>> {
  const match = (t: Trade) => t.id.toLowerCase() === tradeId.toLowerCase();
  const at = uuidV7Time(tradeId);
  if (at !== null) {
    const from = new Date(at - ID_WINDOW_MS).toISOString();
    const to = new Date(at + ID_WINDOW_MS).toISOString();
    const r = await scan((cursor) => fetchTrades(botId, { from, to, limit: MAX_PAGE, cursor }), match, 2);
    if (r.found) return { found: r.found, searched: "" };
  }
  const r = await scan((cursor) => fetchTrades(botId, { limit: MAX_PAGE, cursor }), match, 1);
  return { found: r.found, searched: r.found ? "" : `the bot's ${r.scanned} newest trades` };
}

export function tradeQuery(botId: string, tradeId: string) {
  return queryOptions({
    queryKey: [TRADES_PATH, botId, { trade: tradeId }],
    queryFn: () => locateTrade(botId, tradeId),
    // A trade's exit and PnL change until it closes.
    staleTime: 10_000,
  });
}
