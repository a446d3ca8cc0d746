// The Overview's status cards turn stale by age, not only on a failed refetch: a poll the network
// paused, or a request that hangs, leaves the last answer "success" but old.
import { afterEach, describe, expect, it, vi } from "vitest";
import { screen, waitFor, within } from "@testing-library/react";
import { delay, http, HttpResponse } from "msw";
import { server } from "../../test/server";
import { ok, renderWithApp } from "../../test/render";
import { advanceClock } from "../../test/clock";
import { OverviewPage } from ".";

afterEach(() => vi.restoreAllMocks());

const healthy = {
  system_status: "OK",
  autonomy_allowed: true,
  blockers: [],
  bots: { byAutonomyTier: { LOCKED: 1, SUPERVISED: 0, LIMITED_AUTONOMY: 0, FULL_AUTONOMY: 0 } },
  scheduler: { active: true, last_tick_at: null, loop_health: "OK", circuit_breakers: [] },
  integrations: { total: 18, configured: 2, connected: 2, not_configured: 16, sandbox: 0 },
};

function card(name: string) {
  return screen.getByRole("heading", { name }).closest("section") as HTMLElement;
}

describe("OverviewPage when the status stops answering", () => {
  it("marks the last good status stale once it is older than the freshness limit, without a failed request", async () => {
    let hang = false;
    server.use(
      http.get("*/api/system/status", async () => {
        if (hang) await delay("infinite");
        return HttpResponse.json(ok(healthy));
      }),
      http.get("*/api/attention", () => HttpResponse.json(ok({ as_of: new Date().toISOString(), items: [], counts: { sev1: 0, sev2: 0, sev3: 0 } }))),
      http.get("*/api/fleet/pnl-today", () => HttpResponse.json(ok({ trade_date: "2026-11-26", trade_date_start: "2026-11-25T23:00:00Z", items: [], truncated: false }))),
      http.get("*/api/bots", () => HttpResponse.json(ok({ items: [], next_cursor: null }))),
    );
    renderWithApp(<OverviewPage />);
    expect(await screen.findByText("No blockers reported")).toBeInTheDocument();
    expect(screen.getByTestId("system-status")).toHaveClass("text-ok");
    expect(screen.getByText("Autonomy allowed")).toHaveClass("text-ok");

    hang = true;
    advanceClock(13_000);
    await waitFor(() => expect(screen.queryByText("No blockers reported")).not.toBeInTheDocument());
    const blockers = card("Blockers");
    expect(within(blockers).getByText(/Stale: blockers from the last good status/)).toHaveTextContent("The status endpoint has not answered since");
    expect(within(blockers).getByText(/whether any exist now is unknown/)).toBeInTheDocument();
    expect(within(card("System status")).getByText(/Stale: status from the last good status/)).toBeInTheDocument();
    expect(screen.getByTestId("system-status")).toHaveTextContent("OK");
    expect(screen.getByTestId("system-status")).not.toHaveClass("text-ok");
    expect(screen.getByText("Autonomy allowed")).not.toHaveClass("text-ok");
    expect(screen.getByTestId("tier-LOCKED").parentElement).toHaveClass("opacity-70");
  });
});
