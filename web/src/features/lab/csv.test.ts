import { describe, expect, it } from "vitest";
import { csvField, csvFileName, tradesCsv, type BacktestTrade } from "./csv";

const trade = (seq: number, net: string): BacktestTrade => ({
  seq,
  side: seq % 2 ? "LONG" : "SHORT",
  qty: 1,
  entry_ts: "2026-11-16T15:00:00Z",
  entry_price: "6012.25",
  exit_ts: "2026-11-16T16:05:00Z",
  exit_price: "6015.00",
  gross_pnl: "137.50",
  commission: "4.50",
  net_pnl: net,
});

describe("trades CSV", () => {
  it("quotes only what must be quoted", () => {
    expect(csvField("plain")).toBe("plain");
    expect(csvField("a,b")).toBe('"a,b"');
    expect(csvField('say "hi"')).toBe('"say ""hi"""');
    expect(csvField("two\nlines")).toBe('"two\nlines"');
    expect(csvField(null)).toBe("");
    expect(csvField(3)).toBe("3");
  });
  it("writes a header and one row per trade with the exact decimals", () => {
    const text = tradesCsv([trade(1, "133.00"), trade(2, "-0.10")]);
    const lines = text.split("\r\n");
    expect(lines[0]).toBe("seq,side,qty,entry_ts,entry_price,exit_ts,exit_price,gross_pnl,commission,net_pnl");
    expect(lines[1]).toBe("1,LONG,1,2026-11-16T15:00:00Z,6012.25,2026-11-16T16:05:00Z,6015.00,137.50,4.50,133.00");
    expect(lines[2]).toBe("2,SHORT,1,2026-11-16T15:00:00Z,6012.25,2026-11-16T16:05:00Z,6015.00,137.50,4.50,-0.10");
    expect(lines[3]).toBe("");
    expect(tradesCsv([]).split("\r\n")).toHaveLength(2);
  });
  it("names the file after the run", () => {
    expect(csvFileName({ id: "0193ab12-0000-7000-8000-000000000000", symbol: "ES", timeframe: "5m" })).toBe("backtest-0193ab12-ES-5m-trades.csv");
  });
});
