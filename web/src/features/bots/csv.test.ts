import { describe, expect, it } from "vitest";
import { csvFileName, tradesCsv } from "./csv";
import { trade } from "./fixtures.test-util";

describe("tradesCsv", () => {
  it("writes a header and one record per trade with the API's exact decimals, open trades with empty exit fields", () => {
    const text = tradesCsv([
      trade(),
      trade({ id: "t2", exit_price: null, realized_pnl: null, closed_at: null, side: "SHORT", quantity: 2, run_id: "r,1" }),
    ]);
    const lines = text.split("\r\n");
    expect(lines[0]).toBe(
      "id,bot_id,symbol,stage,side,quantity_contracts,entry_price,exit_price,realized_pnl_gross_usd,commission_usd,opened_at_utc,closed_at_utc,run_id",
    );
    expect(lines[1]).toBe(
      "0190a000-0000-7000-8000-0000000000c1,0190a000-0000-7000-8000-000000000001,ES,PAPER,LONG,1,6000.00,6002.00,100.00,4.50,2026-11-26T10:00:00Z,2026-11-26T10:05:00Z,",
    );
    expect(lines[2]).toBe('t2,0190a000-0000-7000-8000-000000000001,ES,PAPER,SHORT,2,6000.00,,,4.50,2026-11-26T10:00:00Z,,"r,1"');
    expect(lines[3]).toBe("");
    expect(lines).toHaveLength(4);
  });

  it("writes only the header for a bot without trades", () => {
    expect(tradesCsv([]).split("\r\n")).toHaveLength(2);
  });
});

describe("csvFileName", () => {
  it("keeps the name's safe characters and stamps the UTC time", () => {
    expect(csvFileName("es sma/paper", "trades", new Date("2026-12-04T03:10:05.123Z"))).toBe("es_sma_paper-trades-2026-12-04T031005Z.csv");
    expect(csvFileName("///", "trades", new Date("2026-12-04T03:10:05Z"))).toBe("bot-trades-2026-12-04T031005Z.csv");
  });
});
