import { describe, expect, it, vi } from "vitest";
import { screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { http, HttpResponse } from "msw";
import { server } from "../../test/server";
import { ok, renderWithApp } from "../../test/render";
import { meHandler } from "../bots/fixtures.test-util";
import { SweepDetail } from "./SweepPage";

vi.setConfig({ testTimeout: 20_000 });

const SWEEP_ID = "0190a000-0000-7000-8000-0000000000c1";
const fig = (net: string, trades: number) => ({ net_pnl: net, profit_factor: 1.5, trades, max_drawdown_pct: 2.5, sharpe: 0.8 });

function view(sort: string) {
  const rows = [
    { params: { fast: 5, slow: 20 }, in_sample: fig("900.00", 10), out_of_sample: fig("-120.50", 4), backtest_ids: ["0190a000-0000-7000-8000-0000000000d1", "0190a000-0000-7000-8000-0000000000d2"] },
    { params: { fast: 10, slow: 20 }, in_sample: fig("400.00", 8), out_of_sample: fig("250.00", 3), backtest_ids: ["0190a000-0000-7000-8000-0000000000d3"] },
    { params: { fast: 5, slow: 40 }, in_sample: fig("-50.00", 6), out_of_sample: null, backtest_ids: ["0190a000-0000-7000-8000-0000000000d4"] },
  ];
  return {
    sweep: {
      id: SWEEP_ID,
      job_id: "0190a000-0000-7000-8000-0000000000c2",
      status: "SUCCEEDED",
      progress_pct: 100,
      symbol: "ES",
      timeframe: "5m",
      strategy_kind: "sma_crossover",
      from: "2026-11-02T00:00:00Z",
      to: "2026-11-21T00:00:00Z",
      mode: "grid",
      objective: "net_pnl",
      combinations: 3,
      skipped: 1,
      backtests: 6,
      space: [["fast", [5, 10]], ["slow", [20, 40]]],
      walk_forward: { folds: 2, out_of_sample_pct: 25 },
      created_at: "2026-12-02T14:00:00Z",
      base_params: {},
    },
    children: { total: 6, succeeded: 6, running: 0, queued: 0, failed: 0, timed_out: 0, cancelled: 0 },
    ranking: sort === "oos_net_pnl" ? [rows[1], rows[0], rows[2]] : rows,
    sort: sort,
    descending: true,
    walk_forward: [{ fold: 0, params: { fast: 5, slow: 20 }, in_sample: fig("500.00", 5), out_of_sample: fig("-60.00", 2), in_sample_backtest_id: "0190a000-0000-7000-8000-0000000000d1", out_of_sample_backtest_id: "0190a000-0000-7000-8000-0000000000d2" }],
    walk_forward_out_of_sample: fig("-60.00", 2),
  };
}

describe("SweepPage", () => {
  it("shows out-of-sample beside in-sample, re-sorts on the server, and maps either window on the heatmap", async () => {
    const sorts: (string | null)[] = [];
    server.use(
      meHandler("viewer"),
      http.get(`*/api/backtests/sweeps/${SWEEP_ID}`, ({ request }) => {
        const sort = new URL(request.url).searchParams.get("sort");
        sorts.push(sort);
        return HttpResponse.json(ok(view(sort ?? "net_pnl")));
      }),
    );
    const user = userEvent.setup({ delay: null });
    renderWithApp(<SweepDetail id={SWEEP_ID} />, { path: `/lab/sweeps/${SWEEP_ID}` });
    const ranking = await screen.findByRole("table", { name: "Sweep ranking" });
    expect(within(ranking).getAllByText("in-sample")).toHaveLength(5);
    expect(within(ranking).getAllByText("out-of-sample")).toHaveLength(5);
    const first = within(ranking).getAllByTestId("ranking-row")[0]!;
    expect(first).toHaveTextContent("fast=5, slow=20");
    // Net PnL in-sample, then out-of-sample, side by side.
    expect(first).toHaveTextContent(/\+\$900\.00\s*−\$120\.50/);
    expect(screen.getByTestId("sweep-summary")).toHaveTextContent("1 skipped as invalid");

    await user.selectOptions(screen.getByLabelText("Sort by"), "oos_net_pnl");
    await screen.findByText("fast=10, slow=20", { selector: "[data-testid=ranking-row]:first-child td" });
    expect(sorts).toContain("oos_net_pnl");

    const heatmap = screen.getByTestId("sweep-heatmap");
    expect(within(heatmap).getByRole("link", { name: "fast=5, slow=20: Net PnL +$900.00" })).toHaveAttribute("href", "/lab/backtests/0190a000-0000-7000-8000-0000000000d1");
    // fast=10, slow=40 was never run (invalid): a hatched cell saying so.
    expect(within(heatmap).getByTitle(/fast=10, slow=40: not run/)).toHaveTextContent("—");
    await user.selectOptions(screen.getByLabelText("Window"), "out_of_sample");
    expect(within(heatmap).getByRole("link", { name: "fast=5, slow=20: Net PnL −$120.50" })).toBeInTheDocument();
    expect(within(heatmap).getByTitle(/fast=5, slow=40: no figure/)).toBeInTheDocument();

    const folds = screen.getByRole("table", { name: "Walk-forward folds" });
    expect(folds).toHaveTextContent("fast=5, slow=20");
    expect(folds).toHaveTextContent("Out of sample over every fold");
    // A viewer may not cancel: the reason is on the button.
    expect(screen.getByRole("button", { name: "Cancel sweep" })).toBeDisabled();
  });
});
