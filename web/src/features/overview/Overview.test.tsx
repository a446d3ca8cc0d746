import { beforeEach, describe, expect, it } from "vitest";
import { screen, waitFor, within } from "@testing-library/react";
import { http, HttpResponse } from "msw";
import { server } from "../../test/server";
import { apiError, ok, renderWithApp } from "../../test/render";
import { item } from "../bots/fixtures.test-util";
import { OverviewPage } from ".";

const TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";
const BLOCKER_TRACE = "ab".repeat(16);
const tickAt = new Date(Date.now() - 42_000).toISOString();

const blocked = {
  system_status: "BLOCKED",
  autonomy_allowed: false,
  blockers: [
    { code: "AI_PROVIDER_UNAVAILABLE", severity: "SEV-2", message: "No LLM provider is configured: AI-dependent actions are blocked.", suggested_fix: "Set ANTHROPIC_API_KEY.", trace_id: BLOCKER_TRACE },
    { code: "DATA_UNAVAILABLE", severity: "SEV-1", message: "No market-data provider has a key (databento or polygon): bots cannot see the market.", suggested_fix: "Set DATABENTO_API_KEY or POLYGON_API_KEY, restart tradeplane, then verify the provider.", trace_id: BLOCKER_TRACE },
  ],
  bots: { byAutonomyTier: { LOCKED: 3, SUPERVISED: 2, LIMITED_AUTONOMY: 1, FULL_AUTONOMY: 0 } },
  scheduler: {
    active: true,
    last_tick_at: tickAt,
    loop_health: "OK",
    circuit_breakers: [
      { scope: "provider:polygon", state: "CLOSED", failures_in_window: 0 },
      { scope: "bot:0b6f3c1e-1111-4a57-9d59-8f1f6f2b8a10", state: "OPEN", failures_in_window: 5 },
    ],
  },
  integrations: { total: 18, configured: 4, connected: 2, not_configured: 14, sandbox: 1 },
};

const healthyEmpty = {
  system_status: "OK",
  autonomy_allowed: true,
  blockers: [],
  bots: { byAutonomyTier: null },
  scheduler: { active: false, last_tick_at: null, loop_health: "UNKNOWN", circuit_breakers: [] },
  integrations: { total: 18, configured: 0, connected: null, not_configured: 18, sandbox: 0 },
};

function card(name: string) {
  return screen.getByRole("heading", { name }).closest("section") as HTMLElement;
}

