import { describe, expect, it } from "vitest";
import { bestIndex, compactMoney, count, duration, metricCells, metricsOf, money, pct, ratio, signedMoney, type Metrics } from "./format";

const METRICS: Metrics = {
  starting_capital: "100000",
  ending_equity: "101234.5",
  net_pnl: "1234.50",
  gross_pnl: "1279.50",
  commissions: "45.00",
  trades: 10,
  winning_trades: 6,
  losing_trades: 4,
  win_rate_pct: 60,
  profit_factor: 1.876543,
  avg_trade: "123.45",
  sharpe: 1.2345678,
  sortino: null,
  trading_days: 5,
  max_drawdown: "512.25",
  max_drawdown_pct: 0.5064,
  exposure_pct: 36.363636,
  longest_flat_seconds: 93_600,
};

describe("figures with units", () => {
  it("formats money, percentages, ratios and counts", () => {
    expect(money("100000")).toBe("$100,000.00");
    expect(money(null)).toBe("—");
    expect(signedMoney("-3")).toBe("−$3.00");
    expect(signedMoney("12.5")).toBe("+$12.50");
    expect(pct(36.363636)).toBe("36.4 %");
    expect(pct(null)).toBe("—");
    expect(ratio(1.876543)).toBe("1.88");
    expect(ratio(Number.POSITIVE_INFINITY)).toBe("—");
    expect(count(1234567)).toBe("1,234,567");
    expect(compactMoney(95_234.5)).toBe("$95.2k");
    expect(compactMoney(-1_050_000)).toBe("−$1.05M");
    expect(compactMoney(950.5)).toBe("$950.5");
  });
  it("formats durations in d/h/min/s", () => {
    expect(duration(30)).toBe("30 s");
    expect(duration(45 * 60)).toBe("45 min");
    expect(duration(2 * 3600 + 5 * 60)).toBe("2 h 5 min");
    expect(duration(3 * 3600)).toBe("3 h");
    expect(duration(93_600)).toBe("1 d 2 h");
    expect(duration(-1)).toBe("—");
  });
  it("builds every metric card with its unit and the exact value as the title", () => {
    const cells = metricCells(METRICS);
    const by = Object.fromEntries(cells.map((c) => [c.key, c]));
    expect(cells).toHaveLength(14);
    expect(by.net_pnl!.text).toBe("+$1,234.50");
    expect(by.net_pnl!.tone).toBe("gain");
    expect(by.net_pnl!.title).toContain("1234.50 USD");
    expect(by.win_rate_pct!.text).toBe("60.0 %");
    expect(by.profit_factor!.text).toBe("1.88");
    expect(by.profit_factor!.title).toContain("1.876543");
    expect(by.sortino!.text).toBe("—");
    expect(by.sortino!.title).toMatch(/no losing day/);
    expect(by.max_drawdown_pct!.text).toBe("0.51 %");
    expect(by.longest_flat_seconds!.text).toBe("1 d 2 h");
    for (const c of cells) expect(c.text).not.toMatch(/\d\.\d{5,}/);
  });
  it("reads metrics only when they are there", () => {
    expect(metricsOf(null)).toBeNull();
    expect(metricsOf({ net_pnl: 3 })).toBeNull();
    expect(metricsOf(METRICS)?.trades).toBe(10);
  });
  it("picks the best of several runs, none on a tie or without two figures", () => {
    expect(bestIndex([1, 3, 2], true)).toBe(1);
    expect(bestIndex([1, 3, 2], false)).toBe(0);
    expect(bestIndex([3, 3, 2], true)).toBeNull();
    expect(bestIndex([null, 3], true)).toBeNull();
    expect(bestIndex([1, 2], null)).toBeNull();
  });
});
