import { describe, expect, it } from "vitest";
import { FRESH_FOR_MS, answerFreshness, formatAge, freshForMs, pnlFreshness, queryFreshness, timeframeSeconds } from "./freshness";

const NOW = Date.parse("2026-12-02T15:10:00Z");
const base = {
  positionQuantity: 1,
  markedAt: "2026-12-02T15:09:00Z",
  timeframeSeconds: 60,
  maxDataAgeSeconds: 125,
  fetchedAt: NOW - 1_000,
  fetchFailed: false,
  now: NOW,
};

describe("pnlFreshness", () => {
  it("is fresh while the mark is within the bar plus the freshness limit", () => {
    expect(pnlFreshness(base)).toEqual({ stale: false, ageMs: 60_000, reason: null });
    // 60 s bar + 125 s limit = 185 s: exactly at the limit is still fresh.
    expect(pnlFreshness({ ...base, markedAt: "2026-12-02T15:06:55Z" }).stale).toBe(false);
  });

  it("is stale once the mark is older than the limit, with its age", () => {
    const f = pnlFreshness({ ...base, markedAt: "2026-12-02T15:08:00Z", timeframeSeconds: 1, maxDataAgeSeconds: 7 });
    expect(f.stale).toBe(true);
    expect(f.ageMs).toBe(120_000);
    expect(f.reason).toBe("the mark is 2 min old, past the 8 s freshness limit");
  });

  it("does not depend on the mark when flat", () => {
    expect(pnlFreshness({ ...base, positionQuantity: 0, markedAt: "2026-11-01T00:00:00Z" }).stale).toBe(false);
    expect(pnlFreshness({ ...base, positionQuantity: 0, markedAt: null }).stale).toBe(false);
  });

  it("is stale with a position and no mark, and whenever the refetch failed", () => {
    expect(pnlFreshness({ ...base, positionQuantity: -2, markedAt: null })).toMatchObject({ stale: true, ageMs: null });
    const failed = pnlFreshness({ ...base, positionQuantity: 0, fetchFailed: true, fetchedAt: NOW - 30_000 });
    expect(failed).toMatchObject({ stale: true, ageMs: 30_000 });
    expect(failed.reason).toMatch(/last good value/);
  });
});

describe("answerFreshness", () => {
  it("needs an answer, a successful latest fetch and a young answer", () => {
    expect(answerFreshness({ fetchedAt: 0, fetchFailed: false, maxAgeMs: 15_000, now: NOW }).stale).toBe(true);
    expect(answerFreshness({ fetchedAt: NOW - 5_000, fetchFailed: false, maxAgeMs: 15_000, now: NOW })).toEqual({ stale: false, ageMs: 5_000, reason: null });
    expect(answerFreshness({ fetchedAt: NOW - 5_000, fetchFailed: true, maxAgeMs: 15_000, now: NOW }).stale).toBe(true);
    const old = answerFreshness({ fetchedAt: NOW - 20_000, fetchFailed: false, maxAgeMs: 15_000, now: NOW });
    expect(old).toMatchObject({ stale: true, reason: "no fresh answer for 20 s" });
  });
});

describe("freshForMs and queryFreshness", () => {
  it("lets an answer stand for now for two polls and a bit, and no longer", () => {
    expect(FRESH_FOR_MS).toBe(12_000);
    expect(freshForMs(15_000)).toBe(32_000);
    expect(queryFreshness({ dataUpdatedAt: NOW - 12_000, isError: false }, NOW)).toEqual({ stale: false, ageMs: 12_000, reason: null });
    // Old without any failure (polls paused offline, or a request hanging): stale all the same.
    expect(queryFreshness({ dataUpdatedAt: NOW - 12_001, isError: false }, NOW)).toMatchObject({ stale: true, reason: "no fresh answer for 12 s" });
    expect(queryFreshness({ dataUpdatedAt: NOW - 1_000, isError: true }, NOW)).toMatchObject({ stale: true, reason: "the latest refresh failed" });
    expect(queryFreshness({ dataUpdatedAt: NOW - 20_000, isError: false }, NOW, freshForMs(15_000)).stale).toBe(false);
  });

  it("makes a PnL stale once its answer is past maxAnswerAgeMs, even when flat", () => {
    const old = { ...base, positionQuantity: 0, fetchedAt: NOW - 40_000 };
    expect(pnlFreshness(old).stale).toBe(false);
    const f = pnlFreshness({ ...old, maxAnswerAgeMs: 32_000 });
    expect(f).toMatchObject({ stale: true, ageMs: 40_000 });
    expect(f.reason).toBe("no fresh answer for 40 s: this is the last good value");
    expect(pnlFreshness({ ...base, maxAnswerAgeMs: 32_000 })).toEqual({ stale: false, ageMs: 60_000, reason: null });
  });
});

describe("formatAge and timeframeSeconds", () => {
  it("reads ages and timeframes", () => {
    expect([formatAge(999), formatAge(59_000), formatAge(61_000), formatAge(7_200_000), formatAge(3 * 86_400_000)]).toEqual(["1 s", "59 s", "1 min", "2 h", "3 d"]);
    expect(["1s", "1m", "5m", "15m", "1h", "1d", "x"].map(timeframeSeconds)).toEqual([1, 60, 300, 900, 3600, 86_400, 60]);
  });
});
