import { describe, expect, it } from "vitest";
import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { http, HttpResponse } from "msw";
import { server } from "../../test/server";
import { apiError, ok, renderWithApp } from "../../test/render";
import { item, summary } from "../bots/fixtures.test-util";
import { OverviewPage } from ".";

const BOT = "0190a000-0000-7000-8000-0000000000aa";
const okStatus = {
  system_status: "OK",
  autonomy_allowed: true,
  blockers: [],
  notices: [],
  bots: { byAutonomyTier: { LOCKED: 1, SUPERVISED: 0, LIMITED_AUTONOMY: 0, FULL_AUTONOMY: 0 } },
  scheduler: { active: true, last_tick_at: new Date().toISOString(), loop_health: "OK", circuit_breakers: [] },
  integrations: { total: 17, configured: 2, connected: 2, not_configured: 15, sandbox: 2 },
};
const blockedStatus = {
  ...okStatus,
  system_status: "BLOCKED",
  autonomy_allowed: false,
  blockers: [{ code: "KILLED_WITH_EXPOSURE", severity: "SEV-1", message: "x", suggested_fix: "y", trace_id: "ab".repeat(16) }],
};
const killed = {
  code: "KILLED_WITH_EXPOSURE",
  severity: "SEV-1",
  since: new Date(Date.now() - 125_000).toISOString(),
  subject: { kind: "bot", id: BOT, name: "es-breakout-paper", bot_id: null, bot_name: null },
  message: "es-breakout-paper is KILLED and still holds 1 contract(s) and 0 working order(s): nobody manages that exposure.",
  fix: "Kill it again with flatten (POST /api/bots/{id}/kill {\"flatten\": true}).",
  link: `/bots/${BOT}`,
};
const job = {
  code: "JOB_FAILED",
  severity: "SEV-3",
  since: new Date(Date.now() - 3_600_000).toISOString(),
  subject: { kind: "job", id: "0190a000-0000-7000-8000-0000000000bb", name: "backtest", bot_id: null, bot_name: null },
  message: "backtest job ended FAILED: DATA_UNAVAILABLE.",
  fix: "Open Jobs.",
  link: "/jobs?status=FAILED",
};

function answer(items: unknown[]) {
  return ok({ as_of: new Date().toISOString(), items, counts: { sev1: items.filter((i) => (i as { severity: string }).severity === "SEV-1").length, sev2: 0, sev3: items.filter((i) => (i as { severity: string }).severity === "SEV-3").length } });
}

function mock(opts: { items?: unknown[]; status?: object; queueFails?: boolean; bots?: unknown[] }) {
  server.use(
    http.get("*/api/system/status", () => HttpResponse.json(ok(opts.status ?? okStatus))),
    http.get("*/api/attention", () =>
      opts.queueFails ? HttpResponse.json(apiError("DATABASE_UNAVAILABLE", "The database is unreachable."), { status: 503 }) : HttpResponse.json(answer(opts.items ?? [])),
    ),
    http.get("*/api/fleet/pnl-today", () =>
      HttpResponse.json(ok({ trade_date: "2026-11-26", trade_date_start: "2026-11-25T23:00:00Z", truncated: false, items: [] })),
    ),
    http.get("*/api/bots", () => HttpResponse.json(ok({ items: opts.bots ?? [], next_cursor: null }))),
  );
}

function queueCard() {
  return screen.getByRole("heading", { name: "Needs attention" }).closest("section") as HTMLElement;
}

