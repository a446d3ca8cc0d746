// Test data and msw handlers for the traces and autonomy tests: paged lists that honour limit,
// cursor, from and to the way the server does (newest first, [from, to) on created_at), and the
// by-id reads (one trace by row id or W3C trace id, one trade), scoped to the bot as the server does.
import { http, HttpResponse } from "msw";
import { apiError, ok } from "../../../test/render";
import type { DecisionTrace, NoTradeTrace, Trade } from "../../../queries/traces";

export const BOT = "0190a0b0-0000-7000-8000-00000000b001";

/** A UUIDv7 whose time is `ms`, like the server's row ids. */
export function v7(ms: number, n: number): string {
  const hex = ms.toString(16).padStart(12, "0");
  const tail = n.toString(16).padStart(12, "0");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-7000-8000-${tail}`;
}

let seq = 0;
const traceId = () => (++seq).toString(16).padStart(32, "a");

export function decision(at: number, over: Partial<DecisionTrace> = {}): DecisionTrace {
  return {
    id: v7(at, ++seq),
    bot_id: BOT,
    run_id: null,
    trade_log_id: null,
    created_at: new Date(at).toISOString(),
    decision_type: "ENTRY",
    reason_human: "Fast SMA crossed above slow SMA",
    reason_code: "SMA_CROSS_UP",
    signals: { fast_sma: 5012.25, slow_sma: 5010.5 } as never,
    variables_snapshot: { fast: 10, slow: 30 } as never,
    confidence: 0.72,
    expected_value: 12.5,
    risk_snapshot: { max_position: 2, position: 0, execution: { kind: "AwaitingNextBar" } } as never,
    trace_id: traceId(),
    ...over,
  };
}

export function noTrade(at: number, over: Partial<NoTradeTrace> = {}): NoTradeTrace {
  return {
    id: v7(at, ++seq),
    bot_id: BOT,
    run_id: null,
    created_at: new Date(at).toISOString(),
    last_seen_at: new Date(at).toISOString(),
    count: 1,
    suppression_type: "GATE_BLOCKED",
    suppression_decision: "ENTRY",
    reason_human: "The market is closed",
    reason_code: "MARKET_CLOSED",
    blocked_by: [
      { gate: "market_hours", code: "MARKET_CLOSED", reason_human: "CME Globex is closed until 17:00 CT.", suggested_fix: "Wait for the session to open." },
    ],
    signals: {} as never,
    variables_snapshot: { fast: 10 } as never,
    trace_id: traceId(),
    ...over,
  };
}

export function trade(at: number, over: Partial<Trade> = {}): Trade {
  return {
    id: v7(at, ++seq),
    bot_id: BOT,
    run_id: null,
    symbol: "ES",
    side: "LONG",
    quantity: 2,
    entry_price: "5012.25",
    exit_price: "5015.00",
    realized_pnl: "275.00",
    commission: "4.20",
    opened_at: new Date(at).toISOString(),
    closed_at: new Date(at + 60_000).toISOString(),
    created_at: new Date(at).toISOString(),
    stage: "PAPER",
    ...over,
  };
}

export interface Seen {
  urls: URL[];
}

/** Serves `items` (any order) as the server would: newest first, paged, time-filtered. */
export function pagedHandler<T extends { created_at: string; id: string }>(path: string, items: T[], seen?: Seen) {
  const sorted = [...items].sort((a, b) => Date.parse(b.created_at) - Date.parse(a.created_at) || (a.id < b.id ? 1 : -1));
  return http.get(`*${path}`, ({ request }) => {
    const url = new URL(request.url);
    seen?.urls.push(url);
    const limit = Number(url.searchParams.get("limit") ?? 50);
    const from = url.searchParams.get("from");
    const to = url.searchParams.get("to");
    const cursor = url.searchParams.get("cursor");
    const inRange = sorted.filter((t) => {
      const at = Date.parse(t.created_at);
      return (!from || at >= Date.parse(from)) && (!to || at < Date.parse(to));
    });
    const start = cursor ? Number(cursor) : 0;
    const page = inRange.slice(start, start + limit);
    const next = start + limit < inRange.length ? String(start + limit) : null;
    return HttpResponse.json(ok({ items: page, next_cursor: next }));
  });
}

/**
 * Serves GET `path` (ending in /:ref) as the server's exact reads do: the item of bot `:id` whose
 * row id or (traces) W3C trace id equals `:ref` case-insensitively, wrapped as `{[key]: item}`;
 * otherwise 404 with `notFoundCode` (another bot's item is not found either).
 */
export function byIdHandler<T extends { id: string; bot_id: string; trace_id?: string }>(
  path: string,
  key: string,
  notFoundCode: "TRACE_NOT_FOUND" | "TRADE_NOT_FOUND",
  items: T[],
  seen?: Seen,
) {
  return http.get(`*${path}`, ({ request, params }) => {
    seen?.urls.push(new URL(request.url));
    const ref = String(params.ref).toLowerCase();
    const hit = items.find((t) => t.bot_id === params.id && (t.id.toLowerCase() === ref || t.trace_id?.toLowerCase() === ref));
    if (hit) return HttpResponse.json(ok({ [key]: hit }));
    return HttpResponse.json(apiError(notFoundCode, `no such row ${String(params.ref)} for bot ${String(params.id)}`, NOT_FOUND_TRACE_ID, "Use an id listed for this bot."), {
      status: 404,
    });
  });
}

/** The request trace id the by-id handlers' 404 answers carry. */
export const NOT_FOUND_TRACE_ID = "5cf92f3577b34da6a3ce929d0e0e4737";

export const DECISION_BY_ID = "/api/bots/:id/decision-traces/:ref";
export const NO_TRADE_BY_ID = "/api/bots/:id/no-trade-traces/:ref";
export const TRADE_BY_ID = "/api/bots/:id/trades/:ref";

export const decisionById = (items: DecisionTrace[], seen?: Seen) => byIdHandler(DECISION_BY_ID, "decision_trace", "TRACE_NOT_FOUND", items, seen);
export const noTradeById = (items: NoTradeTrace[], seen?: Seen) => byIdHandler(NO_TRADE_BY_ID, "no_trade_trace", "TRACE_NOT_FOUND", items, seen);
export const tradeById = (items: Trade[], seen?: Seen) => byIdHandler(TRADE_BY_ID, "trade", "TRADE_NOT_FOUND", items, seen);

export function meHandler(role: "viewer" | "operator" | "admin") {
  return http.get("*/api/auth/me", () =>
    HttpResponse.json(
      ok({
        user: {
          id: "0190a0b0-0000-7000-8000-0000000000u1",
          email: `${role}@example.com`,
          role,
          created_at: "2026-01-01T00:00:00Z",
          disabled: false,
          backup_codes_remaining: 0,
          two_factor_enabled: false,
        },
        session: { id: "s1", created_at: "2026-01-01T00:00:00Z", expires_at: "2027-01-01T00:00:00Z", last_seen_at: "2026-01-01T00:00:00Z", current: true },
      }),
    ),
  );
}

export function botDetail(status: string, runner: Record<string, unknown> | null = null, openBreakers: string[] = []) {
  return {
    bot: {
      id: BOT,
      name: "es-sma",
      symbol: "ES",
      timeframe: "1m",
      stage: "PAPER",
      status,
      is_trading_enabled: true,
      strategy: { kind: "sma_crossover", params: {} },
      risk_limits: {},
      created_at: "2026-01-01T00:00:00Z",
      updated_at: "2026-01-01T00:00:00Z",
    },
    contract: null,
    runner,
    summary: { autonomy: null, today_pnl: null, last_evaluation_at: null, open_breakers: openBreakers },
  };
}

export function runner(status: string, over: Record<string, unknown> = {}) {
  return {
    bot_id: BOT,
    status,
    breaker_state: "CLOSED",
    kill_reason: null,
    last_error: null,
    live: true,
    restart_count: 0,
    ticks: 10,
    ...over,
  };
}
