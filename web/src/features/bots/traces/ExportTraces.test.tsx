import { afterEach, describe, expect, it, vi } from "vitest";
import { screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { server } from "../../../test/server";
import { renderWithApp } from "../../../test/render";
import { TraceViewer } from "./index";
import { DECISION_COLUMNS, NO_TRADE_COLUMNS, tracesCsv } from "./csv";
import { BOT, decision, noTrade, pagedHandler, type Seen } from "./testFixtures";

vi.setConfig({ testTimeout: 60_000 });

const NOW = Date.now();
const MIN = 60_000;

function blobText(blob: Blob): Promise<string> {
  return new Promise((resolve) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result as string);
    reader.readAsText(blob);
  });
}

// jsdom has no Blob URLs: the test supplies them and puts back what was there.
const original = { create: URL.createObjectURL, revoke: URL.revokeObjectURL };
afterEach(() => {
  URL.createObjectURL = original.create;
  URL.revokeObjectURL = original.revoke;
  vi.restoreAllMocks();
});

function captureDownloads() {
  const blobs: Blob[] = [];
  URL.createObjectURL = vi.fn((b: Blob) => {
    blobs.push(b);
    return "blob:traces";
  });
  URL.revokeObjectURL = vi.fn();
  const names: string[] = [];
  vi.spyOn(HTMLAnchorElement.prototype, "click").mockImplementation(function (this: HTMLAnchorElement) {
    names.push(this.download);
  });
  return { blobs, names };
}

describe("tracesCsv", () => {
  it("names every column, writes decimals as plain text and times as ISO UTC", () => {
    const d = decision(Date.parse("2026-12-04T13:00:00Z"), { confidence: 1e-7, expected_value: -12.345678901234567, created_at: "2026-12-04T14:00:00.123456+01:00" });
    const [header, row] = tracesCsv("decision", [d]).split("\r\n");
    expect(header).toBe(DECISION_COLUMNS.map((c) => c.header).join(","));
    expect(header).toContain("created_at_utc,decision_type,reason_code,reason,confidence,expected_value_usd");
    expect(row).toContain(",2026-12-04T13:00:00.123Z,ENTRY,SMA_CROSS_UP,Fast SMA crossed above slow SMA,0.0000001,-12.345678901234567,");
    // Nested snapshots are one quoted JSON cell each.
    expect(row).toContain(`"{""fast_sma"":5012.25,""slow_sma"":5010.5}"`);
  });

  it("lists a suppression's blockers, fold count and first/last seen", () => {
    const t = noTrade(Date.parse("2026-12-04T13:00:00Z"), {
      last_seen_at: "2026-12-04T13:05:00Z",
      count: 6,
      blocked_by: [
        { gate: "market_hours", code: "MARKET_CLOSED", reason_human: "closed", suggested_fix: "Wait, then retry" },
        { gate: "risk", code: "DAILY_LOSS_LIMIT", reason_human: "limit", suggested_fix: "Raise the limit" },
      ],
    });
    const lines = tracesCsv("no-trade", [t]).split("\r\n");
    expect(lines[0]).toBe(NO_TRADE_COLUMNS.map((c) => c.header).join(","));
    expect(lines[1]).toContain(",2026-12-04T13:00:00.000Z,2026-12-04T13:05:00Z,6,GATE_BLOCKED,ENTRY,MARKET_CLOSED,The market is closed,MARKET_CLOSED; DAILY_LOSS_LIMIT,market_hours; risk,Wait, then retry | Raise the limit,".replace("Wait, then retry | Raise the limit", '"Wait, then retry | Raise the limit"'));
    expect(lines).toHaveLength(3);
  });
});

describe("Export CSV of the traces list", () => {
  it("exports every trace the time filter selects, through all pages, not only the loaded one", async () => {
    // 620 suppressions in the last 24 h (every 2 minutes) and 40 older ones the filter leaves out.
    const recent = Array.from({ length: 620 }, (_, i) => noTrade(NOW - (i + 1) * 2 * MIN, { reason_code: `R${i}` }));
    const old = Array.from({ length: 40 }, (_, i) => noTrade(NOW - 3 * 24 * 60 * MIN - i * MIN, { reason_code: `OLD${i}` }));
    const seen: Seen = { urls: [] };
    server.use(pagedHandler("/api/bots/:id/no-trade-traces", [...recent, ...old], seen));
    const { blobs, names } = captureDownloads();
    const user = userEvent.setup({ delay: null });
    renderWithApp(<TraceViewer botId={BOT} kind="no-trade" botName="es sma" />, { path: "/?nt_range=24h" });
    await screen.findByText("R0");
    expect(screen.getByText(/25 no-trade traces in the last 24 h shown/)).toBeInTheDocument();
    seen.urls.length = 0;

    await user.click(screen.getByRole("button", { name: "Export no trade traces CSV" }));
    await waitFor(() => expect(screen.getByRole("status")).toHaveTextContent(/^620 rows exported to es_sma-no-trade-traces-\d{4}-\d{2}-\d{2}T\d{6}Z\.csv$/));
    // Two pages of 500, the filter's lower bound on each.
    expect(seen.urls.map((u) => [u.searchParams.get("limit"), u.searchParams.get("cursor")])).toEqual([
      ["500", null],
      ["500", "500"],
    ]);
    for (const u of seen.urls) expect(Date.parse(u.searchParams.get("from")!)).toBeLessThanOrEqual(NOW - 620 * 2 * MIN);
    expect(names).toHaveLength(1);
    const lines = (await blobText(blobs[0]!)).split("\r\n");
    expect(lines[0]).toBe(NO_TRADE_COLUMNS.map((c) => c.header).join(","));
    expect(lines).toHaveLength(622);
    const ids = new Set(lines.slice(1, -1).map((l) => l.split(",")[0]));
    expect(ids).toEqual(new Set(recent.map((t) => t.id)));
    expect(lines.some((l) => l.includes(",OLD"))).toBe(false);
    // Times are ISO UTC.
    expect(lines[1]!.split(",")[4]).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
  });

  it("exports all of them when the filter is All, and refuses an invalid filter", async () => {
    const all = [decision(NOW - MIN), decision(NOW - 40 * 24 * 60 * MIN)];
    server.use(pagedHandler("/api/bots/:id/decision-traces", all));
    const { blobs } = captureDownloads();
    const user = userEvent.setup({ delay: null });
    const { router } = renderWithApp(<TraceViewer botId={BOT} kind="decision" />, { path: "/" });
    await user.click(await screen.findByRole("button", { name: "Export decision traces CSV" }));
    await waitFor(() => expect(screen.getByRole("status")).toHaveTextContent(/^2 rows exported to /));
    expect((await blobText(blobs[0]!)).split("\r\n")).toHaveLength(4);

    await router.navigate({ to: "/", search: { dt_range: "custom", dt_from: "2026-12-05T00:00", dt_to: "2026-12-04T00:00" } as never });
    await waitFor(() => expect(screen.getByRole("button", { name: "Export decision traces CSV" })).toBeDisabled());
    expect(screen.getByRole("button", { name: "Export decision traces CSV" })).toHaveAttribute("data-disabled-reason", expect.stringMatching(/^The time filter is invalid: /));
  });
});
