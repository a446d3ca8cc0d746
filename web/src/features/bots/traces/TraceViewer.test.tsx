import { describe, expect, it } from "vitest";
import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { http, HttpResponse } from "msw";
import { server } from "../../../test/server";
import { apiError, renderWithApp } from "../../../test/render";
import { TraceViewer } from "./index";
import { BOT, decision, decisionById, noTrade, noTradeById, NOT_FOUND_TRACE_ID, pagedHandler, trade, tradeById, type Seen } from "./testFixtures";

const DECISIONS = "/api/bots/:id/decision-traces";
const NO_TRADES = "/api/bots/:id/no-trade-traces";
const NOW = Date.now();

function rowsOf(kind: "decision" | "no-trade") {
  return within(screen.getByTestId(`trace-viewer-${kind}`)).queryAllByRole("listitem").filter((li) => li.hasAttribute("data-trace-row"));
}

describe("TraceViewer (decision)", () => {
  it("lists traces newest first and expands one into readable tables, its linked trade and raw JSON", async () => {
    const t = trade(NOW - 120_000);
    const older = decision(NOW - 120_000, { reason_human: "Older decision", reason_code: "OLDER" });
    const newest = decision(NOW - 60_000, {
      decision_type: "EXIT",
      reason_human: "Take profit",
      reason_code: "TAKE_PROFIT",
      trade_log_id: t.id,
      signals: { fast_sma: 5015.5, crossed: true } as never,
      risk_snapshot: { position: 2, execution: { kind: "AwaitingNextBar" } } as never,
    });
    const seen: Seen = { urls: [] };
    server.use(pagedHandler(DECISIONS, [older, newest]), tradeById([t], seen));
    const user = userEvent.setup();
    renderWithApp(<TraceViewer botId={BOT} kind="decision" />);

    await screen.findByText("Take profit");
    const rows = rowsOf("decision");
    expect(rows).toHaveLength(2);
    expect(rows[0]).toHaveTextContent("TAKE_PROFIT");
    expect(rows[1]).toHaveTextContent("OLDER");
    // Each trace shows its trace id.
    expect(rows[0]!.querySelector(`[data-trace-id="${newest.trace_id}"]`)).not.toBeNull();

    const toggle = within(rows[0]!).getByRole("button", { expanded: false, name: /Take profit/ });
    await user.click(toggle);
    expect(toggle).toHaveAttribute("aria-expanded", "true");
    const signals = within(rows[0]!).getByRole("table", { name: "Signals" });
    expect(within(signals).getByRole("rowheader", { name: "fast_sma" })).toBeInTheDocument();
    expect(signals).toHaveTextContent("5015.5");
    expect(signals).toHaveTextContent("true");
    // Nested objects become nested tables, not JSON text.
    const risk = within(rows[0]!).getByRole("table", { name: "Risk snapshot" });
    expect(within(risk).getByRole("rowheader", { name: "kind" })).toBeInTheDocument();
    expect(risk).toHaveTextContent("AwaitingNextBar");
    expect(rows[0]).toHaveTextContent("0.72 (72%)");
    expect(rows[0]).toHaveTextContent("12.5");

    // The linked trade, read by its id.
    const linked = await within(rows[0]!).findByTestId("linked-trade");
    expect(seen.urls.map((u) => u.pathname)).toEqual([`/api/bots/${BOT}/trades/${t.id}`]);
    expect(linked).toHaveTextContent(t.id);
    expect(linked).toHaveTextContent("LONG");
    expect(linked).toHaveTextContent("2 ES @ 5012.25");
    expect(linked).toHaveTextContent("5015.00");
    expect(linked).toHaveTextContent("PnL +$275.00");

    // Raw JSON is behind a toggle.
    expect(within(rows[0]!).queryByTestId("raw-json")).toBeNull();
    await user.click(within(rows[0]!).getByRole("button", { name: "Raw JSON" }));
    expect(within(rows[0]!).getByTestId("raw-json")).toHaveTextContent(`"reason_code": "TAKE_PROFIT"`);

    await user.click(toggle);
    expect(toggle).toHaveAttribute("aria-expanded", "false");
    expect(within(rows[0]!).queryByRole("table", { name: "Signals" })).toBeNull();
  });

  it("says a decision has no linked trade when trade_log_id is null", async () => {
    server.use(pagedHandler(DECISIONS, [decision(NOW - 1000)]));
    const user = userEvent.setup();
    renderWithApp(<TraceViewer botId={BOT} kind="decision" />);
    await user.click(await screen.findByRole("button", { expanded: false, name: /SMA_CROSS_UP/ }));
    expect(screen.getByText(/no fill booked for this decision/)).toBeInTheDocument();
  });

  it("says a linked trade that is not this bot's is not found for this bot, with the trace id", async () => {
    const theirs = trade(NOW - 60_000, { bot_id: "0190a0b0-0000-7000-8000-00000000b002" });
    server.use(pagedHandler(DECISIONS, [decision(NOW - 1000, { trade_log_id: theirs.id })]), tradeById([theirs]));
    const user = userEvent.setup();
    renderWithApp(<TraceViewer botId={BOT} kind="decision" />);
    await user.click(await screen.findByRole("button", { expanded: false, name: /SMA_CROSS_UP/ }));
    const note = await screen.findByTestId("not-found-for-bot");
    expect(note).toHaveTextContent(`Trade ${theirs.id} not found for this bot.`);
    expect(note).toHaveTextContent("TRADE_NOT_FOUND");
    expect(note.querySelector("[data-trace-id]")).toHaveAttribute("data-trace-id", NOT_FOUND_TRACE_ID);
    expect(screen.queryByTestId("linked-trade")).toBeNull();
  });

  it("shows a linked-trade read failure with its code", async () => {
    const t = trade(NOW - 60_000);
    server.use(
      pagedHandler(DECISIONS, [decision(NOW - 1000, { trade_log_id: t.id })]),
      http.get("*/api/bots/:id/trades/:ref", () => HttpResponse.json(apiError("DATABASE_UNAVAILABLE", "The database is unreachable."), { status: 503 })),
    );
    const user = userEvent.setup();
    renderWithApp(<TraceViewer botId={BOT} kind="decision" />);
    await user.click(await screen.findByRole("button", { expanded: false, name: /SMA_CROSS_UP/ }));
    expect(await screen.findByText(/DATABASE_UNAVAILABLE: The database is unreachable\./)).toBeInTheDocument();
  });

  it("pages with Load more until the end of history", async () => {
    const traces = Array.from({ length: 30 }, (_, i) => decision(NOW - i * 60_000, { reason_code: `CODE_${i}` }));
    const seen: Seen = { urls: [] };
    server.use(pagedHandler(DECISIONS, traces, seen));
    const user = userEvent.setup();
    renderWithApp(<TraceViewer botId={BOT} kind="decision" />);
    await screen.findByText("CODE_0");
    expect(rowsOf("decision")).toHaveLength(25);
    expect(screen.getByText(/25 decision traces shown, newest first/)).toBeInTheDocument();
    await user.click(screen.getByRole("button", { name: "Load more" }));
    await screen.findByText("CODE_29");
    expect(rowsOf("decision")).toHaveLength(30);
    expect(screen.queryByRole("button", { name: "Load more" })).toBeNull();
    expect(screen.getByText(/30 decision traces shown, newest first — that is all of them/)).toBeInTheDocument();
    expect(seen.urls.some((u) => u.searchParams.get("cursor") === "25")).toBe(true);
  });

  it("filters by a time preset: from is sent and the empty state says why", async () => {
    const seen: Seen = { urls: [] };
    server.use(pagedHandler(DECISIONS, [decision(NOW - 3 * 86_400_000)], seen));
    const user = userEvent.setup();
    renderWithApp(<TraceViewer botId={BOT} kind="decision" />);
    await screen.findByText("SMA_CROSS_UP");
    await user.click(screen.getByRole("button", { name: "24 h" }));
    const empty = await screen.findByText("No decision traces");
    expect(empty.parentElement).toHaveTextContent("in the last 24 h");
    expect(empty.parentElement).toHaveTextContent("Widen the time range");
    const last = seen.urls.at(-1)!;
    const from = Date.parse(last.searchParams.get("from")!);
    expect(Math.abs(from - (Date.now() - 86_400_000))).toBeLessThan(60_000);
    expect(screen.getByRole("button", { name: "24 h" })).toHaveAttribute("aria-pressed", "true");
  });

  it("refuses a custom range whose From is not before To without querying", async () => {
    const seen: Seen = { urls: [] };
    server.use(pagedHandler(DECISIONS, [], seen));
    renderWithApp(<TraceViewer botId={BOT} kind="decision" />, {
      path: "/bots/x?dt_range=custom&dt_from=2026-02-02T00:00:00Z&dt_to=2026-02-01T00:00:00Z",
    });
    expect(await screen.findByRole("alert")).toHaveTextContent("“From” must be earlier than “To”");
    expect(seen.urls).toHaveLength(0);
  });

  it("explains an empty history", async () => {
    server.use(pagedHandler(DECISIONS, []));
    renderWithApp(<TraceViewer botId={BOT} kind="decision" />);
    const empty = await screen.findByText("No decision traces");
    expect(empty.parentElement).toHaveTextContent("no evaluation decided to enter, exit or adjust");
  });

  it("shows a failure with its code, fix and trace id (degraded)", async () => {
    server.use(
      http.get(`*${DECISIONS}`, () =>
        HttpResponse.json(apiError("DATABASE_UNAVAILABLE", "The database is unreachable.", "4bf92f3577b34da6a3ce929d0e0e4736", "Check Postgres."), { status: 503 }),
      ),
    );
    renderWithApp(<TraceViewer botId={BOT} kind="decision" />);
    const alert = await screen.findByText(/DATABASE_UNAVAILABLE: The database is unreachable\./);
    const box = alert.closest("[role=alert]")!;
    expect(box).toHaveTextContent("Fix: Check Postgres.");
    expect(box.querySelector("[data-trace-id]")).toHaveAttribute("data-trace-id", "4bf92f3577b34da6a3ce929d0e0e4736");
  });

  it("keeps the last good traces with their age when a refetch fails", async () => {
    let fail = false;
    const t = decision(NOW - 1000, { reason_human: "Still here" });
    server.use(
      http.get(`*${DECISIONS}`, () =>
        fail
          ? HttpResponse.json(apiError("DATABASE_UNAVAILABLE", "down"), { status: 503 })
          : HttpResponse.json({ success: true, trace_id: "x", items: [t], next_cursor: null }),
      ),
    );
    const { client } = renderWithApp(<TraceViewer botId={BOT} kind="decision" />);
    await screen.findByText("Still here");
    fail = true;
    await client.refetchQueries({ queryKey: ["/api/bots/{id}/decision-traces"] });
    await waitFor(() => expect(screen.getAllByText("DATABASE_UNAVAILABLE").length).toBeGreaterThan(0));
    expect(screen.getByText("Still here")).toBeInTheDocument();
    expect(screen.getByText(/stale: last good/)).toBeInTheDocument();
  });

  it("shows a 403 as forbidden with its trace id", async () => {
    server.use(http.get(`*${DECISIONS}`, () => HttpResponse.json(apiError("FORBIDDEN", "Your role may not read this."), { status: 403 })));
    renderWithApp(<TraceViewer botId={BOT} kind="decision" />);
    const msg = await screen.findByText(/FORBIDDEN: Your role may not read this\./);
    expect(msg.closest("[role=alert]")!.querySelector("[data-trace-id]")).not.toBeNull();
    expect(screen.queryByText("No decision traces")).toBeNull();
  });
});

