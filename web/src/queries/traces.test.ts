import { describe, expect, it } from "vitest";
import { http, HttpResponse } from "msw";
import { server } from "../test/server";
import { apiError } from "../test/render";
import { isApiError } from "../api/errors";
import { fetchTrace, fetchTrade, traceMatches } from "./traces";
import { BOT, decision, decisionById, noTrade, noTradeById, NOT_FOUND_TRACE_ID, trade, tradeById } from "../features/bots/traces/testFixtures";

const OTHER_BOT = "0190a0b0-0000-7000-8000-00000000b002";

describe("traceMatches", () => {
  it("matches the row id or the trace id, case-insensitively", () => {
    const t = decision(Date.now());
    expect(traceMatches(t, t.id.toUpperCase())).toBe(true);
    expect(traceMatches(t, t.trace_id)).toBe(true);
    expect(traceMatches(t, "0".repeat(32))).toBe(false);
  });
});

describe("fetchTrace (exact read by id)", () => {
  it("reads one trace by row id or W3C trace id from the kind's endpoint", async () => {
    const d = decision(Date.now());
    const n = noTrade(Date.now());
    server.use(decisionById([d]), noTradeById([n]));
    expect(await fetchTrace("decision", BOT, d.id)).toEqual({ found: d, notFound: null });
    expect((await fetchTrace("decision", BOT, d.trace_id)).found).toEqual(d);
    expect((await fetchTrace("no-trade", BOT, n.trace_id.toUpperCase())).found).toEqual(n);
  });

  it("turns 404 TRACE_NOT_FOUND into not-found (kept with its trace id), including another bot's trace", async () => {
    const theirs = decision(Date.now(), { bot_id: OTHER_BOT });
    server.use(decisionById([theirs]));
    const r = await fetchTrace("decision", BOT, theirs.id);
    expect(r.found).toBeNull();
    expect(r.notFound?.code).toBe("TRACE_NOT_FOUND");
    expect(r.notFound?.traceId).toBe(NOT_FOUND_TRACE_ID);
  });

  it("throws every other failure (unknown bot, malformed id, outage)", async () => {
    server.use(
      http.get("*/api/bots/:id/decision-traces/:ref", ({ params }) =>
        params.ref === "bad"
          ? HttpResponse.json(apiError("VALIDATION_FAILED", "`trace_id` is neither…"), { status: 422 })
          : HttpResponse.json(apiError("BOT_NOT_FOUND", "No bot with this id exists."), { status: 404 }),
      ),
    );
    const codeOf = (p: Promise<unknown>) => p.then(() => "resolved", (e: unknown) => (isApiError(e) ? e.code : "other"));
    expect(await codeOf(fetchTrace("decision", BOT, "bad"))).toBe("VALIDATION_FAILED");
    expect(await codeOf(fetchTrace("decision", BOT, "4bf92f3577b34da6a3ce929d0e0e4736"))).toBe("BOT_NOT_FOUND");
  });
});

describe("fetchTrade (exact read by id)", () => {
  it("reads the bot's trade, and says not found for another bot's", async () => {
    const ours = trade(Date.now());
    const theirs = trade(Date.now(), { bot_id: OTHER_BOT });
    server.use(tradeById([ours, theirs]));
    expect((await fetchTrade(BOT, ours.id)).found).toEqual(ours);
    const r = await fetchTrade(BOT, theirs.id);
    expect(r.found).toBeNull();
    expect(r.notFound?.code).toBe("TRADE_NOT_FOUND");
  });
});
