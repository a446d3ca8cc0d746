// Queries and mutations of the bots endpoints. Keys start with the API path (templated for
// per-bot paths, e.g. ["/api/bots/{id}", id]) so the DegradedBanner and useActionGate name the
// endpoint that failed.
import { keepPreviousData, queryOptions, useMutation, useQueryClient } from "@tanstack/react-query";
import { api, unwrap } from "../api/client";
import { isApiError } from "../api/errors";
import { stepUp } from "./auth";
import { botStatusValues, stageValues, symbolValues, timeframeValues, type components } from "../api/schema";
import { POLL } from "../lib/queryClient";

export type Bot = components["schemas"]["Bot"];
export type BotDetail = components["schemas"]["BotDetail"];
export type Trade = components["schemas"]["Trade"];
export type Order = components["schemas"]["Order"];
export type PositionBody = components["schemas"]["PositionBody"];
export type RunnerSnapshot = components["schemas"]["RunnerSnapshot"];

/** A page item of GET /api/bots: the bot plus its `summary`. */
export type BotListItem = components["schemas"]["Envelope_PageBody_BotListItem"]["items"][number];

// ---------- the API's vocabulary (value lists generated from the OpenAPI document) ----------

export type Stage = components["schemas"]["Stage"];
export type BotStatus = components["schemas"]["BotStatus"];
export type Instrument = components["schemas"]["Symbol"];
export type Timeframe = components["schemas"]["Timeframe"];
/** Lowest first: promotion moves one step up this list. */
export const STAGES = stageValues;
export const STATUSES = botStatusValues;
export const SYMBOLS = symbolValues;
export const TIMEFRAMES = timeframeValues;

/** Runner states in which a runner exists or is about to (`BotStatus::is_live`). */
export const LIVE_STATUSES: ReadonlySet<string> = new Set<BotStatus>(["STARTING", "RUNNING", "RESTARTING", "SUSPENDED"]);

export function stageRank(stage: string): number {
  return STAGES.indexOf(stage as Stage);
}

/** `value` when it is one of `values` (e.g. a form field or a URL parameter), else undefined. */
export function oneOf<T extends string>(values: readonly T[], value: string | undefined): T | undefined {
  return values.find((v) => v === value);
}

// ---------- list ----------

export interface BotsFilter {
  stage?: string;
  status?: string;
  symbol?: string;
  /** `include` | `only`; unset: archived bots are hidden (the server's default). */
  archived?: "include" | "only";
  cursor?: string;
}

export const PAGE_SIZE = 50;

export const botsQuery = (filter: BotsFilter) =>
  queryOptions({
    queryKey: ["/api/bots", filter],
    queryFn: () =>
      unwrap(
        api.GET("/api/bots", {
          params: { query: { limit: PAGE_SIZE, stage: filter.stage, status: filter.status, symbol: filter.symbol, archived: filter.archived, cursor: filter.cursor } },
        }),
      ),
    refetchInterval: POLL.normal,
    placeholderData: keepPreviousData,
    meta: { critical: true, label: "Bots" },
  });

/** Most bots the Overview fleet reads (10 pages of the API's maximum 500); past it the grid says so. */
export const FLEET_MAX = 5000;

/**
 * Every (non-archived) bot for the Overview fleet grid: GET /api/bots page after page (500 each,
 * the API's maximum) until the last, at most FLEET_MAX. `truncated` when bots were left out.
 */
export const fleetBotsQuery = queryOptions({
  queryKey: ["/api/bots", "fleet"],
  queryFn: async () => {
    const items: BotListItem[] = [];
    let cursor: string | undefined;
    for (;;) {
      const page = await unwrap(api.GET("/api/bots", { params: { query: { limit: 500, cursor } } }));
      items.push(...page.items);
      if (items.length >= FLEET_MAX) return { items: items.slice(0, FLEET_MAX), truncated: true };
      if (!page.next_cursor || page.items.length === 0) return { items, truncated: false };
      cursor = page.next_cursor;
    }
  },
  refetchInterval: POLL.normal,
  placeholderData: keepPreviousData,
  meta: { critical: true, label: "Bots" },
});

