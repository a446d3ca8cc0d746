import { describe, expect, it, vi } from "vitest";
import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { http, HttpResponse } from "msw";
import { server } from "../../test/server";
import { apiError, ok, renderWithApp } from "../../test/render";
import { BotsPage } from "./BotsPage";
import { item, meHandler, summary } from "./fixtures.test-util";

// Form typing and routing under a loaded 2-core machine: more than the 5 s default.
vi.setConfig({ testTimeout: 20_000 });

// The compact autonomy component belongs to the autonomy feature; here it shows what it was given.
vi.mock("../autonomy/AutonomyScore", () => ({
  AutonomyCompact: ({ score, tier }: { score?: number | null; tier?: string | null }) => (
    <span data-testid="autonomy-compact">{tier === undefined && score === undefined ? "never scored" : `${tier} ${score}`}</span>
  ),
}));

const A = "0190a000-0000-7000-8000-00000000000a";
const B = "0190a000-0000-7000-8000-00000000000b";
const C = "0190a000-0000-7000-8000-00000000000c";

function rows() {
  const table = screen.getByRole("table", { name: "Bots" });
  return within(table).getAllByRole("row").slice(1);
}

describe("BotsPage", () => {
  it("greys a PnL whose mark is older than the bot's freshness limit, with its age; a fresh one keeps its colour", async () => {
    const fresh = summary({}, { marked_at: new Date(Date.now() - 20_000).toISOString() });
    const stale = summary({}, { marked_at: new Date(Date.now() - 180_000).toISOString() });
    server.use(
      meHandler("operator"),
      http.get("*/api/bots", () =>
        HttpResponse.json(
          ok({
            items: [
              item({ id: A, name: "alpha", timeframe: "1s" }, stale),
              item({ id: B, name: "bravo", timeframe: "1m" }, fresh),
            ],
            next_cursor: null,
          }),
        ),
      ),
    );
    renderWithApp(<BotsPage />, { path: "/bots" });
    await screen.findByRole("link", { name: "alpha" });
    const [r1, r2] = rows();
    // 1 s bars, limit 125 s: a 3-minute-old mark is stale.
    const old = within(r1!).getByTestId("bot-pnl");
    expect(old).toHaveAttribute("data-stale", "true");
    expect(old).toHaveTextContent("+$100.50");
    expect(old).toHaveTextContent("3 min old");
    expect(old.querySelector(".text-ok")).toBeNull();
    const now = within(r2!).getByTestId("bot-pnl");
    expect(now).toHaveAttribute("data-stale", "false");
    expect(now.querySelector(".text-ok")).not.toBeNull();
  });

  it("lists bots with explicit status, stage, autonomy, today's PnL, last evaluation and breakers", async () => {
    server.use(
      meHandler("operator"),
      http.get("*/api/bots", () =>
        HttpResponse.json(
          ok({
            items: [
              item({ id: A, name: "alpha", status: "SUSPENDED", stage: "PAPER" }, summary({ open_breakers: [`bot:${A}`] })),
              item({ id: B, name: "bravo", status: "KILLED", stage: "LAB", symbol: "NQ" }, summary({ autonomy: null, last_evaluation_at: null }, { realized: "0", unrealized: null, trades_closed: 0 })),
            ],
            next_cursor: null,
          }),
        ),
      ),
    );
    renderWithApp(<BotsPage />, { path: "/bots" });
    const alpha = await screen.findByRole("link", { name: "alpha" });
    expect(alpha).toHaveAttribute("href", `/bots/${A}`);
    const [r1, r2] = rows();
    expect(r1).toHaveTextContent("SUSPENDED");
    expect(r1).toHaveTextContent("PAPER");
    expect(within(r1!).getByTestId("autonomy-compact")).toHaveTextContent("LIMITED_AUTONOMY 72");
    // realized 125.50 + unrealized −25.00
    expect(r1).toHaveTextContent("+$100.50");
    expect(r1).toHaveTextContent("30 s ago");
    expect(within(r1!).getByText("Breaker OPEN")).toHaveAttribute("title", expect.stringContaining(`bot:${A}`));
    expect(r2).toHaveTextContent("KILLED");
    expect(r2).toHaveTextContent("NQ");
    expect(within(r2!).getByTestId("autonomy-compact")).toHaveTextContent("never scored");
    // Unknown open PnL is "unknown", never a zero total; the known realized part is still shown.
    expect(within(r2!).getByTitle(/no price of the symbol was ever fetched/)).toHaveTextContent(/^unknown/);
    expect(r2).toHaveTextContent("realized $0.00; open PnL unknown");
    expect(r2).not.toHaveTextContent("+$0.00");
    expect(r2).toHaveTextContent("never");
    expect(r2).toHaveTextContent("none open");
    expect(screen.getByRole("button", { name: "New bot" })).toBeEnabled();
  });

  it("explains an empty list, and disables New bot for a viewer with the reason", async () => {
    server.use(meHandler("viewer"), http.get("*/api/bots", () => HttpResponse.json(ok({ items: [], next_cursor: null }))));
    renderWithApp(<BotsPage />, { path: "/bots" });
    expect(await screen.findByText("No bots yet")).toBeInTheDocument();
    expect(screen.getByText(/No bot has been created on this server/)).toBeInTheDocument();
    await waitFor(() => expect(screen.getByRole("button", { name: "New bot" })).toBeDisabled());
    expect(screen.getByRole("button", { name: "New bot" })).toHaveAttribute("title", "Creating a bot needs the operator role; you are viewer.");
  });

  it("sends the filters from the URL to the server and explains an empty filtered result", async () => {
    const seen: URLSearchParams[] = [];
    server.use(
      meHandler("operator"),
      http.get("*/api/bots", ({ request }) => {
        const q = new URL(request.url).searchParams;
        seen.push(q);
        const items = q.get("status") === "KILLED" ? [] : [item({ id: A, name: "alpha" })];
        return HttpResponse.json(ok({ items, next_cursor: null }));
      }),
    );
    const user = userEvent.setup({ delay: null });
    const { router } = renderWithApp(<BotsPage />, { path: "/bots?stage=PAPER&symbol=ES" });
    await screen.findByRole("link", { name: "alpha" });
    expect(seen[0]?.get("stage")).toBe("PAPER");
    expect(seen[0]?.get("symbol")).toBe("ES");
    expect(screen.getByRole("combobox", { name: "Stage" })).toHaveValue("PAPER");

    await user.selectOptions(screen.getByRole("combobox", { name: "Status" }), "KILLED");
    expect(await screen.findByText("No bots match these filters")).toBeInTheDocument();
    expect(screen.getByText("No bot has stage PAPER, status KILLED, symbol ES.")).toBeInTheDocument();
    expect(router.state.location.search).toMatchObject({ stage: "PAPER", status: "KILLED", symbol: "ES" });
    expect(seen.at(-1)?.get("status")).toBe("KILLED");

    await user.click(screen.getByRole("button", { name: "Clear filters" }));
    await screen.findByRole("link", { name: "alpha" });
    expect(seen.at(-1)?.has("stage")).toBe(false);
  });

  it("sorts the loaded page on the client, unknowns last", async () => {
    server.use(
      meHandler("operator"),
      http.get("*/api/bots", () =>
        HttpResponse.json(
          ok({
            items: [
              item({ id: A, name: "alpha" }, summary({}, { realized: "10", unrealized: "0" })),
              item({ id: B, name: "bravo" }, summary({}, { realized: "-50", unrealized: "0" })),
              item({ id: C, name: "charlie" }, summary({}, { realized: "5", unrealized: null })),
            ],
            next_cursor: null,
          }),
        ),
      ),
    );
    const user = userEvent.setup({ delay: null });
    renderWithApp(<BotsPage />, { path: "/bots" });
    await screen.findByRole("link", { name: "alpha" });
    await user.click(screen.getByRole("button", { name: "Today's PnL" }));
    await waitFor(() => expect(rows().map((r) => within(r).getAllByRole("link")[0]!.textContent)).toEqual(["bravo", "alpha", "charlie"]));
    await user.click(screen.getByRole("button", { name: "Today's PnL" }));
    await waitFor(() => expect(rows().map((r) => within(r).getAllByRole("link")[0]!.textContent)).toEqual(["alpha", "bravo", "charlie"]));
    expect(screen.getByText(/Sorting applies to the loaded page/)).toBeInTheDocument();
  });

  it("degraded: shows the error code and trace id, keeps no made-up rows", async () => {
    server.use(
      meHandler("operator"),
      http.get("*/api/bots", () =>
        HttpResponse.json(apiError("DATABASE_UNAVAILABLE", "The database is unreachable."), { status: 503, headers: { "x-trace-id": "4bf92f3577b34da6a3ce929d0e0e4736" } }),
      ),
    );
    renderWithApp(<BotsPage />, { path: "/bots" });
    const alert = await screen.findByText(/DATABASE_UNAVAILABLE: The database is unreachable/);
    expect(alert.closest("[role=alert]")).toHaveTextContent("4bf92f3577b34da6a3ce929d0e0e4736");
    expect(screen.queryByRole("table", { name: "Bots" })).not.toBeInTheDocument();
    await waitFor(() => expect(screen.getByRole("button", { name: "New bot" })).toBeDisabled());
    expect(screen.getByRole("button", { name: "New bot" }).title).toContain("DATABASE_UNAVAILABLE");
  });

  it("forbidden: says so with the server's code", async () => {
    server.use(
      meHandler("viewer"),
      http.get("*/api/bots", () => HttpResponse.json(apiError("FORBIDDEN", "This token may not read bots."), { status: 403 })),
    );
    renderWithApp(<BotsPage />, { path: "/bots" });
    expect(await screen.findByText(/FORBIDDEN: This token may not read bots/)).toBeInTheDocument();
    expect(screen.getByText(/Fix: Do the fix/)).toBeInTheDocument();
  });

  it("pages with the server's cursor", async () => {
    server.use(
      meHandler("operator"),
      http.get("*/api/bots", ({ request }) => {
        const cursor = new URL(request.url).searchParams.get("cursor");
        return HttpResponse.json(
          cursor === "c2"
            ? ok({ items: [item({ id: B, name: "bravo" })], next_cursor: null })
            : ok({ items: [item({ id: A, name: "alpha" })], next_cursor: "c2" }),
        );
      }),
    );
    const user = userEvent.setup({ delay: null });
    renderWithApp(<BotsPage />, { path: "/bots" });
    await screen.findByRole("link", { name: "alpha" });
    expect(screen.getByRole("button", { name: "Previous page" })).toBeDisabled();
    await user.click(screen.getByRole("button", { name: "Next page" }));
    expect(await screen.findByRole("link", { name: "bravo" })).toBeInTheDocument();
    expect(screen.getByRole("button", { name: "Next page" })).toBeDisabled();
    await user.click(screen.getByRole("button", { name: "Previous page" }));
    expect(await screen.findByRole("link", { name: "alpha" })).toBeInTheDocument();
  });
});
