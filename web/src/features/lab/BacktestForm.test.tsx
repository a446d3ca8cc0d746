import { describe, expect, it, vi } from "vitest";
import { screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { http, HttpResponse } from "msw";
import { server } from "../../test/server";
import { ok, renderWithApp } from "../../test/render";
import { BacktestForm } from "./BacktestForm";

vi.setConfig({ testTimeout: 20_000 });

const NOW = Date.parse("2026-12-02T15:00:00Z");
const BT_ID = "0190a000-0000-7000-8000-0000000000b1";
const SWEEP_ID = "0190a000-0000-7000-8000-0000000000c1";

const botsHandler = http.get("*/api/bots", () => HttpResponse.json(ok({ items: [], next_cursor: null })));

async function fill(user: ReturnType<typeof userEvent.setup>, field: string, value: string) {
  const input = screen.getByLabelText(field);
  await user.clear(input);
  await user.type(input, value);
}

describe("BacktestForm", () => {
  it("shows the server's refusal beside its field, then queues the backtest and opens it", async () => {
    const bodies: Record<string, unknown>[] = [];
    server.use(
      botsHandler,
      http.post("*/api/backtests", async ({ request }) => {
        const body = (await request.json()) as Record<string, unknown>;
        bodies.push(body);
        if ((body.fill as { slippage_ticks: number }).slippage_ticks > 100) {
          return HttpResponse.json(
            {
              success: false,
              trace_id: "4bf92f3577b34da6a3ce929d0e0e4736",
              error: { code: "VALIDATION_FAILED", message: "`fill.slippage_ticks` must be at most 100", suggested_fix: "Correct the field.", details: { field: "fill.slippage_ticks", problem: "must be at most 100" } },
            },
            { status: 422 },
          );
        }
        return HttpResponse.json(ok({ backtest: { id: BT_ID }, job: { id: "j" } }), { status: 202 });
      }),
    );
    const user = userEvent.setup({ delay: null });
    const { router } = renderWithApp(<BacktestForm gate={null} nowMs={NOW} />, { path: "/lab" });
    await screen.findByRole("form", { name: "New backtest" });
    await fill(user, "Fast period (bars)", "5");
    await fill(user, "Slow period (bars)", "20");
    await fill(user, "First day (UTC)", "2026-11-16");
    await fill(user, "Last day (UTC, included)", "2026-11-20");
    await fill(user, "Slippage (ticks per fill)", "500");
    await user.type(screen.getByLabelText("Daily loss limit (USD, optional)"), "50000");
    await user.click(screen.getByRole("button", { name: "Run backtest" }));

    const slippage = screen.getByLabelText("Slippage (ticks per fill)");
    await waitFor(() => expect(slippage).toHaveAttribute("aria-invalid", "true"));
    expect(screen.getByText("must be at most 100")).toBeInTheDocument();
    expect(screen.getByTestId("action-error")).toHaveTextContent("VALIDATION_FAILED");

    await fill(user, "Slippage (ticks per fill)", "2");
    await user.click(screen.getByRole("button", { name: "Run backtest" }));
    await waitFor(() => expect(router.state.location.pathname).toBe(`/lab/backtests/${BT_ID}`));
    expect(bodies[1]).toEqual({
      from: "2026-11-16T00:00:00Z",
      to: "2026-11-21T00:00:00Z",
      fill: { slippage_ticks: 2, commission_per_side: "2.25" },
      starting_capital: "100000",
      risk: { daily_loss_limit: "50000" },
      strategy: { kind: "sma_crossover", params: { fast: 5, slow: 20, average: "sma" } },
      symbol: "ES",
      timeframe: "5m",
    });
  });

  it("refuses what it can itself without a request, and disables Run with the role gate's reason", async () => {
    let posted = 0;
    server.use(
      botsHandler,
      http.post("*/api/backtests", () => {
        posted += 1;
        return HttpResponse.json(ok({}), { status: 202 });
      }),
    );
    const user = userEvent.setup({ delay: null });
    const { unmount } = renderWithApp(<BacktestForm gate={null} nowMs={NOW} />, { path: "/lab" });
    await screen.findByRole("form", { name: "New backtest" });
    await fill(user, "Commission (USD per contract per fill)", "two");
    await user.click(screen.getByRole("button", { name: "Run backtest" }));
    expect(await screen.findByText("must be an amount in USD, e.g. 2.25")).toBeInTheDocument();
    expect(posted).toBe(0);
    unmount();

    renderWithApp(<BacktestForm gate="Running a backtest needs the operator role; you are signed in as viewer" nowMs={NOW} />, { path: "/lab" });
    expect(await screen.findByRole("button", { name: "Run backtest" })).toBeDisabled();
    expect(screen.getByRole("button", { name: "Run backtest" })).toHaveAttribute("title", expect.stringContaining("operator role"));
  });

  it("queues a sweep over the listed values and opens it", async () => {
    let body: Record<string, unknown> | null = null;
    server.use(
      botsHandler,
      http.post("*/api/backtests/sweeps", async ({ request }) => {
        body = (await request.json()) as Record<string, unknown>;
        return HttpResponse.json(ok({ sweep: { id: SWEEP_ID }, job: { id: "j" } }), { status: 202 });
      }),
    );
    const user = userEvent.setup({ delay: null });
    const { router } = renderWithApp(<BacktestForm gate={null} nowMs={NOW} />, { path: "/lab" });
    await screen.findByRole("form", { name: "New backtest" });
    await user.click(screen.getByLabelText("Sweep parameters"));
    await fill(user, "Fast period (bars)", "5, 10");
    await fill(user, "Slow period (bars)", "20, 40");
    await user.type(screen.getByLabelText("Walk-forward folds (optional)"), "2");
    await user.click(screen.getByRole("button", { name: "Run sweep" }));
    await waitFor(() => expect(router.state.location.pathname).toBe(`/lab/sweeps/${SWEEP_ID}`));
    expect(body).toMatchObject({
      strategy: { kind: "sma_crossover", params: { fast: 5, slow: 20, average: "sma" } },
      params: { fast: { values: [5, 10] }, slow: { values: [20, 40] } },
      mode: "grid",
      objective: "net_pnl",
      walk_forward: { folds: 2, out_of_sample_pct: 25 },
    });
  });
});
