import { describe, expect, it, vi } from "vitest";
import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { http, HttpResponse } from "msw";
import { server } from "../../../test/server";
import { apiError, ok, renderWithApp } from "../../../test/render";
import { WhyNotDrawer } from "./index";
import { BOT, botDetail, decision, noTrade, noTradeById, NOT_FOUND_TRACE_ID, pagedHandler, runner, type Seen } from "./testFixtures";

const DECISIONS = "/api/bots/:id/decision-traces";
const NO_TRADES = "/api/bots/:id/no-trade-traces";
const NOW = Date.now();

function handlers({ status = "RUNNING", run = null as Record<string, unknown> | null, decisions = [] as ReturnType<typeof decision>[], noTrades = [] as ReturnType<typeof noTrade>[], killSwitch = false, seen = undefined as Seen | undefined } = {}) {
  return [
    http.get("*/api/bots/:id", () => HttpResponse.json(ok(botDetail(status, run)))),
    http.get("*/api/system/kill-switch", () => HttpResponse.json(ok({ kill_switch: { active: killSwitch, reason: killSwitch ? "drill" : null }, cancelled_order_ids: [], killed_bot_ids: [] }))),
    pagedHandler(DECISIONS, decisions),
    pagedHandler(NO_TRADES, noTrades, seen),
  ];
}

function drawer() {
  return screen.getByRole("dialog", { name: "Why not trading" });
}

