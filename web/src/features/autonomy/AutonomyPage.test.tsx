import { describe, expect, it } from "vitest";
import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { http, HttpResponse } from "msw";
import { server } from "../../test/server";
import { apiError, ok, renderWithApp } from "../../test/render";
import { AutonomyPage } from "./index";
import { scoreRow } from "./testFixtures";
import { v7 } from "../bots/traces/testFixtures";

function status(byAutonomyTier: Record<string, number> | null) {
  return {
    system_status: "OK",
    autonomy_allowed: true,
    blockers: [],
    bots: { byAutonomyTier },
    scheduler: { active: true, last_tick_at: null, loop_health: "OK", circuit_breakers: [] },
    integrations: { total: 1, configured: 1, connected: 1, not_configured: 0, sandbox: 1 },
  };
}

function bot(i: number, name: string, extra: Record<string, unknown> = {}) {
  return {
    id: v7(Date.parse("2026-11-20T00:00:00Z") + i, i),
    name,
    symbol: "ES",
    timeframe: "1m",
    stage: "PAPER",
    status: "RUNNING",
    is_trading_enabled: true,
    strategy: {},
    risk_limits: {},
    created_at: "2026-11-20T00:00:00Z",
    updated_at: "2026-11-20T00:00:00Z",
    summary: { autonomy: null, today_pnl: null, last_evaluation_at: null, open_breakers: [] },
    ...extra,
  };
}

const A = bot(1, "alpha");
const B = bot(2, "bravo", { status: "KILLED" });
const C = bot(3, "charlie", { status: "STOPPED" });

function scores(requests: string[] = []) {
  return http.get("*/api/bots/:id/autonomy-score", ({ params }) => {
    requests.push(String(params.id));
    if (params.id === A.id) return HttpResponse.json(ok({ autonomy_score: scoreRow(A.id, { autonomy_score: 58 }), no_score_reason: null }));
    if (params.id === B.id) return HttpResponse.json(ok({ autonomy_score: scoreRow(B.id, { breakerOpen: true, autonomy_score: 20 }), no_score_reason: null }));
    return HttpResponse.json(ok({ autonomy_score: null, no_score_reason: "not scored yet: the scorer scores every bot periodically" }));
  });
}

