import { describe, expect, it } from "vitest";
import { cellScore, figureValue, heatmapOf, paramsLabel, parseRanking, parseSpace } from "./sweep";

const fig = (net: string, pf: number | null = 1.5) => ({ net_pnl: net, profit_factor: pf, trades: 4, max_drawdown_pct: 1.25, sharpe: null });

const RANKING = [
  { params: { fast: 5, slow: 20 }, in_sample: fig("300.00"), out_of_sample: fig("-50.00"), backtest_ids: ["a", "b"] },
  { params: { fast: 10, slow: 20 }, in_sample: fig("-120.50", null), out_of_sample: null, backtest_ids: ["c"] },
  { params: { fast: 5, slow: 30 }, in_sample: null, out_of_sample: null, backtest_ids: ["d"] },
  "garbage",
  { nothing: true },
];

describe("sweep ranking", () => {
  it("reads rows defensively and keeps the server's order", () => {
    const rows = parseRanking(RANKING);
    expect(rows).toHaveLength(3);
    expect(rows[0]!.backtest_ids).toEqual(["a", "b"]);
    expect(figureValue(rows[0]!.in_sample, "net_pnl")).toBe(300);
    expect(figureValue(rows[0]!.out_of_sample, "net_pnl")).toBe(-50);
    expect(figureValue(rows[1]!.in_sample, "profit_factor")).toBeNull();
    expect(figureValue(rows[2]!.in_sample, "trades")).toBeNull();
    expect(parseRanking(null)).toEqual([]);
    expect(paramsLabel(rows[0]!.params)).toBe("fast=5, slow=20");
  });
  it("reads the space", () => {
    expect(parseSpace([["fast", [5, 10]], ["slow", [20, 30]], ["bad"]])).toEqual([
      { name: "fast", values: [5, 10] },
      { name: "slow", values: [20, 30] },
    ]);
  });
});

describe("heatmap", () => {
  const space = parseSpace([["fast", [5, 10]], ["slow", [20, 30]]]);
  it("lays the figure out on x = first axis, y = second, null where no figure", () => {
    const h = heatmapOf(space, parseRanking(RANKING), "net_pnl", "in_sample")!;
    expect(h.x.name).toBe("fast");
    expect(h.y.name).toBe("slow");
    expect(h.cells).toEqual([
      [300, -120.5],
      [null, null],
    ]);
    expect(h.rows[0]![1]!.backtest_ids).toEqual(["c"]);
    expect(h.rows[1]![1]).toBeNull();
    expect([h.min, h.max]).toEqual([-120.5, 300]);
  });
  it("reads the out-of-sample window when asked", () => {
    const h = heatmapOf(space, parseRanking(RANKING), "net_pnl", "out_of_sample")!;
    expect(h.cells[0]).toEqual([-50, null]);
  });
  it("exists only for exactly two axes", () => {
    expect(heatmapOf(space.slice(0, 1), [], "net_pnl", "in_sample")).toBeNull();
    expect(heatmapOf([...space, { name: "x", values: [1] }], [], "net_pnl", "in_sample")).toBeNull();
  });
  it("scores PnL around zero and other figures from worst to best", () => {
    expect(cellScore(300, -120.5, 300, "net_pnl")).toBe(1);
    expect(cellScore(-150, -150, 300, "net_pnl")).toBe(-0.5);
    expect(cellScore(0, -150, 300, "net_pnl")).toBe(0);
    expect(cellScore(2, 1, 3, "profit_factor")).toBe(0);
    expect(cellScore(3, 1, 3, "profit_factor")).toBe(1);
    expect(cellScore(1, 1, 3, "max_drawdown_pct")).toBe(1);
    expect(cellScore(3, 1, 3, "max_drawdown_pct")).toBe(-1);
    expect(cellScore(5, 5, 5, "trades")).toBe(0);
  });
});
