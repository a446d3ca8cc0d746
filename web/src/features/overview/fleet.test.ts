import { describe, expect, it } from "vitest";
import { item, summary } from "../bots/fixtures.test-util";
import { fleetPage, fleetRows, sparks } from "./fleet";

const NOW = Date.parse("2026-11-26T13:00:30Z");
const fetched = { fetchedAt: NOW - 2_000, fetchFailed: false, now: NOW };

describe("fleetRows", () => {
  it("names every bot, adds realized and unrealized, and keeps a fresh mark fresh", () => {
    const rows = fleetRows({ bots: [item({ id: "a", name: "es-sma-paper" })], sparks: new Map(), ...fetched });
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ id: "a", name: "es-sma-paper", stage: "PAPER", status: "RUNNING", pnl: 100.5, tier: "LIMITED_AUTONOMY" });
    // Marked 12:59:00, a 1m bar + 125 s limit: fresh at 13:00:30.
    expect(rows[0]!.freshness.stale).toBe(false);
  });

  it("greys a PnL whose mark is past the freshness limit, and knows no PnL without a mark", () => {
    const old = item({ id: "old", name: "old-mark" }, summary({}, { marked_at: "2026-11-26T12:55:00Z" }));
    const none = item({ id: "none", name: "no-mark" }, summary({}, { marked_at: null, mark_price: null, unrealized: null }));
    const flat = item({ id: "flat", name: "flat" }, summary({}, { position_quantity: 0, unrealized: "0", marked_at: "2026-11-20T00:00:00Z" }));
    const rows = fleetRows({ bots: [old, none, flat], sparks: new Map(), ...fetched });
    const by = Object.fromEntries(rows.map((r) => [r.id, r]));
    expect(by.old!.freshness).toMatchObject({ stale: true, ageMs: 330_000 });
    expect(by.old!.pnl).toBe(100.5);
    expect(by.none!.pnl).toBeNull();
    expect(by.none!.freshness.stale).toBe(true);
    // Flat: realized only, from the ledger; an old mark does not matter.
    expect(by.flat).toMatchObject({ pnl: 125.5, freshness: { stale: false } });
  });

  it("greys everything from a failed refresh", () => {
    const rows = fleetRows({ bots: [item()], sparks: new Map(), fetchedAt: NOW - 40_000, fetchFailed: true, now: NOW });
    expect(rows[0]!.freshness).toMatchObject({ stale: true, ageMs: 40_000 });
  });

  it("puts bots that need a human first, then sorts by name, and attaches today's sparkline", () => {
    const series = {
      trade_date: "2026-11-26",
      trade_date_start: "2026-11-25T23:00:00Z",
      truncated: false,
      items: [{ bot_id: "b", points: [{ at: "2026-11-26T10:00:00Z", cumulative: "10" }, { at: "2026-11-26T11:00:00Z", cumulative: "-5.5" }] }],
    };
    const rows = fleetRows({
      bots: [item({ id: "a", name: "zeta" }), item({ id: "b", name: "alpha" }), item({ id: "c", name: "omega", status: "KILLED" }), item({ id: "d", name: "beta", status: "SUSPENDED" })],
      sparks: sparks(series),
      ...fetched,
    });
    expect(rows.map((r) => r.name)).toEqual(["omega", "beta", "alpha", "zeta"]);
    expect(rows[2]!.spark).toEqual({ x: [Date.parse("2026-11-26T10:00:00Z") / 1000, Date.parse("2026-11-26T11:00:00Z") / 1000], y: [10, -5.5] });
    expect(rows[3]!.spark).toEqual({ x: [], y: [] });
  });
});

describe("fleetRows: unknown is never zero", () => {
  it("knows no PnL when the realized amount is missing or unreadable, and says why", () => {
    const rows = fleetRows({
      bots: [item({ id: "x", name: "x" }, summary({}, { realized: "n/a", position_quantity: 0, unrealized: "0" }))],
      sparks: new Map(),
      ...fetched,
    });
    expect(rows[0]).toMatchObject({ pnl: null, why: "The server's realized PnL for today could not be read." });
  });

  it("makes a bot's sparkline unknown when an amount in its series is unreadable, and every bot's when the series is", () => {
    const series = {
      trade_date: "2026-11-26",
      trade_date_start: "2026-11-25T23:00:00Z",
      truncated: false,
      items: [{ bot_id: "a", points: [{ at: "2026-11-26T10:00:00Z", cumulative: "10" }, { at: "2026-11-26T11:00:00Z", cumulative: "oops" }] }],
    };
    expect(sparks(series).get("a")).toEqual({ unknown: "an amount or time in today's series could not be read" });
    const rows = fleetRows({ bots: [item({ id: "a", name: "a" }), item({ id: "b", name: "b" })], sparks: { unknown: "today's series is loading" }, ...fetched });
    expect(rows.map((r) => r.spark)).toEqual([{ unknown: "today's series is loading" }, { unknown: "today's series is loading" }]);
  });

  it("greys every PnL once the list answer is older than maxAnswerAgeMs", () => {
    const rows = fleetRows({ bots: [item()], sparks: new Map(), fetchedAt: NOW - 40_000, fetchFailed: false, maxAnswerAgeMs: 32_000, now: NOW });
    expect(rows[0]!.freshness).toMatchObject({ stale: true, ageMs: 40_000 });
  });
});

describe("fleetPage", () => {
  it("splits the fleet into pages of 50 and numbers the rows shown", () => {
    expect(fleetPage(120, 0)).toEqual({ page: 0, pages: 3, start: 0, end: 50, first: 1, last: 50 });
    expect(fleetPage(120, 2)).toEqual({ page: 2, pages: 3, start: 100, end: 120, first: 101, last: 120 });
    expect(fleetPage(50, 0)).toMatchObject({ pages: 1, first: 1, last: 50 });
    expect(fleetPage(0, 0)).toMatchObject({ pages: 1, first: 0, last: 0 });
  });

  it("clamps a page past the end when the fleet shrank", () => {
    expect(fleetPage(60, 4)).toMatchObject({ page: 1, start: 50, end: 60, first: 51, last: 60 });
    expect(fleetPage(60, -1)).toMatchObject({ page: 0, first: 1 });
  });
});
