import { describe, expect, it, vi } from "vitest";
import { screen, waitFor } from "@testing-library/react";
import { http, HttpResponse } from "msw";
import { server } from "../../test/server";
import { ok, renderWithApp } from "../../test/render";
import { meHandler } from "../bots/fixtures.test-util";
import { fakeStreams } from "../events/FakeEventSource";
import { isJobStreamLive } from "../../queries/lab";
import { LabPage } from "./LabPage";

vi.setConfig({ testTimeout: 20_000 });

const JOB_ID = "0190a000-0000-7000-8000-0000000000b2";
const BACKTEST_ID = "0190a000-0000-7000-8000-0000000000b1";

function row(status: string, progress: number) {
  return {
    id: BACKTEST_ID,
    job_id: JOB_ID,
    bot_id: null,
    status,
    progress_pct: progress,
    created_at: "2026-12-04T09:30:00Z",
    from: "2026-11-16T00:00:00Z",
    to: "2026-11-21T00:00:00Z",
    symbol: "ES",
    timeframe: "1m",
    strategy_kind: "sma_crossover",
    strategy_params: { fast: 5, slow: 20 },
    strategy_hash: "s",
    inputs_hash: "i",
    commission_per_side: "2.25",
    slippage_ticks: 1,
    starting_capital: "100000",
    risk_limits: {},
    metrics: status === "SUCCEEDED" ? { net_pnl: "1234.50", trades: 7 } : null,
  };
}

const progressOf = () => screen.getByRole("progressbar", { name: `Progress of job ${JOB_ID}` });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));


describe("LabPage live progress", () => {
  it("moves progress on the stream's job events without polling, and polls only while the stream is down", async () => {
    let listFetches = 0;
    let stored = row("RUNNING", 10);
    server.use(
      meHandler("operator"),
      http.get("*/api/backtests", () => {
        listFetches += 1;
        return HttpResponse.json(ok({ items: [stored], next_cursor: null }));
      }),
      http.get("*/api/backtests/sweeps", () => HttpResponse.json(ok({ items: [], next_cursor: null }))),
    );
    const streams = fakeStreams();
    const view = renderWithApp(<LabPage eventSourceFactory={streams.factory} />, { path: "/lab" });
    await waitFor(() => expect(progressOf().getAttribute("aria-valuenow")).toBe("10"));
    expect(streams.latest().url).toBe("/api/events/stream?kinds=job");

    streams.latest().open();
    await sleep(300);
    const afterOpen = listFetches;
    // A job event moves the bar, from the event alone (no request).
    streams.latest().emit("job", { job_id: JOB_ID, kind: "backtest", status: "RUNNING", progress_pct: 55, reason_code: null, error_code: null, bot_id: null }, "7");
    await waitFor(() => expect(progressOf().getAttribute("aria-valuenow")).toBe("55"));
    // Events about other jobs and malformed ones change nothing.
    streams.latest().emit("job", { job_id: "0190a000-0000-7000-8000-0000000000ff", status: "RUNNING", progress_pct: 99 }, "8");
    streams.latest().emit("job", "not json", "9");
    await sleep(100);
    expect(progressOf().getAttribute("aria-valuenow")).toBe("55");
    // Live: no 2 s progress poll.
    await sleep(2_600);
    expect(listFetches).toBe(afterOpen);

    // The stream drops: the list catches up at once and polls again while the run is active.
    streams.latest().fail();
    await waitFor(() => expect(listFetches).toBeGreaterThan(afterOpen));
    const afterFail = listFetches;
    await waitFor(() => expect(listFetches).toBeGreaterThan(afterFail), { timeout: 4_000 });

    // Back live: the run's end arrives as an event, and its results are fetched.
    streams.latest().open();
    stored = row("SUCCEEDED", 100);
    const beforeEnd = listFetches;
    streams.latest().emit("job", { job_id: JOB_ID, kind: "backtest", status: "SUCCEEDED", progress_pct: 100, reason_code: "COMPLETED" }, "10");
    await waitFor(() => expect(progressOf().getAttribute("aria-valuenow")).toBe("100"));
    await waitFor(() => expect(listFetches).toBeGreaterThan(beforeEnd));
    await waitFor(() => expect(screen.getByTitle("1234.50 USD")).toBeTruthy());

    expect(isJobStreamLive()).toBe(true);
    view.unmount();
    expect(streams.latest().closed).toBe(true);
    expect(isJobStreamLive()).toBe(false);
  });

  it("a run that ends while its first read is in flight is read again: the page does not stay RUNNING", async () => {
    let stored = row("RUNNING", 10);
    let reads = 0;
    server.use(
      meHandler("operator"),
      http.get("*/api/backtests", async () => {
        // The answer is the run as it was when the request came (then a slow server).
        const at = stored;
        reads += 1;
        await sleep(400);
        return HttpResponse.json(ok({ items: [at], next_cursor: null }));
      }),
      http.get("*/api/backtests/sweeps", () => HttpResponse.json(ok({ items: [], next_cursor: null }))),
    );
    const streams = fakeStreams();
    renderWithApp(<LabPage eventSourceFactory={streams.factory} />, { path: "/lab" });
    // Live before the list has answered; the run ends while its read is in flight.
    await waitFor(() => expect(streams.latest().url).toBe("/api/events/stream?kinds=job"));
    streams.latest().open();
    await waitFor(() => expect(reads).toBeGreaterThan(0));
    stored = row("SUCCEEDED", 100);
    streams.latest().emit("job", { job_id: JOB_ID, kind: "backtest", status: "SUCCEEDED", progress_pct: 100, reason_code: "COMPLETED" }, "3");
    // Well before the live safety poll (15 s): read again because of the event.
    await waitFor(() => expect(progressOf().getAttribute("aria-valuenow")).toBe("100"), { timeout: 4_000 });
    await waitFor(() => expect(screen.getByTitle("1234.50 USD")).toBeTruthy());
  });
});
