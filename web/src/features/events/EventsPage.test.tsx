import { afterEach, describe, expect, it, vi } from "vitest";
import { act, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { http, HttpResponse } from "msw";
import { server } from "../../test/server";
import { apiError, ok, renderWithApp } from "../../test/render";
import { advanceClock } from "../../test/clock";
import { POLL } from "../../lib/queryClient";
import type { SystemEvent } from "../../queries/events";
import { EventsPage } from ".";
import { fakeStreams } from "./FakeEventSource";

const BOT = "0192f3c4-5d6e-7f80-9a1b-2c3d4e5f6a7b";

function ev(n: number, over: Partial<SystemEvent> = {}): SystemEvent {
  return {
    id: `00000000-0000-7000-8000-${String(n).padStart(12, "0")}`,
    created_at: `2026-11-26T12:${String(n).padStart(2, "0")}:00.000000Z`,
    severity: "SEV-2",
    code: "CIRCUIT_BREAKER_OPENED",
    message: `Breaker opened ${n}`,
    bot_id: null,
    provider_id: null,
    trace_id: `${String(n).padStart(2, "0")}`.repeat(16),
    metadata: {},
    ...over,
  };
}

/** Answers GET /api/system/events with each response in turn (the last one repeats) and records the queries. */
function eventsApi(...responses: Array<{ items: SystemEvent[]; next_cursor?: string | null } | Response | (() => Response)>) {
  const calls: URLSearchParams[] = [];
  server.use(
    http.get("*/api/system/events", ({ request }) => {
      calls.push(new URL(request.url).searchParams);
      const r = responses[Math.min(calls.length - 1, responses.length - 1)]!;
      if (typeof r === "function") return r();
      if (r instanceof Response) return r;
      return HttpResponse.json(ok({ items: r.items, next_cursor: r.next_cursor ?? null }));
    }),
  );
  return calls;
}

function rows() {
  return within(screen.getByRole("table", { name: "System events" }))
    .getAllByRole("row")
    .slice(1);
}

describe("EventsPage", () => {
  it("lists events with time, severity, code, message, subject and trace id, and goes Live when the stream opens", async () => {
    const calls = eventsApi({ items: [ev(2, { bot_id: BOT, provider_id: "databento", severity: "SEV-1", code: "BOT_KILLED", message: "Bot killed by operator" }), ev(1)] });
    const streams = fakeStreams();
    renderWithApp(<EventsPage eventSourceFactory={streams.factory} />, { path: "/events" });

    expect(await screen.findByText("Bot killed by operator")).toBeInTheDocument();
    const [first, second] = rows();
    expect(first).toHaveTextContent("SEV-1");
    expect(first).toHaveTextContent("BOT_KILLED");
    expect(first).toHaveTextContent("2026-11-26");
    // The name lookup knows no such bot here: the id's start, marked as an id, full id on hover.
    expect(within(first!).getByRole("link", { name: "0192f3c4…" })).toHaveAttribute("href", `/bots/${BOT}`);
    expect(within(first!).getByRole("link", { name: "0192f3c4…" })).toHaveAttribute("title", `Bot id ${BOT}`);
    expect(within(first!).getByRole("link", { name: "databento" })).toHaveAttribute("href", "/proof-of-use?provider=databento");
    expect(first!.querySelector("[data-trace-id]")).toHaveAttribute("data-trace-id", "02".repeat(16));
    expect(second).toHaveTextContent("Breaker opened 1");
    expect(second).toHaveTextContent("system");
    expect(calls[0]!.get("limit")).toBe("50");

    expect(screen.getByTestId("live-indicator")).toHaveTextContent("Connecting…");
    expect(streams.latest().url).toBe("/api/events/stream?kinds=system_event");
    streams.latest().open();
    expect(screen.getByRole("status", { name: "Live updates: Live" })).toBeInTheDocument();
  });

  it("prepends a live event from the stream", async () => {
    eventsApi({ items: [ev(1)] });
    const streams = fakeStreams();
    renderWithApp(<EventsPage eventSourceFactory={streams.factory} />, { path: "/events" });
    await screen.findByText("Breaker opened 1");
    streams.latest().open();
    streams.latest().emit("system_event", { ...ev(5, { code: "KILL_SWITCH_ACTIVATED", severity: "SEV-1", message: "Kill switch on" }), at: "2026-11-26T12:05:00Z" }, "1001");

    await waitFor(() => expect(rows()).toHaveLength(2));
    expect(rows()[0]).toHaveTextContent("KILL_SWITCH_ACTIVATED");
    expect(rows()[0]).toHaveTextContent("Kill switch on");
    expect(screen.getByTestId("live-indicator")).toHaveTextContent("last event");

    // The same event again (a replay) is not duplicated; garbage is ignored.
    streams.latest().emit("system_event", ev(5, { code: "KILL_SWITCH_ACTIVATED", severity: "SEV-1", message: "Kill switch on" }), "1001");
    streams.latest().emit("system_event", "{not json", "1002");
    expect(rows()).toHaveLength(2);
  });

  it("shows Reconnecting… when the stream errors, and Live again when it reopens (catching up)", async () => {
    const calls = eventsApi({ items: [ev(1)] }, { items: [ev(3), ev(1)] });
    const streams = fakeStreams();
    renderWithApp(<EventsPage eventSourceFactory={streams.factory} />, { path: "/events" });
    await screen.findByText("Breaker opened 1");
    const es = streams.latest();
    es.open();
    es.fail();
    expect(screen.getByRole("status", { name: "Live updates: Reconnecting…" })).toBeInTheDocument();
    expect(screen.getByTestId("live-indicator")).toHaveTextContent("1 failed attempt");
    expect(es.closed).toBe(false); // the browser retries by itself

    es.open();
    expect(screen.getByRole("status", { name: "Live updates: Live" })).toBeInTheDocument();
    // Events written while the stream was down are fetched since the newest one held.
    expect(await screen.findByText("Breaker opened 3")).toBeInTheDocument();
    // ev(1) is at 12:01:00; the catch-up re-reads the minute before it.
    expect(calls[1]!.get("from")).toBe("2026-11-26T12:00:00.000000Z");
  });

  it("falls back to polling after repeated stream failures and shows the events it polls", async () => {
    const calls = eventsApi({ items: [ev(1)] }, { items: [ev(7, { message: "Polled event" }), ev(1)] });
    const streams = fakeStreams();
    renderWithApp(<EventsPage eventSourceFactory={streams.factory} />, { path: "/events" });
    await screen.findByText("Breaker opened 1");
    const es = streams.latest();
    es.fail();
    es.fail();
    es.fail();

    expect(screen.getByRole("status", { name: "Live updates: Polling" })).toBeInTheDocument();
    expect(screen.getByTestId("live-indicator")).toHaveTextContent("failed 3 times");
    expect(es.closed).toBe(true);
    expect(await screen.findByText("Polled event")).toBeInTheDocument();
    expect(rows()[0]).toHaveTextContent("Polled event");
    expect(calls[1]!.get("from")).toBeTruthy();
    expect(screen.getByRole("button", { name: /Retry stream now/ })).toBeInTheDocument();
  });

  it("retries a refused stream itself and resumes after the last event id", async () => {
    eventsApi({ items: [ev(1)] });
    const streams = fakeStreams();
    renderWithApp(<EventsPage eventSourceFactory={streams.factory} />, { path: "/events" });
    await screen.findByText("Breaker opened 1");
    streams.latest().open();
    streams.latest().emit("system_event", ev(2), "1764158400000123");
    streams.latest().fail({ closed: true });
    expect(screen.getByRole("status", { name: "Live updates: Reconnecting…" })).toBeInTheDocument();
    await waitFor(() => expect(streams.all).toHaveLength(2), { timeout: 2500 });
    expect(streams.latest().url).toBe("/api/events/stream?kinds=system_event&last_event_id=1764158400000123");
  });

  it("refetches on a reset event", async () => {
    const calls = eventsApi({ items: [ev(1)] }, { items: [ev(4, { message: "Missed event" }), ev(1)] });
    const streams = fakeStreams();
    renderWithApp(<EventsPage eventSourceFactory={streams.factory} />, { path: "/events" });
    await screen.findByText("Breaker opened 1");
    streams.latest().open();
    streams.latest().emit("reset", { reason: "unknown_id", last_event_id: 9, message: "Events were missed" }, "9");
    expect(await screen.findByText("Missed event")).toBeInTheDocument();
    expect(calls).toHaveLength(2);
  });

  it("applies URL filters to the request and to live events", async () => {
    const calls = eventsApi({ items: [ev(1, { severity: "SEV-1", code: "BOT_KILLED", message: "Killed one" })] });
    const streams = fakeStreams();
    renderWithApp(<EventsPage eventSourceFactory={streams.factory} />, { path: "/events?severity=SEV-1&code=BOT_KILLED&provider=databento" });
    await screen.findByText("Killed one");
    expect(calls[0]!.get("severity")).toBe("SEV-1");
    expect(calls[0]!.get("code")).toBe("BOT_KILLED");
    expect(calls[0]!.get("provider_id")).toBe("databento");
    expect(screen.getByText(/Filtered: severity SEV-1, code BOT_KILLED, provider databento/)).toBeInTheDocument();

    streams.latest().open();
    streams.latest().emit("system_event", ev(2, { severity: "SEV-2", code: "BOT_KILLED", provider_id: "databento", message: "Wrong severity" }));
    streams.latest().emit("system_event", ev(3, { severity: "SEV-1", code: "BOT_KILLED", provider_id: "databento", message: "Matching live" }));
    expect(await screen.findByText("Matching live")).toBeInTheDocument();
    expect(screen.queryByText("Wrong severity")).not.toBeInTheDocument();
  });

  it("changes filters from the form and refuses a bot id that is not a UUID", async () => {
    const calls = eventsApi({ items: [ev(1)] });
    const streams = fakeStreams();
    const { router } = renderWithApp(<EventsPage eventSourceFactory={streams.factory} />, { path: "/events" });
    await screen.findByText("Breaker opened 1");
    const user = userEvent.setup();

    await user.selectOptions(screen.getByLabelText("Severity"), "SEV-1");
    await waitFor(() => expect(calls.at(-1)!.get("severity")).toBe("SEV-1"));
    expect(router.state.location.search).toMatchObject({ severity: "SEV-1" });

    await user.type(screen.getByLabelText("Bot id"), "not-a-uuid");
    expect(screen.getByRole("alert")).toHaveTextContent("Bot id must be a UUID");
    expect(screen.getByRole("button", { name: /Apply/ })).toBeDisabled();

    await user.clear(screen.getByLabelText("Bot id"));
    await user.type(screen.getByLabelText("Bot id"), `${BOT}{Enter}`);
    await waitFor(() => expect(calls.at(-1)!.get("bot_id")).toBe(BOT));
    expect(calls.at(-1)!.get("severity")).toBe("SEV-1");

    await user.click(screen.getAllByRole("button", { name: /Clear filters/ })[0]!);
    await waitFor(() => expect(router.state.location.search).toEqual({}));
  });

  it("says no event was recorded yet when the log is empty", async () => {
    eventsApi({ items: [] });
    renderWithApp(<EventsPage eventSourceFactory={fakeStreams().factory} />, { path: "/events" });
    expect(await screen.findByText("No events recorded yet")).toBeInTheDocument();
    expect(screen.getByText(/None has been recorded yet/)).toBeInTheDocument();
  });

  it("says no event matches when filters exclude everything", async () => {
    eventsApi({ items: [] });
    renderWithApp(<EventsPage eventSourceFactory={fakeStreams().factory} />, { path: "/events?severity=SEV-1" });
    expect(await screen.findByText("No events match these filters")).toBeInTheDocument();
    expect(screen.getByText(/No system event with severity SEV-1 has been recorded/)).toBeInTheDocument();
  });

  it("shows code, message, fix and trace id when the events endpoint fails", async () => {
    eventsApi(HttpResponse.json(apiError("DATABASE_UNAVAILABLE", "The database is unreachable.", "4bf92f3577b34da6a3ce929d0e0e4736", "Check Postgres."), { status: 503 }));
    renderWithApp(<EventsPage eventSourceFactory={fakeStreams().factory} />, { path: "/events" });
    const alert = await screen.findByText(/DATABASE_UNAVAILABLE: The database is unreachable/);
    const box = alert.closest("[role=alert]")!;
    expect(box).toHaveTextContent("Fix: Check Postgres.");
    expect(box.querySelector("[data-trace-id]")).toHaveAttribute("data-trace-id", "4bf92f3577b34da6a3ce929d0e0e4736");
  });

  it("keeps the last events with their age when polling fails", async () => {
    eventsApi({ items: [ev(1)] }, () => HttpResponse.json(apiError("DATABASE_UNAVAILABLE", "The database is unreachable."), { status: 503 }));
    const streams = fakeStreams();
    renderWithApp(<EventsPage eventSourceFactory={streams.factory} />, { path: "/events" });
    await screen.findByText("Breaker opened 1");
    for (let i = 0; i < 3; i++) streams.latest().fail();
    expect(await screen.findByText(/DATABASE_UNAVAILABLE: The database is unreachable/)).toBeInTheDocument();
    expect(screen.getByText("Breaker opened 1")).toBeInTheDocument();
    expect(screen.getByText(/newer events may be missing/)).toBeInTheDocument();
    expect(screen.getByText(/stale: last good/)).toBeInTheDocument();
  });

  it("loads older events with the cursor until there are none", async () => {
    const calls = eventsApi({ items: [ev(9), ev(8)], next_cursor: "CUR1" }, { items: [ev(2, { message: "Older one" })], next_cursor: null });
    renderWithApp(<EventsPage eventSourceFactory={fakeStreams().factory} />, { path: "/events" });
    await screen.findByText("Breaker opened 9");
    await userEvent.setup().click(screen.getByRole("button", { name: /Load older/ }));
    expect(await screen.findByText("Older one")).toBeInTheDocument();
    expect(calls[1]!.get("cursor")).toBe("CUR1");
    expect(rows().map((r) => r.getAttribute("data-event-id"))).toEqual([ev(9).id, ev(8).id, ev(2).id]);
    expect(screen.getByText("That is every event recorded.")).toBeInTheDocument();
    expect(screen.queryByRole("button", { name: /Load older/ })).not.toBeInTheDocument();
  });

  it("opens an event's details with its metadata and trace id", async () => {
    eventsApi({ items: [ev(1, { metadata: { scope: "provider:databento", to: "OPEN" }, provider_id: "databento" })] });
    const { router } = renderWithApp(<EventsPage eventSourceFactory={fakeStreams().factory} />, { path: "/events" });
    await screen.findByText("Breaker opened 1");
    await userEvent.setup().click(screen.getByRole("button", { name: /Details of CIRCUIT_BREAKER_OPENED/ }));
    const dialog = await screen.findByRole("dialog", { name: "Event details" });
    expect(within(dialog).getByTestId("event-metadata")).toHaveTextContent('"scope": "provider:databento"');
    expect(dialog.querySelector("[data-trace-id]")).toHaveAttribute("data-trace-id", "01".repeat(16));
    expect(router.state.location.search).toMatchObject({ event: ev(1).id });
  });
});

// The stream carries only the events recorded by the server it is open on (its bus is
// process-local) and a half-open stream never errors, so an open stream is no proof that every
// event arrives: the list is re-read on a timer anyway, and says how fresh that read is.
describe("EventsPage while the stream is live", () => {
  afterEach(() => {
    vi.useRealTimers();
    vi.restoreAllMocks();
  });

  it("keeps checking the list every 15 s, so an event recorded on another server shows up", async () => {
    // Only the intervals are fake (TanStack's refetchInterval); requests and the rest run for real.
    vi.useFakeTimers({ toFake: ["setInterval", "clearInterval"] });
    const calls = eventsApi(
      { items: [ev(1)] },
      { items: [ev(6, { severity: "SEV-1", code: "KILL_SWITCH_ACTIVATED", message: "Recorded on node b" }), ev(1)] },
    );
    const streams = fakeStreams();
    renderWithApp(<EventsPage eventSourceFactory={streams.factory} />, { path: "/events" });
    await screen.findByText("Breaker opened 1");
    streams.latest().open();
    expect(screen.getByRole("status", { name: "Live updates: Live" })).toBeInTheDocument();
    // The badge and the list say what "live" covers and how often the list is checked.
    expect(screen.getByTestId("live-indicator")).toHaveTextContent("Live (this server)");
    expect(screen.getByTestId("live-indicator")).toHaveTextContent("Events recorded on other servers appear when the list is checked (every 15 s)");
    expect(screen.getByTestId("events-list-status")).toHaveTextContent(/^1 shown · live from this server, checked every 15 s · last checked/);
    expect(screen.getByTestId("events-list-status")).toHaveAttribute("data-stale", "false");
    expect(screen.queryByText(/updated live/)).not.toBeInTheDocument();

    act(() => void vi.advanceTimersByTime(POLL.normal - 1));
    expect(calls).toHaveLength(1);
    act(() => void vi.advanceTimersByTime(1));
    // The stream never brought it; the check does, merged in (since the newest event held).
    expect(await screen.findByText("Recorded on node b")).toBeInTheDocument();
    expect(calls).toHaveLength(2);
    expect(calls[1]!.get("from")).toBe("2026-11-26T12:00:00.000000Z");
    expect(rows()).toHaveLength(2);
    expect(rows()[0]).toHaveTextContent("KILL_SWITCH_ACTIVATED");
    expect(screen.getByRole("status", { name: "Live updates: Live" })).toBeInTheDocument();
  });

  it("still checks every 5 s once the stream has failed and polling is all there is", async () => {
    vi.useFakeTimers({ toFake: ["setInterval", "clearInterval"] });
    const calls = eventsApi({ items: [ev(1)] }, { items: [ev(1)] }, { items: [ev(8, { message: "Polled later" }), ev(1)] });
    const streams = fakeStreams();
    renderWithApp(<EventsPage eventSourceFactory={streams.factory} />, { path: "/events" });
    await screen.findByText("Breaker opened 1");
    for (let i = 0; i < 3; i++) streams.latest().fail();
    await waitFor(() => expect(calls).toHaveLength(2)); // the catch-up on falling back
    expect(screen.getByTestId("live-indicator")).toHaveTextContent("checking for new events every 5 s");
    await waitFor(() => expect(screen.getByTestId("events-list-status")).toHaveTextContent(/^1 shown · checked every 5 s · last checked/));
    act(() => void vi.advanceTimersByTime(POLL.fast));
    expect(await screen.findByText("Polled later")).toBeInTheDocument();
    expect(calls).toHaveLength(3);
  });

  it("says the list is stale, with the reason, when no check has succeeded for two polls and a bit", async () => {
    eventsApi({ items: [ev(1)] });
    const streams = fakeStreams();
    renderWithApp(<EventsPage eventSourceFactory={streams.factory} />, { path: "/events" });
    await screen.findByText("Breaker opened 1");
    streams.latest().open();
    const status = screen.getByTestId("events-list-status");
    expect(status).toHaveAttribute("data-stale", "false");
    // The stream stays open and silent (half-open, or nothing recorded here) while 40 s pass
    // with no check answered (the request hangs, the tab was asleep): 40 s > 2 × 15 s + 2 s.
    advanceClock(40_000);
    await waitFor(() => expect(status).toHaveAttribute("data-stale", "true"), { timeout: 3_000 });
    expect(status).toHaveTextContent(/stale: no fresh answer for 4\d s; the list may lack newer events/);
    expect(status).toHaveClass("text-muted");
    expect(status).not.toHaveTextContent("last checked");
    expect(screen.queryByText(/updated live/)).not.toBeInTheDocument();
  });

  it("does not let a live event make a failed check look fresh", async () => {
    eventsApi({ items: [ev(1)] }, () => HttpResponse.json(apiError("DATABASE_UNAVAILABLE", "The database is unreachable."), { status: 503 }));
    const streams = fakeStreams();
    renderWithApp(<EventsPage eventSourceFactory={streams.factory} />, { path: "/events" });
    await screen.findByText("Breaker opened 1");
    streams.latest().open();
    // Events were missed: the list is re-read, and that read fails.
    streams.latest().emit("reset", { reason: "unknown_id", last_event_id: 9, message: "Events were missed" }, "9");
    expect(await screen.findByText(/DATABASE_UNAVAILABLE: The database is unreachable/)).toBeInTheDocument();
    const status = screen.getByTestId("events-list-status");
    expect(status).toHaveAttribute("data-stale", "true");
    expect(status).toHaveTextContent(/stale: the latest refresh failed \(last good check .*\); the list may lack newer events/);

    // A live event from this server lands in the list; the list itself is still unchecked.
    streams.latest().emit("system_event", ev(5, { message: "Streamed here" }), "1001");
    expect(await screen.findByText("Streamed here")).toBeInTheDocument();
    expect(screen.getByTestId("events-list-status")).toHaveAttribute("data-stale", "true");
    expect(screen.getByTestId("events-list-status")).toHaveTextContent(/^2 shown · live from this server, checked every 15 s · stale: the latest refresh failed/);
    expect(screen.queryByText(/updated live/)).not.toBeInTheDocument();
  });
});
