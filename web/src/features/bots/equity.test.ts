import { describe, expect, it } from "vitest";
import { equityOf } from "./equity";
import { trade } from "./fixtures.test-util";

const s = (iso: string) => Date.parse(iso) / 1000;

describe("equityOf", () => {
  it("cumulates net realized PnL of closed trades in closing order, from 0", () => {
    const e = equityOf([
      // newest first, as the API pages them
      trade({ id: "c", opened_at: "2026-11-26T12:00:00Z", closed_at: "2026-11-26T12:10:00Z", realized_pnl: "-60.00", commission: "4.50" }),
      trade({ id: "open", opened_at: "2026-11-26T12:20:00Z", closed_at: null, realized_pnl: null }),
      trade({ id: "a", opened_at: "2026-11-26T10:00:00Z", closed_at: "2026-11-26T10:05:00Z", realized_pnl: "100.00", commission: "4.50" }),
    ]);
    expect(e.points).toEqual([
      { time: s("2026-11-26T10:00:00Z"), value: 0 },
      { time: s("2026-11-26T10:05:00Z"), value: 95.5 },
      { time: s("2026-11-26T12:10:00Z"), value: 31 },
    ]);
    expect(e).toMatchObject({ closed: 2, open: 1, total: 31, gross: 40, commission: 9 });
  });

  it("merges trades closing in the same second into one point", () => {
    const e = equityOf([
      trade({ id: "a", closed_at: "2026-11-26T10:05:00.200Z", realized_pnl: "10", commission: "0" }),
      trade({ id: "b", closed_at: "2026-11-26T10:05:00.700Z", realized_pnl: "15", commission: "0" }),
    ]);
    expect(e.points.map((p) => p.value)).toEqual([0, 25]);
    expect(new Set(e.points.map((p) => p.time)).size).toBe(e.points.length);
  });

  it("has no points and no total when nothing closed", () => {
    expect(equityOf([])).toMatchObject({ points: [], total: null, open: 0 });
    expect(equityOf([trade({ closed_at: null, realized_pnl: null })])).toMatchObject({ points: [], total: null, open: 1 });
  });
});
