import { describe, expect, it, vi } from "vitest";
import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { http, HttpResponse } from "msw";
import { server } from "../../test/server";
import { ok, renderWithApp } from "../../test/render";
import { bot, BOT_ID, item, meHandler } from "../bots/fixtures.test-util";
import { ReconciliationPage } from "./index";

vi.setConfig({ testTimeout: 20_000 });

const MISMATCH = {
  id: "0190a000-0000-7000-8000-0000000000e1",
  broker: "tradovate",
  account: "DEMO123",
  kind: "POSITION",
  contract: "ESZ6",
  subject: "",
  bot_ids: [BOT_ID],
  order_id: null,
  broker_order_id: null,
  ours: "none",
  theirs: "long 1",
  ours_net: 0,
  theirs_net: 1,
  message: "ESZ6 at tradovate DEMO123: ours none, broker long 1",
  trace_id: "4bf92f3577b34da6a3ce929d0e0e4736",
  detected_at: "2026-12-04T10:00:00Z",
  last_seen_at: "2026-12-04T10:01:00Z",
  resolved_at: null,
  resolution: null,
  resolved_by: null,
};

const NO_ACCOUNTS = http.get("*/api/account-risk", () => HttpResponse.json(ok({ accounts: [] })));

const LATCHED = {
  broker: "ironbeam",
  account: "ACC-1",
  is_live_route: true,
  limits: { max_gross_contracts: 4, max_net_contracts: 3, daily_loss_limit: "1000", max_orders_per_minute: 5 },
  updated_by: "admin@example.com",
  updated_at: "2026-12-04T09:00:00Z",
  reading: { contracts: { ES: { net: 2, gross: 2, working_net: 0, working_adds: 0 } }, daily_pnl: "-1200", orders_last_minute: 1, bots: [BOT_ID] },
  latch: { latched_at: "2026-12-04T10:00:00Z", reason: "Account day loss 1200 USD reached the account daily_loss_limit 1000 USD.", daily_pnl: "-1200", daily_loss_limit: "1000" },
};

/** A matched run of tradovate DEMO123 that finished `agoMs` before the real clock's now. */
function run(agoMs: number) {
  const finished = Date.now() - agoMs;
  return {
    broker: "tradovate",
    account: "DEMO123",
    trigger: "PERIODIC",
    node: "n1",
    started_at: new Date(finished - 1_000).toISOString(),
    finished_at: new Date(finished).toISOString(),
    ok: true,
    error: null,
    open_mismatches: 0,
  };
}

function reconciliation(runs: ReturnType<typeof run>[], everySeconds: number | null) {
  return http.get("*/api/reconciliation", () => HttpResponse.json(ok({ mismatches: [], runs, every_seconds: everySeconds })));
}