describe("AutonomyPage", () => {
  it("shows bots per tier and a per-bot list with score, tier and first failing gate", async () => {
    const requests: string[] = [];
    server.use(
      http.get("*/api/system/status", () => HttpResponse.json(ok(status({ LOCKED: 2, SUPERVISED: 1, LIMITED_AUTONOMY: 0, FULL_AUTONOMY: 0 })))),
      http.get("*/api/bots", () => HttpResponse.json(ok({ items: [A, B, C], next_cursor: null }))),
      scores(requests),
    );
    renderWithApp(<AutonomyPage />, { path: "/autonomy" });
    await waitFor(() => expect(screen.getByTestId("tier-count-LOCKED")).toHaveTextContent("2"));
    await waitFor(() => expect(screen.getByTestId("tier-count-SUPERVISED")).toHaveTextContent("1"));
    expect(screen.getByTestId("tier-count-FULL_AUTONOMY")).toHaveTextContent("0");
    expect(screen.getByText(/3 bots in all\. Bots never scored count as LOCKED\./)).toBeInTheDocument();

    const table = await screen.findByRole("table", { name: "Bots by autonomy" });
    await waitFor(() => expect(table.querySelector(`[data-bot="${B.id}"]`)).toHaveTextContent("LOCKED"));
    const rowA = table.querySelector(`[data-bot="${A.id}"]`)!;
    expect(rowA).toHaveTextContent("58");
    expect(rowA).toHaveTextContent("SUPERVISED");
    expect(rowA).toHaveTextContent("7 of 9 pass");
    expect(rowA).toHaveTextContent("Execution evidence");
    const rowB = table.querySelector(`[data-bot="${B.id}"]`)!;
    expect(rowB).toHaveTextContent("KILLED");
    expect(rowB).toHaveTextContent("Not killed, no open breaker");
    const rowC = table.querySelector(`[data-bot="${C.id}"]`)!;
    expect(rowC).toHaveTextContent("unscored");
    expect(rowC).toHaveTextContent("the scorer scores every bot periodically");
    expect(within(rowA as HTMLElement).getByRole("link", { name: "alpha" })).toHaveAttribute("href", `/bots/${A.id}`);
    // Lowest score first by default: unscored, then 20, then 58.
    const order = [...table.querySelectorAll("tbody tr")].map((r) => r.getAttribute("data-bot"));
    expect(order).toEqual([C.id, B.id, A.id]);
    expect(screen.getByText(/one request per bot shown \(3\)/)).toBeInTheDocument();
    expect(new Set(requests)).toEqual(new Set([A.id, B.id, C.id]));
  });

  it("filters the loaded bots by tier", async () => {
    server.use(
      http.get("*/api/system/status", () => HttpResponse.json(ok(status({ LOCKED: 2, SUPERVISED: 1, LIMITED_AUTONOMY: 0, FULL_AUTONOMY: 0 })))),
      http.get("*/api/bots", () => HttpResponse.json(ok({ items: [A, B, C], next_cursor: null }))),
      scores(),
    );
    const user = userEvent.setup();
    const { router } = renderWithApp(<AutonomyPage />, { path: "/autonomy" });
    const table = await screen.findByRole("table", { name: "Bots by autonomy" });
    await waitFor(() => expect(table.querySelector(`[data-bot="${A.id}"]`)).toHaveTextContent("SUPERVISED"));
    await user.click(within(screen.getByRole("group", { name: "Filter by tier" })).getByRole("button", { name: "SUPERVISED" }));
    await waitFor(() => expect(table.querySelectorAll("tbody tr")).toHaveLength(1));
    expect(table.querySelector(`[data-bot="${A.id}"]`)).not.toBeNull();
    expect(router.state.location.search).toMatchObject({ tier: "SUPERVISED" });
    // Unscored bots count as LOCKED, like the server's tier counts.
    await user.click(within(screen.getByRole("group", { name: "Filter by tier" })).getByRole("button", { name: "LOCKED" }));
    await waitFor(() => expect(table.querySelectorAll("tbody tr")).toHaveLength(2));
  });

  it("uses the list's autonomy summary when the bots endpoint provides it", async () => {
    const withSummary = bot(4, "delta", { summary: { autonomy: { score: 91, tier: "FULL_AUTONOMY", computed_at: new Date().toISOString() }, open_breakers: [] } });
    server.use(
      http.get("*/api/system/status", () => HttpResponse.json(ok(status({ LOCKED: 0, SUPERVISED: 0, LIMITED_AUTONOMY: 0, FULL_AUTONOMY: 1 })))),
      http.get("*/api/bots", () => HttpResponse.json(ok({ items: [withSummary], next_cursor: null }))),
      http.get("*/api/bots/:id/autonomy-score", () => HttpResponse.json(apiError("DATABASE_UNAVAILABLE", "down", "abababababababababababababababab"), { status: 503 })),
    );
    renderWithApp(<AutonomyPage />, { path: "/autonomy" });
    const table = await screen.findByRole("table", { name: "Bots by autonomy" });
    const row = table.querySelector(`[data-bot="${withSummary.id}"]`)!;
    await waitFor(() => expect(row).toHaveTextContent("DATABASE_UNAVAILABLE"));
    expect(row).toHaveTextContent("91");
    expect(row).toHaveTextContent("FULL_AUTONOMY");
    expect(row.querySelector('[data-trace-id="abababababababababababababababab"]')).not.toBeNull();
  });

  it("says there are no bots (empty) and that tier counts are unknown when the status lacks them", async () => {
    server.use(
      http.get("*/api/system/status", () => HttpResponse.json(ok(status(null)))),
      http.get("*/api/bots", () => HttpResponse.json(ok({ items: [], next_cursor: null }))),
    );
    renderWithApp(<AutonomyPage />, { path: "/autonomy" });
    expect(await screen.findByText("No bots")).toBeInTheDocument();
    expect(await screen.findByText("Tier counts unknown")).toBeInTheDocument();
    expect(screen.queryByTestId("tier-count-LOCKED")).toBeNull();
  });

  it("shows failures with code and trace id (degraded) and a 403 (forbidden)", async () => {
    server.use(
      http.get("*/api/system/status", () => HttpResponse.json(apiError("DATABASE_UNAVAILABLE", "Status down.", "cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd"), { status: 503 })),
      http.get("*/api/bots", () => HttpResponse.json(apiError("FORBIDDEN", "Not allowed."), { status: 403 })),
    );
    renderWithApp(<AutonomyPage />, { path: "/autonomy" });
    const statusErr = await screen.findByText(/DATABASE_UNAVAILABLE: Status down\./);
    expect(statusErr.closest("[role=alert]")!.querySelector('[data-trace-id="cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd"]')).not.toBeNull();
    expect(await screen.findByText(/FORBIDDEN: Not allowed\./)).toBeInTheDocument();
    expect(screen.queryByText("No bots")).toBeNull();
  });

  it("shows a bot's gates as last known, muted and with the error, once its score's refetch fails: never a green \"every gate passes\"", async () => {
    const passing = scoreRow(A.id, { autonomy_score: 90 });
    const breakdown = passing.breakdown as unknown as { gates: { passed: boolean }[] };
    breakdown.gates = breakdown.gates.map((g) => ({ ...g, passed: true }));
    let fail = false;
    server.use(
      http.get("*/api/system/status", () => HttpResponse.json(ok(status({ LOCKED: 0, SUPERVISED: 0, LIMITED_AUTONOMY: 0, FULL_AUTONOMY: 1 })))),
      http.get("*/api/bots", () => HttpResponse.json(ok({ items: [A], next_cursor: null }))),
      http.get("*/api/bots/:id/autonomy-score", () =>
        fail
          ? HttpResponse.json(apiError("DATABASE_UNAVAILABLE", "The database is unreachable.", "efefefefefefefefefefefefefefefef"), { status: 503, headers: { "x-trace-id": "efefefefefefefefefefefefefefefef" } })
          : HttpResponse.json(ok({ autonomy_score: passing, no_score_reason: null })),
      ),
    );
    const { client } = renderWithApp(<AutonomyPage />, { path: "/autonomy" });
    const green = await screen.findByText("none: every gate passes");
    expect(green).toHaveClass("text-ok");
    fail = true;
    await client.refetchQueries({ queryKey: ["/api/bots/{id}/autonomy-score", A.id] });
    await waitFor(() => expect(screen.queryByText("none: every gate passes")).not.toBeInTheDocument());
    const row = document.querySelector(`tr[data-bot="${A.id}"]`) as HTMLElement;
    const first = within(row).getByTestId("first-failing-last-known");
    expect(first).toHaveTextContent("last known: every gate passed (not current: the latest refresh failed)");
    expect(first).not.toHaveClass("text-ok");
    expect(first.closest("td")!.querySelector(".text-ok")).toBeNull();
    const gates = within(row).getByTestId("gates-last-known");
    expect(gates).toHaveTextContent("last known: 9 of 9 passed");
    expect(gates).toHaveTextContent("DATABASE_UNAVAILABLE");
    expect(gates.querySelector('[data-trace-id="efefefefefefefefefefefefefefefef"]')).not.toBeNull();
  });

  it("pages bots with Load more", async () => {
    const first = Array.from({ length: 25 }, (_, i) => bot(10 + i, `bot-${i}`));
    const second = [bot(99, "last-bot")];
    server.use(
      http.get("*/api/system/status", () => HttpResponse.json(ok(status({ LOCKED: 26, SUPERVISED: 0, LIMITED_AUTONOMY: 0, FULL_AUTONOMY: 0 })))),
      http.get("*/api/bots", ({ request }) => {
        const cursor = new URL(request.url).searchParams.get("cursor");
        return HttpResponse.json(ok(cursor === "p2" ? { items: second, next_cursor: null } : { items: first, next_cursor: "p2" }));
      }),
      http.get("*/api/bots/:id/autonomy-score", () => HttpResponse.json(ok({ autonomy_score: null, no_score_reason: "not scored yet" }))),
    );
    const user = userEvent.setup();
    renderWithApp(<AutonomyPage />, { path: "/autonomy" });
    await screen.findByText("bot-0");
    expect(screen.getByText(/25 bots loaded \(25 per page\)/)).toBeInTheDocument();
    await user.click(screen.getByRole("button", { name: "Load more" }));
    expect(await screen.findByText("last-bot")).toBeInTheDocument();
    expect(screen.getByText(/26 bots loaded — that is all of them/)).toBeInTheDocument();
  });
});
