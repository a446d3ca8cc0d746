import { describe, expect, it } from "vitest";
import { deskGate, describeRemoval, needsStepUpUpFront, type DeskContext } from "./desk";

const base: DeskContext = {
  role: "operator",
  status: "RUNNING",
  stage: "PAPER",
  archived: false,
  quantity: 1,
  workingOrders: 1,
  twoFactorEnabled: true,
  endpointGate: null,
};

describe("deskGate: each desk control disabled with the reason the server would give", () => {
  it("needs the role each endpoint declares", () => {
    expect(deskGate("cancel", { ...base, role: "viewer" })).toBe("Cancel orders needs the operator role; you are viewer.");
    expect(deskGate("killFlatten", base)).toBe("Kill and flatten needs the admin role; you are operator.");
    expect(deskGate("acknowledge", { ...base, role: "operator", status: "KILLED" })).toMatch(/needs the admin role/);
    expect(deskGate("cancel", { ...base, role: undefined })).toBe("Checking your role…");
  });

  it("cancel needs a working order; close needs a position or an order", () => {
    expect(deskGate("cancel", base)).toBeNull();
    expect(deskGate("cancel", { ...base, workingOrders: 0 })).toBe("The bot has no NEW or WORKING order to cancel (a LIVE send still awaiting the broker's answer is not listed).");
    // Unknown (position not loaded): the server decides.
    expect(deskGate("cancel", { ...base, workingOrders: null })).toBeNull();
    expect(deskGate("close", { ...base, workingOrders: 0 })).toBeNull();
    expect(deskGate("close", { ...base, quantity: 0, workingOrders: 0 })).toMatch(/flat/);
  });

  it("a LIVE close needs 2FA enrolled for its step-up", () => {
    expect(needsStepUpUpFront("close", "LIVE")).toBe(true);
    expect(needsStepUpUpFront("cancel", "LIVE")).toBe(false);
    expect(needsStepUpUpFront("close", "PAPER")).toBe(false);
    expect(deskGate("close", { ...base, stage: "LIVE", twoFactorEnabled: false })).toMatch(/enroll it in Settings/);
    expect(deskGate("cancel", { ...base, stage: "LIVE", twoFactorEnabled: false })).toBeNull();
  });

  it("acknowledge only a KILLED bot that holds something", () => {
    const admin = { ...base, role: "admin" };
    expect(deskGate("acknowledge", admin)).toMatch(/Only a KILLED bot's exposure/);
    expect(deskGate("acknowledge", { ...admin, status: "KILLED" })).toBeNull();
    expect(deskGate("acknowledge", { ...admin, status: "KILLED", quantity: 0, workingOrders: 0 })).toMatch(/no exposure/);
  });

  it("archive only a STOPPED, flat bot; un-archive only an archived one", () => {
    expect(deskGate("archive", base)).toBe("Only a STOPPED bot can be archived; this one is RUNNING.");
    expect(deskGate("archive", { ...base, status: "STOPPED" })).toMatch(/holds 1 contract\(s\) and 1 working order/);
    expect(deskGate("archive", { ...base, status: "STOPPED", quantity: -2, workingOrders: 0 })).toMatch(/holds 2 contract/);
    expect(deskGate("archive", { ...base, status: "STOPPED", quantity: 0, workingOrders: 0 })).toBeNull();
    expect(deskGate("unarchive", base)).toBe("The bot is not archived.");
    expect(deskGate("unarchive", { ...base, archived: true })).toBeNull();
  });

  it("a failing endpoint disables every control with its own reason", () => {
    expect(deskGate("cancel", { ...base, endpointGate: "GET /api/bots/{id} is failing" })).toBe("GET /api/bots/{id} is failing");
  });
});

describe("describeRemoval: what the server did, in one line", () => {
  it("a cancel keeps the position", () => {
    expect(describeRemoval({ cancelled: [{}, {}], broker_cancels_pending: [], flatten: null, position_after: 1, not_done: null })).toBe(
      "Cancelled 2 working order(s); position left: 1 contract(s).",
    );
  });
  it("a close filled flat", () => {
    expect(
      describeRemoval({ cancelled: [], broker_cancels_pending: [], flatten: { status: "FILLED", side: "SELL", quantity: 1, price: "5000.25" }, position_after: 0 }),
    ).toBe("Cancelled 0 working order(s); closed: SELL 1 at 5000.25; the bot is flat.");
  });
  it("a LIVE close without a broker session says it was not sent", () => {
    const text = describeRemoval({ cancelled: [], broker_cancels_pending: [{}], flatten: { status: "BROKER_PENDING", side: "BUY", quantity: 2 }, position_after: -2 });
    expect(text).toContain("1 LIVE cancel(s) pending at the broker");
    expect(text).toContain("LIVE close pending (BUY 2) — no broker session, not sent");
    expect(text).toContain("position left: -2 contract(s)");
  });
  it("a LIVE close at the broker names each order and what did not close", () => {
    const text = describeRemoval({
      cancelled: [],
      broker_cancels_pending: [],
      flatten: {
        status: "CLOSED_AT_BROKER",
        contract: "ESZ6",
        closes: [
          { side: "SELL", quantity: 1, filled: 1, price: "5000.5", problem: null },
          { side: "SELL", quantity: 2, filled: 0, price: null, problem: "0 of 2 filled within 5 s" },
        ],
        not_done: ["bot b (x): node n2 holds the bot's lease"],
      },
      position_after: 0,
    });
    expect(text).toBe(
      "Cancelled 0 working order(s); closed at the broker on ESZ6: SELL 1/1 at 5000.5, SELL 0/2 at ? (0 of 2 filled within 5 s); not closed: bot b (x): node n2 holds the bot's lease; the bot is flat.",
    );
  });
  it("not done wins", () => {
    expect(describeRemoval({ cancelled: [], broker_cancels_pending: [], not_done: "node n2 holds the bot's lease" })).toBe("Not done: node n2 holds the bot's lease");
  });
});
