// Test data for the bots feature, shaped like the server's answers (src/api/bots.rs,
// src/api/ledger.rs, the list/detail `summary`).
import { http, HttpResponse } from "msw";
import { ok } from "../../test/render";
import type { Bot, BotSummary, Order, Trade } from "../../queries/bots";

export const BOT_ID = "0190a000-0000-7000-8000-000000000001";

export function bot(over: Partial<Bot> = {}): Bot {
  return {
    id: BOT_ID,
    name: "es-sma-paper",
    symbol: "ES",
    timeframe: "1m",
    stage: "PAPER",
    status: "RUNNING",
    is_trading_enabled: false,
    created_at: "2026-11-20T10:00:00Z",
    updated_at: "2026-11-26T12:00:00Z",
    created_by: "ops@example.com",
    strategy: { kind: "sma_crossover", params: { fast: 10, slow: 30, average: "sma" } } as unknown as Bot["strategy"],
    risk_limits: {
      max_order_size: 1,
      max_position: 1,
      daily_loss_limit: "500",
      max_drawdown: "1000",
      max_orders_per_minute: 10,
      price_collar_ticks: 20,
      max_data_age_seconds: 125,
    },
    ...over,
  };
}

export function summary(over: Partial<BotSummary> = {}, pnl: Partial<BotSummary["today_pnl"]> = {}): BotSummary {
  return {
    autonomy: { score: 72, tier: "LIMITED_AUTONOMY", computed_at: "2026-11-26T12:00:00Z" },
    today_pnl: {
      trade_date: "2026-11-26",
      trade_date_start: "2026-11-25T23:00:00Z",
      realized: "125.50",
      trades_closed: 2,
      position_quantity: 1,
      unrealized: "-25.00",
      mark_price: "6012.25",
      marked_at: "2026-11-26T12:59:00Z",
      ...pnl,
    },
    last_evaluation_at: new Date(Date.now() - 30_000).toISOString(),
    open_breakers: [],
    ...over,
  };
}

export function item(b: Partial<Bot> = {}, s: BotSummary = summary()) {
  return { ...bot(b), summary: s };
}

export function me(role: "viewer" | "operator" | "admin", stepUpValidUntil: string | null = null) {
  return ok({
    user: {
      id: "0190a000-0000-7000-8000-0000000000aa",
      email: `${role}@example.com`,
      role,
      disabled: false,
      created_at: "2026-11-01T00:00:00Z",
      two_factor_enabled: true,
      backup_codes_remaining: 8,
    },
    session: {
      id: "0190a000-0000-7000-8000-0000000000bb",
      current: true,
      created_at: "2026-11-26T08:00:00Z",
      expires_at: "2026-11-27T08:00:00Z",
      last_seen_at: "2026-11-26T12:00:00Z",
    },
    step_up_valid_until: stepUpValidUntil,
  });
}

export const meHandler = (role: "viewer" | "operator" | "admin", stepUpValidUntil: string | null = null) =>
  http.get("*/api/auth/me", () => HttpResponse.json(me(role, stepUpValidUntil)));

export const killSwitchHandler = (active = false) =>
  http.get("*/api/system/kill-switch", () =>
    HttpResponse.json(ok({ kill_switch: { active, reason: active ? "drill" : null }, killed_bot_ids: [], cancelled_order_ids: [] })),
  );

export function trade(over: Partial<Trade> = {}): Trade {
  return {
    id: "0190a000-0000-7000-8000-0000000000c1",
    bot_id: BOT_ID,
    symbol: "ES",
    side: "LONG",
    quantity: 1,
    entry_price: "6000.00",
    exit_price: "6002.00",
    realized_pnl: "100.00",
    commission: "4.50",
    opened_at: "2026-11-26T10:00:00Z",
    closed_at: "2026-11-26T10:05:00Z",
    created_at: "2026-11-26T10:00:00Z",
    stage: "PAPER",
    ...over,
  };
}

export function order(over: Partial<Order> = {}): Order {
  return {
    id: "0190a000-0000-7000-8000-0000000000d1",
    bot_id: BOT_ID,
    symbol: "ES",
    side: "BUY",
    quantity: 1,
    order_type: "MARKET",
    status: "WORKING",
    stage: "PAPER",
    idempotency_key: "k1",
    reference_price: "6010.00",
    decision_trace_id: "0190a000-0000-7000-8000-0000000000e1",
    created_at: "2026-11-26T12:58:00Z",
    updated_at: "2026-11-26T12:58:00Z",
    ...over,
  };
}

export const position = {
  position: { bot_id: BOT_ID, symbol: "ES", quantity: 1, average_price: "6010.00", realized_pnl: "240.00", updated_at: "2026-11-26T12:00:00Z" },
  working_orders: [] as Order[],
  mark: { price: "6012.25", bar_at: "2026-11-26T12:59:00Z", timeframe: "1m", provider_id: "databento" },
  unrealized_pnl: "112.50",
};