describe("TraceViewer (no-trade)", () => {
  it("shows folded suppressions with count, first/last seen and every blocking gate", async () => {
    const t = noTrade(NOW - 600_000, {
      count: 12,
      last_seen_at: new Date(NOW - 5_000).toISOString(),
      blocked_by: [
        { gate: "market_hours", code: "MARKET_CLOSED", reason_human: "Closed.", suggested_fix: "Wait." },
        { gate: "kill_switch", code: "KILL_SWITCH_ACTIVE", reason_human: "Kill switch on.", suggested_fix: "Turn it off." },
      ],
    });
    server.use(pagedHandler(NO_TRADES, [t]));
    const user = userEvent.setup();
    renderWithApp(<TraceViewer botId={BOT} kind="no-trade" />);
    await screen.findByText("×12");
    await user.click(screen.getByRole("button", { expanded: false, name: /MARKET_CLOSED/ }));
    const gates = screen.getAllByTestId("blocking-gate");
    expect(gates).toHaveLength(2);
    expect(gates[1]).toHaveTextContent("KILL_SWITCH_ACTIVE");
    expect(gates[1]).toHaveTextContent("Kill switch on.");
    expect(gates[1]).toHaveTextContent("Fix: Turn it off.");
    expect(screen.getByText("Evaluations").nextElementSibling).toHaveTextContent("12");
    expect(screen.getByText("First seen")).toBeInTheDocument();
    expect(screen.getByText("Last seen")).toBeInTheDocument();
  });
});