describe("WhyNotDrawer", () => {
  it("shows the latest suppression with every blocking gate, since when, how many evaluations, last seen and trace id", async () => {
    const latest = noTrade(NOW - 30 * 60_000, {
      count: 42,
      last_seen_at: new Date(NOW - 10_000).toISOString(),
      reason_human: "Two gates blocked the entry",
      reason_code: "GATES_BLOCKED",
      blocked_by: [
        { gate: "kill_switch", code: "KILL_SWITCH_ACTIVE", reason_human: "The global kill switch is on.", suggested_fix: "Turn the kill switch off." },
        { gate: "market_hours", code: "MARKET_CLOSED", reason_human: "CME Globex is closed.", suggested_fix: "Wait for the open." },
      ],
    });
    const older = noTrade(NOW - 3 * 3_600_000, { reason_human: "An older one" });
    server.use(...handlers({ decisions: [decision(NOW - 60 * 60_000)], noTrades: [older, latest], killSwitch: true }));
    renderWithApp(<WhyNotDrawer botId={BOT} onClose={() => {}} />);
    const current = await screen.findByTestId("why-not-suppressed");
    expect(current).toHaveTextContent("Not trading: blocked by KILL_SWITCH_ACTIVE, MARKET_CLOSED");
    expect(current).toHaveTextContent("Two gates blocked the entry");
    expect(current).toHaveTextContent("Suppressed since");
    expect(current).toHaveTextContent("30 min ago");
    expect(current).toHaveTextContent("42 evaluations");
    expect(current).toHaveTextContent("Last seen");
    expect(current).toHaveTextContent("10 s ago");
    expect(current.querySelector(`[data-trace-id="${latest.trace_id}"]`)).not.toBeNull();
    const gates = within(current).getAllByTestId("blocking-gate");
    expect(gates).toHaveLength(2);
    expect(gates[0]).toHaveTextContent("KILL_SWITCH_ACTIVE");
    expect(gates[0]).toHaveTextContent("The global kill switch is on.");
    expect(gates[0]).toHaveTextContent("Fix: Turn the kill switch off.");
    expect(gates[1]).toHaveTextContent("MARKET_CLOSED");
    expect(within(drawer()).getByText("ON — all trading halted")).toBeInTheDocument();
    // History: both suppressions, newest first, the latest marked.
    const history = screen.getByRole("list", { name: "Suppressions" });
    const rows = within(history).getAllByRole("listitem").filter((li) => li.hasAttribute("data-trace-row"));
    expect(rows).toHaveLength(2);
    expect(rows[0]).toHaveTextContent("latest");
    expect(rows[1]).toHaveTextContent("An older one");
    expect(screen.queryByTestId("why-not-trading")).toBeNull();
  });

  it("says Trading only when the newest evaluation decided and the bot is RUNNING", async () => {
    const d = decision(NOW - 5_000, { reason_human: "Breakout entry" });
    server.use(...handlers({ status: "RUNNING", decisions: [d], noTrades: [noTrade(NOW - 60_000)] }));
    renderWithApp(<WhyNotDrawer botId={BOT} onClose={() => {}} />);
    const current = await screen.findByTestId("why-not-trading");
    expect(current).toHaveTextContent("Trading: last decision at");
    expect(current).toHaveTextContent("Breakout entry");
    expect(screen.queryByTestId("why-not-suppressed")).toBeNull();
  });

  it.each(["SUSPENDED", "KILLED", "STOPPED"])("never says Trading for a %s bot whose newest evaluation decided", async (status) => {
    server.use(
      ...handlers({
        status,
        run: runner(status, { kill_reason: status === "KILLED" ? "daily loss limit breached" : null }),
        decisions: [decision(NOW - 5_000)],
        noTrades: [noTrade(NOW - 60_000)],
      }),
    );
    renderWithApp(<WhyNotDrawer botId={BOT} onClose={() => {}} />);
    const current = await screen.findByTestId("why-not-not-running");
    const word = status.charAt(0) + status.slice(1).toLowerCase();
    expect(current).toHaveTextContent(`${word} — no suppression trace recorded yet`);
    expect(current).toHaveTextContent(status);
    if (status === "KILLED") {
      expect(current).toHaveTextContent("Kill reason: daily loss limit breached");
      expect(within(drawer()).getByText("Kill reason").nextElementSibling).toHaveTextContent("daily loss limit breached");
    } else {
      expect(current).toHaveTextContent("The bot detail gives no kill reason.");
    }
    expect(screen.queryByTestId("why-not-trading")).toBeNull();
    expect(screen.queryByText(/^Trading/)).toBeNull();
  });

  it("shows the news gate card for a news-gated bot, naming the headline that blocks it", async () => {
    server.use(
      ...handlers({ status: "RUNNING", noTrades: [noTrade(NOW - 5_000)] }),
      http.get("*/api/news-gate", () =>
        HttpResponse.json(
          ok({
            status: { last_fetch_at: null, last_fetch_ok_at: "2026-12-04T13:00:00Z", last_fetch_error: null, last_classify_at: null, last_classify_ok_at: null, classify_error_code: null, classify_error: null, unclassified: 0 },
            unavailable: null,
            refreshed_at: null,
            window_minutes: 30,
            risk_off: [{ provider_id: "finnhub", headline_id: 7, headline: "Markets tumble", source: "Wire", published_at: "2026-12-04T12:50:00Z", active_until: "2026-12-04T13:20:00Z" }],
            bots: [{ bot_id: BOT, name: "b", stage: "PAPER", status: "RUNNING", window_minutes: 30, gate: { verdict: "RISK_OFF", code: "NEWS_RISK_OFF", reason: "r", headline_id: 7, until: "2026-12-04T13:20:00Z" } }],
          }),
        ),
      ),
    );
    renderWithApp(<WhyNotDrawer botId={BOT} onClose={() => {}} />);
    const card = await screen.findByTestId("news-gate");
    expect(drawer()).toContainElement(card);
    expect(card).toHaveTextContent("NEWS_RISK_OFF");
    expect(card).toHaveTextContent("Markets tumble");
  });

  it("says a SUSPENDED bot with no traces at all is not explained", async () => {
    server.use(...handlers({ status: "SUSPENDED" }));
    renderWithApp(<WhyNotDrawer botId={BOT} onClose={() => {}} />);
    expect(await screen.findByTestId("why-not-not-running")).toHaveTextContent("Suspended — no suppression trace recorded yet");
    const empty = screen.getByText("No suppressions recorded");
    expect(empty.parentElement).toHaveTextContent("Evaluations run only while the bot is RUNNING");
  });

  it("says a no-signal suppression is waiting for a signal, still not trading", async () => {
    const t = noTrade(NOW - 5_000, {
      suppression_type: "NO_SIGNAL",
      reason_code: "NO_SIGNAL",
      reason_human: "fast MA(2) 6446.25 vs slow MA(3) 6446.5 (position 0: nothing to do)",
      blocked_by: [{ gate: "signal", code: "NO_SIGNAL", reason_human: "spread -0.25", suggested_fix: "None needed: the strategy is waiting for its entry or exit condition." }],
    });
    server.use(...handlers({ status: "RUNNING", decisions: [decision(NOW - 60_000)], noTrades: [t] }));
    renderWithApp(<WhyNotDrawer botId={BOT} onClose={() => {}} />);
    const current = await screen.findByTestId("why-not-suppressed");
    expect(current).toHaveTextContent("Not trading: waiting for a signal");
    expect(current).toHaveTextContent("position 0: nothing to do");
    expect(within(current).getByTestId("blocking-gate")).toHaveTextContent("NO_SIGNAL");
    // Waiting is not a fault: neutral, not in the colours of one ("Fix: None needed" in red).
    expect(within(current).getByTestId("blocking-gate")).not.toHaveClass("bg-bad/5");
    expect(within(within(current).getByTestId("blocking-gate")).getByText("NO_SIGNAL")).not.toHaveClass("text-bad");
  });

  it("names the open breakers that stop the bot and titles the suppression by its blocking gates", async () => {
    const t = noTrade(NOW - 5_000, {
      blocked_by: [
        { gate: "data_freshness", code: "DATA_STALE", reason_human: "No bar for 40 s.", suggested_fix: "Check the data provider." },
        { gate: "signal", code: "NO_SIGNAL", reason_human: "spread 0", suggested_fix: "None needed." },
      ],
    });
    server.use(
      http.get("*/api/bots/:id", () => HttpResponse.json(ok(botDetail("SUSPENDED", runner("SUSPENDED"), ["provider:databento"])))),
      ...handlers({ noTrades: [t] }),
    );
    renderWithApp(<WhyNotDrawer botId={BOT} onClose={() => {}} />);
    const current = await screen.findByTestId("why-not-suppressed");
    expect(current).toHaveTextContent("Not trading: blocked by DATA_STALE");
    expect(current).not.toHaveTextContent("blocked by DATA_STALE, NO_SIGNAL");
    expect(within(current).getAllByTestId("blocking-gate")).toHaveLength(2);
    await waitFor(() => expect(within(drawer()).getByText("Open breakers").nextElementSibling).toHaveTextContent("provider:databento"));
    expect(current).toHaveTextContent("The bot is SUSPENDED");
  });

  it("shows the status next to a suppression when the bot is not RUNNING", async () => {
    server.use(...handlers({ status: "KILLED", run: runner("KILLED", { kill_reason: "operator kill" }), noTrades: [noTrade(NOW - 5_000)] }));
    renderWithApp(<WhyNotDrawer botId={BOT} onClose={() => {}} />);
    const current = await screen.findByTestId("why-not-suppressed");
    expect(current).toHaveTextContent("The bot is KILLED — kill reason: operator kill");
  });

  it("does not claim Trading while a RUNNING bot has not evaluated yet", async () => {
    server.use(...handlers({ status: "RUNNING" }));
    renderWithApp(<WhyNotDrawer botId={BOT} onClose={() => {}} />);
    expect(await screen.findByTestId("why-not-no-evaluation")).toHaveTextContent("Running — no evaluation recorded yet");
  });

  it("cannot tell (and says so, with the error) when the bot status cannot be read", async () => {
    server.use(
      http.get("*/api/bots/:id", () => HttpResponse.json(apiError("DATABASE_UNAVAILABLE", "The database is unreachable."), { status: 503 })),
      http.get("*/api/system/kill-switch", () => HttpResponse.json(ok({ kill_switch: { active: false }, cancelled_order_ids: [], killed_bot_ids: [] }))),
      pagedHandler(DECISIONS, [decision(NOW - 1000)]),
      pagedHandler(NO_TRADES, []),
    );
    renderWithApp(<WhyNotDrawer botId={BOT} onClose={() => {}} />);
    const current = await screen.findByTestId("why-not-unknown");
    expect(current).toHaveTextContent("Cannot tell whether the bot is trading");
    expect(current).toHaveTextContent("the bot's status could not be read");
    expect(screen.getByText(/DATABASE_UNAVAILABLE: The database is unreachable\./).closest("[role=alert]")!.querySelector("[data-trace-id]")).not.toBeNull();
    expect(screen.queryByTestId("why-not-trading")).toBeNull();
  });

  it("shows a failed suppression history as unknown, never as all good (degraded)", async () => {
    server.use(
      http.get("*/api/bots/:id", () => HttpResponse.json(ok(botDetail("RUNNING")))),
      http.get("*/api/system/kill-switch", () => HttpResponse.json(ok({ kill_switch: { active: false }, cancelled_order_ids: [], killed_bot_ids: [] }))),
      pagedHandler(DECISIONS, [decision(NOW - 1000)]),
      http.get(`*${NO_TRADES}`, () => HttpResponse.json(apiError("DATABASE_UNAVAILABLE", "down", "11112222333344445555666677778888"), { status: 503 })),
    );
    renderWithApp(<WhyNotDrawer botId={BOT} onClose={() => {}} />);
    expect(await screen.findByTestId("why-not-unknown")).toHaveTextContent("the suppression history could not be read");
    expect(screen.getAllByText(/DATABASE_UNAVAILABLE/).length).toBeGreaterThan(0);
    expect(document.querySelector('[data-trace-id="11112222333344445555666677778888"]')).not.toBeNull();
    expect(screen.queryByTestId("why-not-trading")).toBeNull();
  });

  it("shows a 403 on the history as forbidden", async () => {
    server.use(
      http.get("*/api/bots/:id", () => HttpResponse.json(ok(botDetail("RUNNING")))),
      http.get("*/api/system/kill-switch", () => HttpResponse.json(ok({ kill_switch: { active: false }, cancelled_order_ids: [], killed_bot_ids: [] }))),
      pagedHandler(DECISIONS, []),
      http.get(`*${NO_TRADES}`, () => HttpResponse.json(apiError("FORBIDDEN", "Not allowed."), { status: 403 })),
    );
    renderWithApp(<WhyNotDrawer botId={BOT} onClose={() => {}} />);
    expect(await screen.findByText(/FORBIDDEN: Not allowed\./)).toBeInTheDocument();
    expect(screen.getByTestId("why-not-unknown")).toBeInTheDocument();
  });

  it("pages the suppression history", async () => {
    const traces = Array.from({ length: 14 }, (_, i) => noTrade(NOW - i * 600_000, { reason_code: `SUP_${i}` }));
    const seen: Seen = { urls: [] };
    server.use(...handlers({ noTrades: traces, seen }));
    const user = userEvent.setup();
    renderWithApp(<WhyNotDrawer botId={BOT} onClose={() => {}} />);
    await screen.findByTestId("why-not-suppressed");
    const list = () => within(screen.getByRole("list", { name: "Suppressions" })).getAllByRole("listitem").filter((li) => li.hasAttribute("data-trace-row"));
    expect(list()).toHaveLength(10);
    await user.click(screen.getByRole("button", { name: "Load more" }));
    await waitFor(() => expect(list()).toHaveLength(14));
    expect(screen.getByText(/14 suppressions shown, newest first — that is all of them/)).toBeInTheDocument();
  });

  it("highlights and expands the suppression named by ?panel=why-not&trace=", async () => {
    const traces = [noTrade(NOW - 1000), noTrade(NOW - 2000, { reason_human: "Linked suppression" })];
    server.use(...handlers({ noTrades: traces }));
    renderWithApp(<WhyNotDrawer botId={BOT} onClose={() => {}} />, { path: `/bots/x?panel=why-not&trace=${traces[1]!.id}` });
    const toggle = await screen.findByRole("button", { name: /Linked suppression/ });
    expect(toggle).toHaveAttribute("aria-expanded", "true");
    expect(toggle.closest("li")).toHaveAttribute("data-highlighted", "true");
  });

  it("reads a linked suppression older than the loaded history by its id and pins it", async () => {
    const traces = Array.from({ length: 30 }, (_, i) => noTrade(NOW - i * 3_600_000, { reason_human: `Suppression ${i}` }));
    const byId: Seen = { urls: [] };
    server.use(...handlers({ noTrades: traces }), noTradeById(traces, byId));
    renderWithApp(<WhyNotDrawer botId={BOT} onClose={() => {}} />, { path: `/bots/x?panel=why-not&trace=${traces[25]!.trace_id}` });
    expect(await screen.findByText(/is older than the loaded history/)).toBeInTheDocument();
    const pinned = screen.getByRole("list", { name: "Linked suppression" });
    expect(within(pinned).getByRole("button", { name: /Suppression 25/ })).toHaveAttribute("aria-expanded", "true");
    expect(byId.urls.map((u) => u.pathname)).toEqual([`/api/bots/${BOT}/no-trade-traces/${traces[25]!.trace_id}`]);
  });

  it("says a linked suppression is not found for this bot (404), with the id and trace id", async () => {
    const theirs = noTrade(NOW - 1000, { bot_id: "0190a0b0-0000-7000-8000-00000000b002", reason_human: "Another bot's suppression" });
    server.use(...handlers({ noTrades: [noTrade(NOW - 2000)] }), noTradeById([theirs]));
    renderWithApp(<WhyNotDrawer botId={BOT} onClose={() => {}} />, { path: `/bots/x?panel=why-not&trace=${theirs.id}` });
    const note = await screen.findByTestId("not-found-for-bot");
    expect(note).toHaveTextContent(`Linked suppression ${theirs.id} not found for this bot.`);
    expect(note).toHaveTextContent("TRACE_NOT_FOUND");
    expect(note.querySelector("[data-trace-id]")).toHaveAttribute("data-trace-id", NOT_FOUND_TRACE_ID);
    expect(screen.queryByText("Another bot's suppression")).toBeNull();
    expect(screen.queryByRole("list", { name: "Linked suppression" })).toBeNull();
  });

  it("closes on Escape and on the close button", async () => {
    server.use(...handlers({ noTrades: [noTrade(NOW - 1000)] }));
    const onClose = vi.fn();
    const user = userEvent.setup();
    renderWithApp(<WhyNotDrawer botId={BOT} onClose={onClose} />);
    await screen.findByTestId("why-not-suppressed");
    await user.keyboard("{Escape}");
    await user.click(screen.getByRole("button", { name: "Close" }));
    expect(onClose).toHaveBeenCalledTimes(2);
  });
});