describe("the needs-attention queue", () => {
  it("lists items SEV-1 first with the bot's name, age, fix and a link to the bot", async () => {
    mock({ items: [killed, job], status: blockedStatus });
    renderWithApp(<OverviewPage />);
    const items = await within(await waitFor(queueCard)).findAllByTestId("attention-item");
    expect(items).toHaveLength(2);
    expect(items[0]).toHaveTextContent("SEV-1");
    expect(items[0]).toHaveTextContent("KILLED_WITH_EXPOSURE");
    expect(within(items[0]!).getByTestId("attention-subject")).toHaveTextContent("es-breakout-paper");
    expect(items[0]).toHaveTextContent(/since 2 min ago/);
    expect(items[0]).toHaveTextContent("Fix: Kill it again with flatten");
    expect(within(items[0]!).getByTestId("attention-link")).toHaveAttribute("href", `/bots/${BOT}`);
    expect(within(items[0]!).getByTestId("attention-link")).toHaveTextContent("Open es-breakout-paper");
    expect(within(items[1]!).getByTestId("attention-link")).toHaveAttribute("href", "/jobs?status=FAILED");
    expect(within(items[1]!).getByTestId("attention-link")).toHaveTextContent("Open Jobs");
    expect(within(queueCard()).getByText("1 SEV-1")).toBeInTheDocument();
    expect(screen.queryByTestId("attention-empty")).not.toBeInTheDocument();
  });

  it("says nothing needs you only when the queue and the status are fresh and empty", async () => {
    mock({});
    renderWithApp(<OverviewPage />);
    expect(await screen.findByTestId("attention-empty")).toHaveTextContent("Nothing needs you.");
  });

  it("does not say nothing needs you while the status still lists a blocker", async () => {
    mock({ status: blockedStatus });
    renderWithApp(<OverviewPage />);
    expect(await screen.findByTestId("attention-unconfirmed")).toHaveTextContent(/not confirmed/);
    expect(screen.queryByTestId("attention-empty")).not.toBeInTheDocument();
  });

  it("says the answer is unknown when the queue cannot be read", async () => {
    mock({ queueFails: true });
    renderWithApp(<OverviewPage />);
    expect(await screen.findByTestId("attention-unknown")).toHaveTextContent(/whether anything needs you is not known/);
    expect(screen.queryByTestId("attention-empty")).not.toBeInTheDocument();
  });
});

describe("the fleet grid", () => {
  it("shows bot names, never ids, and greys a stale PnL with its age", async () => {
    const stale = summary({}, { marked_at: new Date(Date.now() - 600_000).toISOString() });
    const fresh = summary({}, { marked_at: new Date(Date.now() - 30_000).toISOString() });
    mock({ bots: [item({ id: BOT, name: "nq-donchian-paper" }, stale), item({ id: "0190a000-0000-7000-8000-0000000000cc", name: "es-sma-paper" }, fresh)] });
    renderWithApp(<OverviewPage />);
    const rows = await screen.findAllByTestId("fleet-row");
    expect(rows).toHaveLength(2);
    expect(rows[0]).toHaveTextContent("es-sma-paper");
    expect(rows[1]).toHaveTextContent("nq-donchian-paper");
    expect(screen.getAllByText("nq-donchian-paper")[0]!.closest("a")).toHaveAttribute("title", `Bot id ${BOT}`);
    expect(screen.queryByText(/0190a000…/)).not.toBeInTheDocument();
    const freshPnl = within(rows[0]!).getByTestId("fleet-pnl");
    expect(freshPnl).toHaveAttribute("data-stale", "false");
    expect(freshPnl).toHaveTextContent("+$100.50");
    expect(freshPnl.querySelector(".text-ok")).not.toBeNull();
    const stalePnl = within(rows[1]!).getByTestId("fleet-pnl");
    expect(stalePnl).toHaveAttribute("data-stale", "true");
    expect(stalePnl).toHaveTextContent("+$100.50");
    expect(stalePnl).toHaveTextContent("10 min old");
    expect(stalePnl.querySelector(".text-ok")).toBeNull();
    expect(screen.getAllByTestId("fleet-card")).toHaveLength(2);
  });
});

