import { describe, expect, it } from "vitest";
import { http, HttpResponse } from "msw";
import { server } from "../test/server";
import { ok } from "../test/render";
import { makeQueryClient } from "../lib/queryClient";
import {
  FEED_CAP,
  capFeed,
  eventFeedKey,
  fromMicros,
  insertLiveEvent,
  loadFeed,
  matchesFilters,
  mergeEvents,
  parseSystemEvent,
  toMicros,
  type EventFeed,
  type SystemEvent,
} from "./events";

function ev(id: string, created_at: string, over: Partial<SystemEvent> = {}): SystemEvent {
  return { id, created_at, severity: "INFO", code: "X", message: id, trace_id: "t", metadata: {}, bot_id: null, provider_id: null, ...over };
}

describe("event helpers", () => {
  it("reads and writes instants with microseconds", () => {
    expect(toMicros("2026-11-26T12:00:00.123456Z")).toBe(Date.UTC(2026, 10, 26, 12) * 1000 + 123456);
    expect(toMicros("2026-11-26T12:00:00Z")).toBe(Date.UTC(2026, 10, 26, 12) * 1000);
    expect(toMicros("2026-11-26T13:00:00.5+01:00")).toBe(Date.UTC(2026, 10, 26, 12) * 1000 + 500000);
    expect(fromMicros(Date.UTC(2026, 10, 26, 12) * 1000 + 7)).toBe("2026-11-26T12:00:00.000007Z");
    const t = "2026-11-26T12:34:56.789012Z";
    expect(fromMicros(toMicros(t))).toBe(t);
  });

  it("merges newest first by time then id, without duplicates", () => {
    const a = ev("a", "2026-11-26T12:00:00.000001Z");
    const b = ev("b", "2026-11-26T12:00:00.000002Z");
    const c1 = ev("c", "2026-11-26T12:00:00.000002Z", { message: "old copy" });
    const c2 = { ...c1, message: "new copy" };
    const merged = mergeEvents([a, c1], [b, c2]);
    expect(merged.map((e) => e.id)).toEqual(["c", "b", "a"]);
    expect(merged[0]!.message).toBe("new copy");
  });

  it("caps a feed and keeps its tail reachable by time", () => {
    const items = Array.from({ length: FEED_CAP + 3 }, (_, i) => ev(`e${i}`, fromMicros(1_764_000_000_000_000 - i)));
    const capped = capFeed({ items, older: { cursor: "c" } });
    expect(capped.items).toHaveLength(FEED_CAP);
    expect(capped.older).toEqual({ before: items[FEED_CAP - 1]!.created_at });
    const small: EventFeed = { items: items.slice(0, 3), older: null };
    expect(capFeed(small)).toBe(small);
  });

  it("matches every filter exactly", () => {
    const e = ev("a", "2026-11-26T12:00:00Z", { severity: "SEV-1", code: "BOT_KILLED", bot_id: "AB", provider_id: "polygon" });
    expect(matchesFilters(e, {})).toBe(true);
    expect(matchesFilters(e, { severity: "SEV-1", code: "BOT_KILLED", bot_id: "ab", provider_id: "polygon" })).toBe(true);
    expect(matchesFilters(e, { severity: "SEV-2" })).toBe(false);
    expect(matchesFilters(e, { code: "BOT" })).toBe(false);
    expect(matchesFilters(e, { provider_id: "databento" })).toBe(false);
    expect(matchesFilters({ ...e, bot_id: null }, { bot_id: "ab" })).toBe(false);
  });

  it("accepts only well-formed live payloads", () => {
    expect(parseSystemEvent("nope")).toBeNull();
    expect(parseSystemEvent(JSON.stringify({ id: "a" }))).toBeNull();
    const full = ev("a", "2026-11-26T12:00:00Z");
    expect(parseSystemEvent(JSON.stringify({ ...full, at: full.created_at }))).toEqual(full);
  });
});

describe("event feed cache", () => {
  it("merges a live event only into the feeds whose filters it matches", () => {
    const client = makeQueryClient();
    const all = eventFeedKey({});
    const sev1 = eventFeedKey({ severity: "SEV-1" });
    client.setQueryData<EventFeed>(all, { items: [], older: null });
    client.setQueryData<EventFeed>(sev1, { items: [], older: null });
    insertLiveEvent(client, ev("a", "2026-11-26T12:00:00Z", { severity: "SEV-2" }));
    expect(client.getQueryData<EventFeed>(all)!.items).toHaveLength(1);
    expect(client.getQueryData<EventFeed>(sev1)!.items).toHaveLength(0);
  });

  it("catches up page by page and drops what it held when more than the cap arrived", async () => {
    const client = makeQueryClient();
    const key = eventFeedKey({ code: "X" });
    const held = ev("held", "2026-11-26T12:00:00Z");
    client.setQueryData<EventFeed>(key, { items: [held], older: { cursor: "OLD" } });
    let n = 0;
    const seen: URLSearchParams[] = [];
    server.use(
      http.get("*/api/system/events", ({ request }) => {
        const q = new URL(request.url).searchParams;
        seen.push(q);
        const items = Array.from({ length: 200 }, (_, i) => ev(`n${n * 200 + i}`, fromMicros(1_800_000_000_000_000 - n * 200 - i)));
        n += 1;
        return HttpResponse.json(ok({ items, next_cursor: `P${n}` }));
      }),
    );
    const feed = await loadFeed(client, key, { code: "X" });
    expect(seen).toHaveLength(3); // 600 ≥ FEED_CAP: stop paging
    expect(seen.every((q) => q.get("from") === "2026-11-26T11:59:00.000000Z" && q.get("code") === "X" && q.get("limit") === "200")).toBe(true);
    expect(seen[1]!.get("cursor")).toBe("P1");
    expect(feed.items.map((e) => e.id)).not.toContain("held");
    expect(feed.older).toEqual({ cursor: "P3" });
  });
});