// ---------- one bot ----------

export const botQuery = (id: string) =>
  queryOptions({
    queryKey: ["/api/bots/{id}", id],
    queryFn: () => unwrap(api.GET("/api/bots/{id}", { params: { path: { id } } })),
    refetchInterval: POLL.fast,
    meta: { critical: true, label: "Bot" },
  });

export const positionQuery = (id: string) =>
  queryOptions({
    queryKey: ["/api/bots/{id}/position", id],
    queryFn: () => unwrap(api.GET("/api/bots/{id}/position", { params: { path: { id } } })),
    refetchInterval: POLL.fast,
  });

export const tradesQuery = (id: string, cursor?: string) =>
  queryOptions({
    queryKey: ["/api/bots/{id}/trades", id, { cursor }],
    queryFn: () => unwrap(api.GET("/api/bots/{id}/trades", { params: { path: { id }, query: { limit: 25, cursor } } })),
    refetchInterval: POLL.normal,
    placeholderData: keepPreviousData,
  });

export const ordersQuery = (id: string, cursor?: string) =>
  queryOptions({
    queryKey: ["/api/bots/{id}/orders", id, { cursor }],
    queryFn: () => unwrap(api.GET("/api/bots/{id}/orders", { params: { path: { id }, query: { limit: 25, cursor } } })),
    refetchInterval: POLL.normal,
    placeholderData: keepPreviousData,
  });

/** Pages the equity curve reads at most (500 trades each, newest first). */
export const EQUITY_MAX_PAGES = 10;

export interface AllTrades {
  trades: Trade[];
  /** True when older trades exist beyond EQUITY_MAX_PAGES pages (the curve starts later). */
  truncated: boolean;
}

/** Every trade of the bot (up to EQUITY_MAX_PAGES × 500), for the equity curve. */
export const allTradesQuery = (id: string) =>
  queryOptions({
    queryKey: ["/api/bots/{id}/trades", id, "all"],
    queryFn: async (): Promise<AllTrades> => {
      const trades: Trade[] = [];
      let cursor: string | undefined;
      for (let page = 0; page < EQUITY_MAX_PAGES; page++) {
        const body = await unwrap(api.GET("/api/bots/{id}/trades", { params: { path: { id }, query: { limit: 500, cursor } } }));
        trades.push(...body.items);
        if (!body.next_cursor) return { trades, truncated: false };
        cursor = body.next_cursor;
      }
      return { trades, truncated: true };
    },
    refetchInterval: POLL.slow,
  });

/** Every trade of the bot, newest first, paging through the API until the last page (CSV export). */
export async function fetchAllTrades(id: string): Promise<Trade[]> {
  const trades: Trade[] = [];
  let cursor: string | undefined;
  for (;;) {
    const body = await unwrap(api.GET("/api/bots/{id}/trades", { params: { path: { id }, query: { limit: 500, cursor } } }));
    trades.push(...body.items);
    if (!body.next_cursor || body.items.length === 0) return trades;
    cursor = body.next_cursor;
  }
}

// ---------- edit ----------

export type PatchBotBody = components["schemas"]["PatchBot"];
/** The strategy as stored: `{kind, params}`. */
export interface StrategyConfig {
  kind: string;
  params: Record<string, unknown>;
}

/** PATCH /api/bots/{id}: only the fields given change. Success refreshes the bot and the lists. */
/**
 * PATCH /api/bots/{id}. With `code`, first proves the second factor (POST /api/auth/step-up):
 * turning a LIVE bot's trading switch on needs a recent step-up.
 */