describe("the fleet grid's sparklines", () => {
  const points = [{ at: "2026-11-26T10:00:00Z", cumulative: "10" }, { at: "2026-11-26T11:00:00Z", cumulative: "40" }];

  it("says today's series is unknown, with the reason, while /api/fleet/pnl-today fails: never \"no close today\"", async () => {
    mock({ bots: [item({ id: BOT, name: "nq-donchian-paper" })] });
    server.use(http.get("*/api/fleet/pnl-today", () => HttpResponse.json(apiError("DATABASE_UNAVAILABLE", "The database is unreachable."), { status: 503 })));
    renderWithApp(<OverviewPage />);
    const row = (await screen.findAllByTestId("fleet-row"))[0]!;
    await waitFor(() => expect(within(row).getByTestId("fleet-spark")).toHaveTextContent("unknown: today's series could not be read (DATABASE_UNAVAILABLE)"));
    expect(within(row).getByTestId("fleet-spark")).toHaveAttribute("data-state", "unknown");
    expect(screen.queryByText(/no close today/)).not.toBeInTheDocument();
  });

  it("labels a series the server cut short partial, not as the day's series", async () => {
    mock({ bots: [item({ id: BOT, name: "nq-donchian-paper" })] });
    server.use(
      http.get("*/api/fleet/pnl-today", () =>
        HttpResponse.json(ok({ trade_date: "2026-11-26", trade_date_start: "2026-11-25T23:00:00Z", truncated: true, items: [{ bot_id: BOT, points }] })),
      ),
    );
    renderWithApp(<OverviewPage />);
    const row = (await screen.findAllByTestId("fleet-row"))[0]!;
    const spark = await within(row).findByTestId("fleet-spark");
    await waitFor(() => expect(spark).toHaveAttribute("data-state", "partial"));
    expect(spark).toHaveTextContent("partial");
    expect(within(spark).getByRole("img")).toHaveAttribute("aria-label", expect.stringContaining("the newest 2 closes today (partial: older closes left out)"));
  });

  it("greys the sparkline by the series' own freshness: a failed refetch of today's series marks it stale", async () => {
    let fail = false;
    mock({ bots: [item({ id: BOT, name: "nq-donchian-paper" }, summary({}, { marked_at: new Date(Date.now() - 30_000).toISOString() }))] });
    server.use(
      http.get("*/api/fleet/pnl-today", () =>
        fail
          ? HttpResponse.json(apiError("DATABASE_UNAVAILABLE", "The database is unreachable."), { status: 503 })
          : HttpResponse.json(ok({ trade_date: "2026-11-26", trade_date_start: "2026-11-25T23:00:00Z", truncated: false, items: [{ bot_id: BOT, points }] })),
      ),
    );
    const { client } = renderWithApp(<OverviewPage />);
    const row = (await screen.findAllByTestId("fleet-row"))[0]!;
    await waitFor(() => expect(within(row).getByTestId("fleet-spark")).toHaveAttribute("data-state", "fresh"));
    expect(within(row).getByTestId("fleet-pnl")).toHaveAttribute("data-stale", "false");
    fail = true;
    await client.refetchQueries({ queryKey: ["/api/fleet/pnl-today"] });
    await waitFor(() => expect(within(row).getByTestId("fleet-spark")).toHaveAttribute("data-state", "stale"));
    expect(within(row).getByTestId("fleet-spark")).toHaveTextContent(/\d+ s old/);
    expect(within(row).getByRole("img")).toHaveAttribute("aria-label", expect.stringContaining("(stale: the latest refresh failed)"));
    // The bots list itself is fresh: its PnL stays coloured.
    expect(within(row).getByTestId("fleet-pnl")).toHaveAttribute("data-stale", "false");
  });
});

describe("the fleet grid beyond 50 bots", () => {
  it("reads every page of bots and shows all of them, 50 at a time, with the count", async () => {
    const names = Array.from({ length: 120 }, (_, i) => `bot-${String(i).padStart(3, "0")}`);
    const all = names.map((name, i) => item({ id: `0190a000-0000-7000-8000-${String(i).padStart(12, "0")}`, name }));
    const limits: string[] = [];
    mock({});
    // The API answers at most 100 per page here: the grid must follow next_cursor.
    server.use(
      http.get("*/api/bots", ({ request }) => {
        const url = new URL(request.url);
        limits.push(url.searchParams.get("limit") ?? "");
        const from = Number(url.searchParams.get("cursor") ?? "0");
        const page = all.slice(from, from + 100);
        return HttpResponse.json(ok({ items: page, next_cursor: from + 100 < all.length ? String(from + 100) : null }));
      }),
    );
    const user = userEvent.setup({ delay: null });
    renderWithApp(<OverviewPage />);
    const count = await screen.findByTestId("fleet-count");
    await waitFor(() => expect(count).toHaveTextContent("Showing 1–50 of 120 bots"));
    expect(limits).toEqual(["500", "500"]);
    const seen = new Set<string>();
    const collect = () => {
      const rows = screen.getAllByTestId("fleet-row");
      for (const r of rows) seen.add(within(r).getByRole("link").textContent ?? "");
      return rows.length;
    };
    expect(collect()).toBe(50);
    expect(screen.getAllByTestId("fleet-card")).toHaveLength(50);
    expect(screen.getByRole("button", { name: /Previous/ })).toBeDisabled();
    await user.click(screen.getByRole("button", { name: /Next/ }));
    expect(count).toHaveTextContent("Showing 51–100 of 120 bots");
    expect(collect()).toBe(50);
    await user.click(screen.getByRole("button", { name: /Next/ }));
    expect(count).toHaveTextContent("Showing 101–120 of 120 bots");
    expect(screen.getByText("page 3 of 3")).toBeInTheDocument();
    expect(collect()).toBe(20);
    expect(screen.getByRole("button", { name: /Next/ })).toBeDisabled();
    expect([...seen].sort()).toEqual(names);
    await user.click(screen.getByRole("button", { name: /Previous/ }));
    expect(count).toHaveTextContent("Showing 51–100 of 120 bots");
  }, 60_000);
});
