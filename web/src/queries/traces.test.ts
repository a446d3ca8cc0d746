import { describe, expect, it } from "vitest";
import { uuidV7Time, traceMatches } from "./traces";
import { decision, v7 } from "../features/bots/traces/testFixtures";

describe("uuidV7Time", () => {
  it("reads the millisecond time a UUIDv7 encodes", () => {
    const ms = Date.parse("2026-11-26T13:04:05.123Z");
    expect(uuidV7Time(v7(ms, 1))).toBe(ms);
    // A real v7 from the server (Uuid::now_v7).
    expect(uuidV7Time("019ac0c2-3c4b-7d2e-9f00-1234567890ab")).toBe(0x019ac0c23c4b);
  });

  it("is null for other UUID versions and for W3C trace ids", () => {
    expect(uuidV7Time("550e8400-e29b-41d4-a716-446655440000")).toBeNull();
    expect(uuidV7Time("4bf92f3577b34da6a3ce929d0e0e4736")).toBeNull();
    expect(uuidV7Time("not an id")).toBeNull();
  });
});

describe("traceMatches", () => {
  it("matches the row id or the trace id, case-insensitively", () => {
    const t = decision(Date.now());
    expect(traceMatches(t, t.id.toUpperCase())).toBe(true);
    expect(traceMatches(t, t.trace_id)).toBe(true);
    expect(traceMatches(t, "0".repeat(32))).toBe(false);
  });
});
