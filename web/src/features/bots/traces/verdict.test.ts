import { describe, expect, it } from "vitest";
import { STATUSES } from "../../../queries/bots";
import { verdict, type VerdictInput } from "./verdict";
import { decision, noTrade } from "./testFixtures";

const NOW = Date.now();
const base: VerdictInput = { status: "RUNNING", noTrade: null, decision: null, noTradeFailed: false, decisionFailed: false, statusFailed: false };

describe("verdict: never 'trading' while suppressed or not RUNNING", () => {
  it("is suppressed whenever the newest evaluation is a no-trade, whatever the status", () => {
    for (const status of STATUSES) {
      const v = verdict({ ...base, status, noTrade: noTrade(NOW - 1000), decision: decision(NOW - 5000) });
      expect(v.kind, status).toBe("suppressed");
    }
  });

  it("compares a folded suppression at its last_seen_at, not its first", () => {
    const folded = noTrade(NOW - 60_000, { last_seen_at: new Date(NOW - 1000).toISOString(), count: 30 });
    expect(verdict({ ...base, noTrade: folded, decision: decision(NOW - 30_000) }).kind).toBe("suppressed");
    expect(verdict({ ...base, noTrade: folded, decision: decision(NOW - 500) }).kind).toBe("trading");
  });

  it("says trading only for RUNNING with a newer decision", () => {
    for (const status of STATUSES) {
      const v = verdict({ ...base, status, noTrade: noTrade(NOW - 5000), decision: decision(NOW - 1000) });
      expect(v.kind, status).toBe(status === "RUNNING" ? "trading" : "not-running");
    }
  });

  it("is unknown (never trading) when the status, the decisions or the history cannot be read", () => {
    expect(verdict({ ...base, status: undefined, statusFailed: true, decision: decision(NOW) }).kind).toBe("unknown");
    expect(verdict({ ...base, decision: undefined, decisionFailed: true }).kind).toBe("unknown");
    expect(verdict({ ...base, noTrade: undefined, noTradeFailed: true, decision: decision(NOW) }).kind).toBe("unknown");
  });

  it("keeps a suppression even when the decisions could not be read, and flags it", () => {
    const v = verdict({ ...base, noTrade: noTrade(NOW), decision: undefined, decisionFailed: true });
    expect(v).toMatchObject({ kind: "suppressed", decisionUnchecked: true });
  });

  it("waits while something is loading", () => {
    expect(verdict({ ...base, noTrade: undefined }).kind).toBe("loading");
    expect(verdict({ ...base, decision: undefined }).kind).toBe("loading");
    expect(verdict({ ...base, status: null }).kind).toBe("loading");
  });

  it("says a RUNNING bot without any trace has not evaluated", () => {
    expect(verdict(base).kind).toBe("no-evaluation");
  });
});