describe("TraceViewer deep link ?trace=", () => {
  it("expands and highlights a trace on the first page", async () => {
    const traces = [decision(NOW - 1000), decision(NOW - 2000, { reason_human: "The linked one" }), decision(NOW - 3000)];
    server.use(pagedHandler(DECISIONS, traces));
    renderWithApp(<TraceViewer botId={BOT} kind="decision" />, { path: `/bots/x?panel=traces&tab=decision&trace=${traces[1]!.id}` });
    const toggle = await screen.findByRole("button", { name: /The linked one/ });
    expect(toggle).toHaveAttribute("aria-expanded", "true");
    expect(toggle.closest("li")).toHaveAttribute("data-highlighted", "true");
    expect(screen.getAllByRole("button", { expanded: true })).toHaveLength(1);
  });

  it("matches a W3C trace id as well as a row id", async () => {
    const t = decision(NOW - 2000, { reason_human: "By trace id" });
    server.use(pagedHandler(DECISIONS, [decision(NOW - 1000), t]));
    renderWithApp(<TraceViewer botId={BOT} kind="decision" />, { path: `/bots/x?trace=${t.trace_id}` });
    expect(await screen.findByRole("button", { name: /By trace id/ })).toHaveAttribute("aria-expanded", "true");
  });

  it("reads a trace that is not on the loaded page by its id and shows it pinned", async () => {
    const traces = Array.from({ length: 60 }, (_, i) => decision(NOW - i * 3_600_000, { reason_human: `Decision ${i}` }));
    const target = traces[55]!;
    const list: Seen = { urls: [] };
    const byId: Seen = { urls: [] };
    server.use(pagedHandler(DECISIONS, traces, list), decisionById(traces, byId), noTradeById([]));
    renderWithApp(<TraceViewer botId={BOT} kind="decision" />, { path: `/bots/x?tab=decision&trace=${target.id}` });
    expect(await screen.findByText(/is not in the loaded range; it is shown on its own below/)).toBeInTheDocument();
    const pinned = screen.getByRole("list", { name: "Linked trace" });
    expect(within(pinned).getByRole("button", { name: /Decision 55/ })).toHaveAttribute("aria-expanded", "true");
    // One exact read; the list is read only for its first page (no search through history).
    expect(byId.urls.map((u) => u.pathname)).toEqual([`/api/bots/${BOT}/decision-traces/${target.id}`]);
    expect(list.urls.map((u) => u.searchParams.get("limit"))).toEqual(["25"]);
    expect(rowsOf("decision").filter((r) => r.closest("[aria-label='Linked trace']") === null)).toHaveLength(25);
  });

  it("reads a linked W3C trace id by id too", async () => {
    const traces = Array.from({ length: 30 }, (_, i) => decision(NOW - i * 3_600_000, { reason_human: `Decision ${i}` }));
    server.use(pagedHandler(DECISIONS, traces), decisionById(traces));
    renderWithApp(<TraceViewer botId={BOT} kind="decision" />, { path: `/bots/x?trace=${traces[28]!.trace_id}` });
    const pinned = await screen.findByRole("list", { name: "Linked trace" });
    expect(within(pinned).getByRole("button", { name: /Decision 28/ })).toHaveAttribute("aria-expanded", "true");
  });

  it("says a linked trace of neither kind is not found for this bot, with the id and trace id (404)", async () => {
    const missing = "0190a0b0-0000-7000-8000-00000000dead";
    const seen: Seen = { urls: [] };
    server.use(pagedHandler(DECISIONS, [decision(NOW - 1000)]), decisionById([], seen), noTradeById([], seen));
    renderWithApp(<TraceViewer botId={BOT} kind="decision" />, { path: `/bots/x?trace=${missing}` });
    const note = await screen.findByTestId("not-found-for-bot");
    expect(note).toHaveTextContent(`Linked trace ${missing} not found for this bot.`);
    expect(note).toHaveTextContent("No decision trace of this bot has this row id or trace id, and no no-trade trace either.");
    expect(note).toHaveTextContent("TRACE_NOT_FOUND");
    expect(note.querySelector("[data-trace-id]")).toHaveAttribute("data-trace-id", NOT_FOUND_TRACE_ID);
    expect(seen.urls.map((u) => u.pathname).sort()).toEqual([
      `/api/bots/${BOT}/decision-traces/${missing}`,
      `/api/bots/${BOT}/no-trade-traces/${missing}`,
    ]);
    expect(screen.queryByRole("list", { name: "Linked trace" })).toBeNull();
  });

  it("does not show another bot's trace: it is not found for this bot", async () => {
    const theirs = decision(NOW - 1000, { bot_id: "0190a0b0-0000-7000-8000-00000000b002", reason_human: "Not this bot's" });
    server.use(pagedHandler(DECISIONS, []), decisionById([theirs]), noTradeById([]));
    renderWithApp(<TraceViewer botId={BOT} kind="decision" />, { path: `/bots/x?trace=${theirs.id}` });
    expect(await screen.findByTestId("not-found-for-bot")).toHaveTextContent(`Linked trace ${theirs.id} not found for this bot.`);
    expect(screen.queryByText("Not this bot's")).toBeNull();
  });

  it("shows a failed lookup with its code and trace id", async () => {
    server.use(
      pagedHandler(DECISIONS, [decision(NOW - 1000)]),
      http.get("*/api/bots/:id/decision-traces/:ref", () =>
        HttpResponse.json(apiError("VALIDATION_FAILED", "`trace_id` is neither a trace row id (UUID) nor a W3C trace id (32 hex digits)"), { status: 422 }),
      ),
    );
    renderWithApp(<TraceViewer botId={BOT} kind="decision" />, { path: `/bots/x?trace=nope` });
    expect(await screen.findByText(/Could not look up linked trace/)).toHaveTextContent("nope");
    const alert = screen.getByText(/VALIDATION_FAILED: `trace_id` is neither/).closest("[role=alert]")!;
    expect(alert.querySelector("[data-trace-id]")).not.toBeNull();
  });

  it("points to the other viewer when the linked trace is a no-trade trace", async () => {
    const nt = noTrade(NOW - 1000);
    server.use(pagedHandler(DECISIONS, [decision(NOW - 500)]), decisionById([]), noTradeById([nt]));
    const user = userEvent.setup();
    const { router } = renderWithApp(<TraceViewer botId={BOT} kind="decision" />, { path: `/bots/x?tab=decision&trace=${nt.id}` });
    await screen.findByText(/is a no-trade trace, not a decision trace/);
    await user.click(screen.getByRole("button", { name: "Show it in “Why not”" }));
    await waitFor(() => expect(router.state.location.search).toMatchObject({ tab: "no-trade", trace: nt.id }));
  });

  it("leaves the link to the Why-not drawer when panel=why-not", async () => {
    const traces = [decision(NOW - 1000, { reason_human: "Not for me" })];
    server.use(pagedHandler(DECISIONS, traces));
    renderWithApp(<TraceViewer botId={BOT} kind="decision" />, { path: `/bots/x?panel=why-not&trace=${traces[0]!.id}` });
    expect(await screen.findByRole("button", { name: /Not for me/ })).toHaveAttribute("aria-expanded", "false");
  });
});