export function usePatchBot(id: string) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: async ({ body, code }: { body: PatchBotBody; code?: string }) => {
      if (code) {
        await stepUp(code);
        void client.invalidateQueries({ queryKey: ["/api/auth/me"] });
      }
      return unwrap(api.PATCH("/api/bots/{id}", { params: { path: { id } }, body }));
    },
    onSuccess: (body) => {
      client.setQueryData(botQuery(id).queryKey, (old) => (old ? { ...old, bot: body.bot } : old));
    },
    onSettled: () => {
      void client.invalidateQueries({ queryKey: ["/api/bots/{id}", id] });
      void client.invalidateQueries({ queryKey: ["/api/bots"] });
    },
  });
}

// ---------- create ----------

export type CreateBotBody = Omit<components["schemas"]["CreateBot"], "strategy"> & {
  strategy: { kind: string; params: Record<string, unknown> };
};

export function useCreateBot() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (body: CreateBotBody) =>
      unwrap(api.POST("/api/bots", { body: body as unknown as components["schemas"]["CreateBot"] })),
    onSuccess: () => client.invalidateQueries({ queryKey: ["/api/bots"] }),
  });
}

// ---------- lifecycle ----------

export type LifecycleAction = "start" | "stop" | "restart" | "kill" | "rearm" | "promote";

export interface LifecycleRequest {
  action: LifecycleAction;
  /** kill: why (optional; the server records "killed by <you>" without one). */
  reason?: string;
  /** promote: the target stage. */
  toStage?: Stage;
  /** A 2FA code: the client steps up (POST /api/auth/step-up) before sending the action. */
  code?: string;
}

function send(id: string, req: LifecycleRequest) {
  const path = { path: { id } };
  switch (req.action) {
    case "start":
      return unwrap(api.POST("/api/bots/{id}/start", { params: path }));
    case "stop":
      return unwrap(api.POST("/api/bots/{id}/stop", { params: path }));
    case "restart":
      return unwrap(api.POST("/api/bots/{id}/restart", { params: path }));
    case "rearm":
      return unwrap(api.POST("/api/bots/{id}/rearm", { params: path }));
    case "kill":
      return unwrap(api.POST("/api/bots/{id}/kill", { params: path, body: { reason: req.reason?.trim() || null } }));
    case "promote":
      if (!req.toStage) return Promise.reject(new Error("A promotion needs the stage to move the bot to."));
      return unwrap(api.POST("/api/bots/{id}/promote", { params: path, body: { to_stage: req.toStage } }));
  }
}

/**
 * Runs a lifecycle action. With `code`, first proves the second factor (POST /api/auth/step-up
 * rotates the session and its CSRF cookie), then sends the action; the server answers
 * TWO_FACTOR_REQUIRED when an action needs that and the session has no recent step-up.
 */
export function useLifecycle(id: string) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: async (req: LifecycleRequest) => {
      if (req.code) {
        await stepUp(req.code);
        void client.invalidateQueries({ queryKey: ["/api/auth/me"] });
      }
      return send(id, req);
    },
    onSuccess: (body) => {
      client.setQueryData(botQuery(id).queryKey, (old) => (old ? { ...old, bot: body.bot } : old));
    },
    onSettled: () => {
      void client.invalidateQueries({ queryKey: ["/api/bots/{id}", id] });
      void client.invalidateQueries({ queryKey: ["/api/bots/{id}/position", id] });
      void client.invalidateQueries({ queryKey: ["/api/bots"] });
    },
  });
}

/** The server asked for a 2FA code (a step-up) before it runs the action. */
export function needsStepUp(error: unknown): boolean {
  return isApiError(error) && error.code === "TWO_FACTOR_REQUIRED";
}

// ---------- per-bot summary (GET /api/bots items and GET /api/bots/{id}) ----------

/** The server's `summary` beside a bot: autonomy, today's PnL, last evaluation, open breakers. */
export type BotSummary = components["schemas"]["BotSummary"];
