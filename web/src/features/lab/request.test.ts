import { describe, expect, it } from "vitest";
import { buildRequest, initialForm, numberList, serverFieldError, type LabForm } from "./request";

const NOW = Date.parse("2026-11-25T10:00:00Z");
const form = (over: Partial<LabForm> = {}): LabForm => ({ ...initialForm(NOW), fromDay: "2026-11-16", toDay: "2026-11-20", ...over });

describe("the New backtest form's request", () => {
  it("starts on the last two weeks of whole UTC days", () => {
    const f = initialForm(NOW);
    expect([f.fromDay, f.toDay]).toEqual(["2026-11-11", "2026-11-24"]);
  });
  it("builds a strategy backtest over whole UTC days (to exclusive)", () => {
    const built = buildRequest(form({ dailyLossLimit: "50000" }));
    expect(built).toEqual({
      kind: "backtest",
      body: {
        from: "2026-11-16T00:00:00Z",
        to: "2026-11-21T00:00:00Z",
        fill: { slippage_ticks: 1, commission_per_side: "2.25" },
        starting_capital: "100000",
        risk: { daily_loss_limit: "50000" },
        strategy: { kind: "sma_crossover", params: { fast: 10, slow: 30, average: "sma" } },
        symbol: "ES",
        timeframe: "5m",
      },
    });
  });
  it("builds a bot backtest without strategy, symbol or timeframe", () => {
    const built = buildRequest(form({ source: "bot", botId: "0193ab12-0000-7000-8000-000000000001" }));
    expect(built.kind).toBe("backtest");
    if (built.kind !== "backtest") return;
    expect(built.body.bot_id).toBe("0193ab12-0000-7000-8000-000000000001");
    expect(built.body.strategy).toBeUndefined();
    expect(built.body.symbol).toBeUndefined();
  });
  it("names each field it refuses", () => {
    const built = buildRequest(form({ toDay: "2026-11-01", commission: "two", slippageTicks: "1.5", params: { fast: "x", slow: "30" }, capital: "" }));
    expect(built).toEqual({
      kind: "invalid",
      errors: {
        to: "must not be before the first day",
        "fill.slippage_ticks": "must be a whole number of ticks (0–100)",
        "fill.commission_per_side": "must be an amount in USD, e.g. 2.25",
        starting_capital: "must be an amount in USD, e.g. 100000",
        "strategy.params.fast": "must be a number",
      },
    });
    expect(buildRequest(form({ source: "bot", botId: "nope" }))).toMatchObject({ kind: "invalid", errors: { bot_id: "choose a bot" } });
  });
  it("builds a sweep: lists are swept, single values fixed, walk-forward optional", () => {
    const built = buildRequest(form({ sweep: true, params: { fast: "5, 10", slow: "20,30,40" }, folds: "3", oosPct: "20", objective: "sharpe" }));
    expect(built.kind).toBe("sweep");
    if (built.kind !== "sweep") return;
    expect(built.body.params).toEqual({ fast: { values: [5, 10] }, slow: { values: [20, 30, 40] } });
    expect(built.body.strategy).toEqual({ kind: "sma_crossover", params: { fast: 5, slow: 20, average: "sma" } });
    expect(built.body.walk_forward).toEqual({ folds: 3, out_of_sample_pct: 20 });
    expect(built.body.objective).toBe("sharpe");
    expect(built.body.samples).toBeUndefined();
    const fixedOnly = buildRequest(form({ sweep: true, params: { fast: "5", slow: "20" } }));
    expect(fixedOnly).toMatchObject({ kind: "invalid", errors: { params: expect.stringMatching(/two or more values/) } });
    expect(buildRequest(form({ sweep: true, params: { fast: "5", slow: "20, 30" }, folds: "30" }))).toMatchObject({ kind: "invalid", errors: { "walk_forward.folds": expect.any(String) } });
  });
  it("reads number lists", () => {
    expect(numberList(" 5, 10 ,20,")).toEqual([5, 10, 20]);
    expect(numberList("5, x")).toBeNull();
    expect(numberList("")).toBeNull();
  });
  it("maps the server's field onto the form's inputs", () => {
    expect(serverFieldError({ field: "params.fast.max", problem: "is above 1000" }, "m")).toEqual({ field: "params.fast", problem: "is above 1000" });
    expect(serverFieldError({ field: "from" }, "No bars before 2010")).toEqual({ field: "from", problem: "No bars before 2010" });
    expect(serverFieldError(null, "m")).toBeNull();
  });
});
