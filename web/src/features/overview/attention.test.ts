import { describe, expect, it } from "vitest";
import { FRESH_FOR_MS, queueVerdict } from "./attention";

const NOW = 1_000_000;
const fresh = { status: "success" as const, dataUpdatedAt: NOW - 1_000, isError: false };

describe("queueVerdict", () => {
  it("says nothing needs you only when the queue and the status are fresh and empty", () => {
    expect(queueVerdict({ queue: { ...fresh, items: 0 }, status: { ...fresh, blockers: 0 }, now: NOW })).toEqual({ kind: "empty" });
  });

  it("never says empty from an old, failed or contradicted answer", () => {
    const old = { ...fresh, dataUpdatedAt: NOW - FRESH_FOR_MS - 1 };
    expect(queueVerdict({ queue: { ...old, items: 0 }, status: { ...fresh, blockers: 0 }, now: NOW }).kind).toBe("unconfirmed");
    expect(queueVerdict({ queue: { ...fresh, isError: true, status: "error", items: 0 }, status: { ...fresh, blockers: 0 }, now: NOW }).kind).toBe("unconfirmed");
    expect(queueVerdict({ queue: { ...fresh, items: 0 }, status: { ...fresh, isError: true, status: "error", blockers: 0 }, now: NOW }).kind).toBe("unconfirmed");
    expect(queueVerdict({ queue: { ...fresh, items: 0 }, status: { ...fresh, status: "pending", dataUpdatedAt: 0, blockers: null }, now: NOW }).kind).toBe("unconfirmed");
    const contradicted = queueVerdict({ queue: { ...fresh, items: 0 }, status: { ...fresh, blockers: 2 }, now: NOW });
    expect(contradicted).toMatchObject({ kind: "unconfirmed", reason: expect.stringMatching(/blockers/) });
  });

  it("shows items, marked stale when the queue's answer is not fresh", () => {
    expect(queueVerdict({ queue: { ...fresh, items: 3 }, status: { ...fresh, blockers: 1 }, now: NOW })).toEqual({ kind: "items", count: 3, stale: false });
    expect(queueVerdict({ queue: { ...fresh, isError: true, status: "error", items: 3 }, status: { ...fresh, blockers: 1 }, now: NOW })).toEqual({ kind: "items", count: 3, stale: true });
  });

  it("is loading, then unknown without any answer", () => {
    const none = { status: "pending" as const, dataUpdatedAt: 0, isError: false, items: null };
    expect(queueVerdict({ queue: none, status: { ...fresh, blockers: 0 }, now: NOW })).toEqual({ kind: "loading" });
    expect(queueVerdict({ queue: { ...none, status: "error", isError: true }, status: { ...fresh, blockers: 0 }, now: NOW }).kind).toBe("unknown");
  });
});
