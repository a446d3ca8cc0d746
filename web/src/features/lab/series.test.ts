import { describe, expect, it } from "vitest";
import { alignSteps, candleOf, curveOf, tradeMarkers } from "./series";

const T0 = Date.parse("2026-11-16T15:00:00Z") / 1000;

describe("curves", () => {
  it("reads [{ts, field}] as sorted points, decimals parsed, bad points dropped", () => {
    const raw = [
      { ts: "2026-11-16T15:05:00Z", equity: "100010.5" },
      { ts: "2026-11-16T15:00:00Z", equity: "100000" },
      { ts: "nope", equity: "1" },
      { ts: "2026-11-16T15:10:00Z", equity: null },
      { ts: "2026-11-16T15:05:00Z", equity: "100011" },
    ];
    expect(curveOf(raw, "equity")).toEqual([
      { time: T0, value: 100000 },
      { time: T0 + 300, value: 100011 },
    ]);
    expect(curveOf([{ ts: "2026-11-16T15:00:00Z", drawdown_pct: 1.5 }], "drawdown_pct")).toEqual([{ time: T0, value: 1.5 }]);
    expect(curveOf(undefined, "equity")).toEqual([]);
  });
  it("aligns step series on the union of times, null outside each run", () => {
    const a = [
      { time: 10, value: 1 },
      { time: 30, value: 3 },
    ];
    const b = [
      { time: 20, value: 7 },
      { time: 40, value: 8 },
    ];
    expect(alignSteps([a, b])).toEqual({
      xs: [10, 20, 30, 40],
      values: [
        [1, 1, 3, null],
        [null, 7, 7, 8],
      ],
    });
  });
});

describe("markers", () => {
  const starts = [T0, T0 + 3600, T0 + 7200];
  it("finds the candle that holds a time", () => {
    expect(candleOf(starts, T0 - 1)).toBeNull();
    expect(candleOf(starts, T0)).toBe(T0);
    expect(candleOf(starts, T0 + 3599)).toBe(T0);
    expect(candleOf(starts, T0 + 99999)).toBe(T0 + 7200);
  });
  it("puts entries and exits on their candles, sorted", () => {
    const m = tradeMarkers(
      [
        { seq: 2, side: "SHORT", entry_ts: "2026-11-16T17:10:00Z", exit_ts: "2026-11-16T17:30:00Z", entry_price: "6010", exit_price: "6000", net_pnl: "495.50" },
        { seq: 1, side: "LONG", entry_ts: "2026-11-16T15:10:00Z", exit_ts: "2026-11-16T16:30:00Z", entry_price: "6000", exit_price: "6001", net_pnl: "45.50" },
      ],
      starts,
    );
    expect(m.map((x) => [x.time - T0, x.kind, x.side])).toEqual([
      [0, "entry", "LONG"],
      [3600, "exit", "LONG"],
      [7200, "entry", "SHORT"],
      [7200, "exit", "SHORT"],
    ]);
    expect(m[0]!.text).toBe("#1 buy 6000");
  });
});