describe("OverviewPage", () => {
  // The queue and the fleet have their own tests (AttentionQueue.test.tsx); here they answer empty.
  beforeEach(() => {
    server.use(
      http.get("*/api/attention", () => HttpResponse.json(ok({ as_of: new Date().toISOString(), items: [], counts: { sev1: 0, sev2: 0, sev3: 0 } }))),
      http.get("*/api/fleet/pnl-today", () => HttpResponse.json(ok({ trade_date: "2026-11-26", trade_date_start: "2026-11-25T23:00:00Z", items: [], truncated: false }))),
      http.get("*/api/bots", () => HttpResponse.json(ok({ items: [], next_cursor: null }))),
    );
  });

  it("shows status, autonomy, blockers (SEV-1 first), scheduler, tiers and integration counts", async () => {
    server.use(
      http.get("*/api/system/status", () => HttpResponse.json(ok(blocked))),
      http.get("*/api/bots", () => HttpResponse.json(ok({ items: [item({ id: "0b6f3c1e-1111-4a57-9d59-8f1f6f2b8a10", name: "es-momentum" })], next_cursor: null }))),
    );
    renderWithApp(<OverviewPage />);
    expect(await screen.findByTestId("system-status")).toHaveTextContent("BLOCKED");
    expect(screen.getByTestId("system-status")).toHaveClass("text-bad");
    const statusCard = card("System status");
    expect(within(statusCard).getByText("Autonomy not allowed")).toBeInTheDocument();
    expect(within(statusCard).getByText("1 SEV-1")).toBeInTheDocument();
    expect(within(statusCard).getByText("1 SEV-2")).toBeInTheDocument();

    const items = within(card("Blockers")).getAllByTestId("blocker");
    expect(items).toHaveLength(2);
    expect(items[0]!).toHaveTextContent("SEV-1");
    expect(items[0]).toHaveTextContent("DATA_UNAVAILABLE");
    expect(items[0]).toHaveTextContent("bots cannot see the market");
    expect(items[0]).toHaveTextContent("Fix: Set DATABENTO_API_KEY or POLYGON_API_KEY");
    expect(items[0]!.querySelector("[data-trace-id]")).toHaveAttribute("data-trace-id", BLOCKER_TRACE);
    expect(items[1]).toHaveTextContent("SEV-2");
    expect(screen.queryByText("No blockers reported")).not.toBeInTheDocument();

    const sched = card("Scheduler");
    expect(within(sched).getByText("Active")).toBeInTheDocument();
    expect(within(sched).getByText("OK")).toBeInTheDocument();
    expect(within(sched).getByTestId("last-tick")).toHaveTextContent(/\(4[2-9] s ago\)/);
    const rows = within(sched).getAllByRole("row");
    // Open breakers first; a bot's by its name, linking to its page.
    const bot = within(rows[1]!).getByRole("link");
    expect(bot).toHaveAttribute("href", "/bots/0b6f3c1e-1111-4a57-9d59-8f1f6f2b8a10");
    await waitFor(() => expect(bot).toHaveTextContent("es-momentum"));
    expect(rows[1]).toHaveTextContent("OPEN");
    expect(rows[1]).toHaveTextContent("5");
    expect(rows[2]).toHaveTextContent("provider:polygon");
    expect(within(sched).getByText("1 open · 0 half-open · 1 closed")).toBeInTheDocument();

    expect(screen.getByTestId("tier-LOCKED")).toHaveTextContent("3");
    expect(screen.getByTestId("tier-SUPERVISED")).toHaveTextContent("2");
    expect(screen.getByTestId("tier-LIMITED_AUTONOMY")).toHaveTextContent("1");
    expect(screen.getByTestId("tier-FULL_AUTONOMY")).toHaveTextContent("0");

    expect(screen.getByTestId("integrations-Providers")).toHaveTextContent("18");
    expect(screen.getByTestId("integrations-Connected")).toHaveTextContent("2");
    expect(screen.getByTestId("integrations-Sandbox")).toHaveTextContent("1");
  });

  it("says there are no blockers only when the status is fresh, and says why tier counts are unknown", async () => {
    server.use(http.get("*/api/system/status", () => HttpResponse.json(ok(healthyEmpty))));
    renderWithApp(<OverviewPage />);
    expect(await screen.findByTestId("system-status")).toHaveTextContent("OK");
    expect(screen.getByTestId("system-status")).toHaveClass("text-ok");
    expect(screen.getByText("Autonomy allowed")).toBeInTheDocument();
    expect(within(card("Blockers")).getByText("No blockers reported")).toBeInTheDocument();
    expect(screen.getByTestId("tiers-unknown")).toHaveTextContent("Tier counts unknown.");
    expect(screen.getByTestId("tiers-unknown")).toHaveTextContent("database is unreachable");
    expect(screen.getByTestId("integrations-Connected")).toHaveTextContent("unknown (database unreachable)");
    const sched = card("Scheduler");
    expect(within(sched).getByText("Not active")).toBeInTheDocument();
    expect(within(sched).getByText("UNKNOWN")).toBeInTheDocument();
    expect(within(sched).getByTestId("last-tick")).toHaveTextContent("never");
    expect(within(sched).getByText("No circuit breakers reported")).toBeInTheDocument();
  });

  it("keeps the last good status labelled stale when a refetch fails, never an empty-and-green list", async () => {
    let fail = false;
    server.use(
      http.get("*/api/system/status", () =>
        fail
          ? HttpResponse.json(apiError("DATABASE_UNAVAILABLE", "The database is unreachable.", TRACE), { status: 503, headers: { "x-trace-id": TRACE } })
          : HttpResponse.json(ok(healthyEmpty)),
      ),
    );
    const { client } = renderWithApp(<OverviewPage />);
    expect(await screen.findByText("No blockers reported")).toBeInTheDocument();
    fail = true;
    await client.refetchQueries({ queryKey: ["/api/system/status"] });
    await waitFor(() => expect(screen.queryByText("No blockers reported")).not.toBeInTheDocument());
    const blockers = card("Blockers");
    expect(within(blockers).getByText(/Stale: blockers from the last good status/)).toBeInTheDocument();
    expect(within(blockers).getByText(/whether any exist now is unknown/)).toBeInTheDocument();
    expect(within(blockers).getByText("DATABASE_UNAVAILABLE")).toBeInTheDocument();
    expect(within(blockers).getByText(/stale: last good/)).toBeInTheDocument();
    expect(blockers.querySelector("[data-trace-id]")).toHaveAttribute("data-trace-id", TRACE);
    // The last known status stays, marked stale (amber, not green).
    expect(screen.getByTestId("system-status")).toHaveTextContent("OK");
    expect(screen.getByTestId("system-status")).not.toHaveClass("text-ok");
  });

  it("shows the error with code, fix and trace id when the status never loaded", async () => {
    server.use(
      http.get("*/api/system/status", () =>
        HttpResponse.json(apiError("INTERNAL", "Something broke.", TRACE, "Report the trace id."), { status: 500, headers: { "x-trace-id": TRACE } }),
      ),
    );
    renderWithApp(<OverviewPage />);
    const statusCard = await waitFor(() => {
      const c = card("System status");
      expect(within(c).getByText("INTERNAL: Something broke.")).toBeInTheDocument();
      return c;
    });
    expect(within(statusCard).getByText("Fix: Report the trace id.")).toBeInTheDocument();
    expect(statusCard.querySelector(`[data-trace-id="${TRACE}"]`)).not.toBeNull();
    expect(screen.queryByText("No blockers reported")).not.toBeInTheDocument();
    expect(within(card("Blockers")).getByText(/Blockers unknown/)).toBeInTheDocument();
    expect(screen.queryByTestId("system-status")).not.toBeInTheDocument();
  });
});