describe("ReconciliationPage", () => {
  it("shows a latched account's limits and figures and re-arms it after a step-up", async () => {
    let latched = true;
    const calls: string[] = [];
    server.use(
      meHandler("operator", null),
      http.get("*/api/bots", () => HttpResponse.json(ok({ items: [item()], next_cursor: null }))),
      http.get("*/api/reconciliation", () => HttpResponse.json(ok({ mismatches: [], runs: [], every_seconds: 60 }))),
      http.get("*/api/account-risk", () => HttpResponse.json(ok({ accounts: [latched ? LATCHED : { ...LATCHED, latch: null }] }))),
      http.post("*/api/auth/step-up", () => {
        calls.push("step-up");
        return HttpResponse.json(ok({ step_up_valid_until: "2099-01-01T00:00:00Z" }));
      }),
      http.post("*/api/account-risk/ironbeam/ACC-1/rearm", () => {
        calls.push("rearm");
        latched = false;
        return HttpResponse.json(ok({ broker: "ironbeam", account: "ACC-1", cleared: LATCHED.latch, rearmed_by: "op@example.com", rearmed_at: "2026-12-04T11:00:00Z" }));
      }),
    );
    const user = userEvent.setup({ delay: null });
    renderWithApp(<ReconciliationPage />, { path: "/reconciliation" });
    const card = await screen.findByTestId("account-ACC-1");
    expect(card).toHaveTextContent("LATCHED");
    expect(card).toHaveTextContent("gross 4 · net 3 per contract");
    expect(card).toHaveTextContent("ES net 2 gross 2");
    const button = within(card).getByRole("button", { name: "Re-arm account ACC-1" });
    await waitFor(() => expect(button).toBeEnabled());
    await user.click(button);
    const dialog = screen.getByRole("alertdialog", { name: "Re-arm ironbeam ACC-1" });
    await user.type(within(dialog).getByLabelText("Authenticator code"), "654321");
    expect(within(dialog).getByTestId("rearm-consequences")).toHaveTextContent("the next LIVE evaluation latches the account again");
    await user.click(within(dialog).getByRole("button", { name: "Re-arm" }));
    expect(await screen.findByText(/Re-armed ironbeam ACC-1/)).toBeInTheDocument();
    expect(calls).toEqual(["step-up", "rearm"]);
    await waitFor(() => expect(screen.getByTestId("account-ACC-1")).toHaveTextContent("armed"));
    expect(screen.getByTestId("account-ACC-1")).not.toHaveTextContent("LATCHED");
  });

  it("lists a mismatch with ours vs the broker's and adopts it after a step-up", async () => {
    let open = [MISMATCH];
    const calls: string[] = [];
    server.use(
      meHandler("operator", null),
      NO_ACCOUNTS,
      http.get("*/api/bots", () => HttpResponse.json(ok({ items: [item()], next_cursor: null }))),
      http.get("*/api/reconciliation", () =>
        HttpResponse.json(ok({ mismatches: open, runs: [{ ...run(5_000), open_mismatches: open.length }], every_seconds: 60 })),
      ),
      http.post("*/api/auth/step-up", () => {
        calls.push("step-up");
        return HttpResponse.json(ok({ step_up_valid_until: "2099-01-01T00:00:00Z" }));
      }),
      http.post(`*/api/bots/${BOT_ID}/reconcile`, async ({ request }) => {
        calls.push(`reconcile ${((await request.json()) as { action: string }).action}`);
        open = [];
        return HttpResponse.json(
          ok({ bot_id: BOT_ID, action: "adopt", broker: "tradovate", account: "DEMO123", contract: "ESZ6", orders_closed: [], broker_cancelled: [], broker_close: null, adjustment: null, resolved: [MISMATCH], still_open: [] }),
        );
      }),
    );
    const user = userEvent.setup({ delay: null });
    renderWithApp(<ReconciliationPage />, { path: "/reconciliation" });
    const card = await screen.findByTestId(`mismatch-${MISMATCH.id}`);
    expect(card).toHaveTextContent("ESZ6");
    expect(card).toHaveTextContent("long 1");
    await waitFor(() => expect(within(card).getByRole("link", { name: bot().name })).toBeInTheDocument());
    const adopt = within(card).getByRole("button", { name: "Adopt the broker's state for ESZ6" });
    await waitFor(() => expect(adopt).toBeEnabled());
    await user.click(adopt);
    const dialog = screen.getByRole("alertdialog", { name: "Adopt the broker's state: ESZ6" });
    expect(within(dialog).getByTestId("consequences")).toHaveTextContent("adjustment fill");
    expect(within(dialog).getByTestId("consequences")).toHaveTextContent("booked as this bot's WORKING order");
    await user.type(within(dialog).getByLabelText("Authenticator code"), "654321");
    await user.click(within(dialog).getByRole("button", { name: "Adopt" }));
    expect(await screen.findByText(/Adopted ESZ6: 1 mismatch\(es\) resolved, 0 still open\./)).toBeInTheDocument();
    expect(calls).toEqual(["step-up", "reconcile adopt"]);
    expect(await screen.findByText("No open mismatch")).toBeInTheDocument();
    expect(screen.getByText(/Every broker account with a run matched the ledger/)).toBeInTheDocument();
  });

  it("no open mismatch: says an account's failed run compared nothing, and an account without limits is not 'armed'", async () => {
    server.use(
      meHandler("operator", null),
      http.get("*/api/account-risk", () => HttpResponse.json(ok({ accounts: [{ ...LATCHED, limits: null, reading: null, latch: null }] }))),
      http.get("*/api/reconciliation", () =>
        HttpResponse.json(
          ok({
            mismatches: [],
            runs: [
              { broker: "tradovate", account: "DEMO123", trigger: "PERIODIC", node: "n1", started_at: "2026-12-04T10:01:00Z", finished_at: "2026-12-04T10:01:01Z", ok: true, error: null, open_mismatches: 0 },
              { broker: "ironbeam", account: "ACC-1", trigger: "PERIODIC", node: "n1", started_at: "2026-12-04T10:01:00Z", finished_at: "2026-12-04T10:01:01Z", ok: false, error: "login failed", open_mismatches: 0 },
            ],
            every_seconds: 60,
          }),
        ),
      ),
    );
    renderWithApp(<ReconciliationPage />, { path: "/reconciliation" });
    expect(await screen.findByText("None is recorded, but 1 of 2 broker account(s) were not compared at their last run (below).")).toBeInTheDocument();
    expect(screen.queryByText(/matched the ledger/)).not.toBeInTheDocument();
    const card = await screen.findByTestId("account-ACC-1");
    expect(card).toHaveTextContent("no limits");
    expect(card).not.toHaveTextContent("armed");
  });

  it("a viewer sees the mismatch with Adopt and Flatten disabled and the reason", async () => {
    server.use(
      meHandler("viewer"),
      NO_ACCOUNTS,
      http.get("*/api/bots", () => HttpResponse.json(ok({ items: [item()], next_cursor: null }))),
      http.get("*/api/reconciliation", () => HttpResponse.json(ok({ mismatches: [MISMATCH], runs: [], every_seconds: 60 }))),
    );
    renderWithApp(<ReconciliationPage />, { path: "/reconciliation" });
    const card = await screen.findByTestId(`mismatch-${MISMATCH.id}`);
    const flatten = within(card).getByRole("button", { name: "Flatten ESZ6 at the broker" });
    await waitFor(() => expect(flatten).toHaveAttribute("title", expect.stringContaining("needs the operator role")));
    expect(flatten).toBeDisabled();
  });

  it("no open mismatch and a fresh matched run: says every account matched at its last run", async () => {
    server.use(meHandler("operator", null), NO_ACCOUNTS, reconciliation([run(10_000)], 60));
    renderWithApp(<ReconciliationPage />, { path: "/reconciliation" });
    expect(await screen.findByText("Every broker account with a run matched the ledger (positions and working orders) at its last run (below).")).toBeInTheDocument();
    expect(screen.queryByText(/not compared for over 3 periods/)).not.toBeInTheDocument();
  });

  it("no open mismatch but the matched run is over three periods old: no 'matched' claim, says it is overdue", async () => {
    server.use(meHandler("operator", null), NO_ACCOUNTS, reconciliation([run(10 * 60_000)], 60));
    renderWithApp(<ReconciliationPage />, { path: "/reconciliation" });
    const stale = await screen.findByText("1 of 1 broker account(s) not compared for over 3 periods (every 60 s, so 3 min): the match shown below is from their last run, not now.");
    expect(stale).toHaveClass("text-warn");
    expect(stale).not.toHaveClass("text-ok");
    expect(screen.queryByText(/matched the ledger/)).not.toBeInTheDocument();
    expect(within(screen.getByRole("region", { name: "Last runs" })).getByText(/DEMO123: 0 open, finished/)).toHaveTextContent("10 min ago");
  });

  it("no open mismatch but the period is unknown: no 'matched' claim", async () => {
    server.use(meHandler("operator", null), NO_ACCOUNTS, reconciliation([run(10_000)], null));
    renderWithApp(<ReconciliationPage />, { path: "/reconciliation" });
    expect(await screen.findByText(/the period between runs is unknown: that the ledger matches the broker now is not proven/)).toHaveClass("text-warn");
    expect(screen.queryByText(/matched the ledger/)).not.toBeInTheDocument();
  });
});
