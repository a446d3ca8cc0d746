import { describe, expect, it, vi } from "vitest";
import { screen, within } from "@testing-library/react";
import { http, HttpResponse } from "msw";
import { server } from "../../test/server";
import { ok, renderWithApp } from "../../test/render";
import { compareIds, ComparePage } from "./ComparePage";

vi.setConfig({ testTimeout: 20_000 });

const A = "0190a000-0000-7000-8000-0000000000a1";
const B = "0190a000-0000-7000-8000-0000000000a2";

function run(id: string, net: string, commissions: string, kind: string) {
  return {
    backtest: {
      id,
      job_id: `${id.slice(0, -2)}ff`,
      status: "SUCCEEDED",
      progress_pct: 100,
      symbol: "ES",
      timeframe: "5m",
      strategy_kind: kind,
      strategy_params: {},
      from: "2026-11-16T00:00:00Z",
      to: "2026-11-21T00:00:00Z",
      slippage_ticks: 1,
      commission_per_side: "2.25",
      starting_capital: "100000",
      created_at: "2026-12-02T14:00:00Z",
      equity_curve: [
        { ts: "2026-11-16T01:00:00Z", equity: "100000" },
        { ts: "2026-11-20T21:00:00Z", equity: String(100000 + Number(net)) },
      ],
      metrics: {
        starting_capital: "100000",
        ending_equity: String(100000 + Number(net)),
        net_pnl: net,
        gross_pnl: net,
        commissions,
        trades: 10,
        winning_trades: 5,
        losing_trades: 5,
        win_rate_pct: 50,
        profit_factor: 1.2,
        avg_trade: "1.00",
        sharpe: null,
        sortino: null,
        trading_days: 5,
        max_drawdown: "100",
        max_drawdown_pct: 0.1,
        exposure_pct: 50,
        longest_flat_seconds: 3600,
      },
    },
    trades: [],
  };
}

describe("ComparePage", () => {
  it("reads 2–4 unique ids", () => {
    expect(compareIds(`${A},${B},${A}, ,x,y,z`)).toEqual([A, B, "x", "y"]);
    expect(compareIds(undefined)).toEqual([]);
  });

  it("puts every metric side by side and marks only a strict best", async () => {
    server.use(
      http.get(`*/api/backtests/${A}`, () => HttpResponse.json(ok(run(A, "250.00", "45.00", "sma_crossover")))),
      http.get(`*/api/backtests/${B}`, () => HttpResponse.json(ok(run(B, "-75.50", "22.50", "donchian_breakout")))),
    );
    renderWithApp(<ComparePage />, { path: `/lab/compare?ids=${A},${B}` });
    expect(await screen.findByRole("heading", { name: "Compare 2 backtests" })).toBeInTheDocument();
    const net = await screen.findByTestId("compare-net_pnl");
    await within(net).findByText("−$75.50");
    const cells = within(net).getAllByRole("cell");
    expect(cells).toHaveLength(2);
    const [first, second] = cells;
    expect(first).toHaveTextContent("+$250.00 (best)");
    expect(second).toHaveTextContent("−$75.50");
    expect(second).not.toHaveTextContent("best");
    // Lower commissions are better; equal trade counts mark nothing.
    expect(within(screen.getByTestId("compare-commissions")).getAllByRole("cell")[1]).toHaveTextContent("$22.50 (best)");
    expect(screen.getByTestId("compare-win_rate_pct")).not.toHaveTextContent("best");
  });

  it("asks for two runs when fewer are named", async () => {
    renderWithApp(<ComparePage />, { path: `/lab/compare?ids=${A}` });
    expect(await screen.findByText("Pick 2 to 4 backtests")).toBeInTheDocument();
  });
});
