import { beforeEach, describe, expect, it, vi } from "vitest";
import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { http, HttpResponse } from "msw";
import { server } from "../../test/server";
import { apiError, ok, renderWithApp } from "../../test/render";
import type { BotStatus, Stage } from "../../queries/bots";
import { BotDetail } from "./BotDetailPage";
import { EquityCurve, localSeconds } from "./EquityCurve";
import { bot, BOT_ID, killSwitchHandler, meHandler, order, position, summary, trade } from "./fixtures.test-util";

// Form typing and routing under a loaded 2-core machine: more than the 5 s default.
vi.setConfig({ testTimeout: 20_000 });

// The trace viewers, the Why-not drawer and the autonomy component belong to other modules with
// their own tests; here they are stand-ins that show what they were given.
vi.mock("./traces", () => ({
  TraceViewer: ({ botId, kind }: { botId: string; kind: string }) => <div data-testid="trace-viewer">{`${kind} traces of ${botId}`}</div>,
  WhyNotDrawer: ({ botId, onClose }: { botId: string; onClose: () => void }) => (
    <div role="dialog" aria-label="Why not trading">
      why-not {botId}
      <button type="button" onClick={onClose}>Close</button>
    </div>
  ),
}));
vi.mock("../autonomy/AutonomyScore", () => ({
  AutonomyScore: ({ botId }: { botId: string }) => <div data-testid="autonomy-score">autonomy of {botId}</div>,
  AutonomyCompact: ({ score, tier }: { score?: number | null; tier?: string | null }) => <span data-testid="autonomy-compact">{tier ?? "unscored"} {score ?? ""}</span>,
}));
const chart = vi.hoisted(() => ({ data: [] as unknown[], options: [] as unknown[] }));
vi.mock("lightweight-charts", () => ({
  ColorType: { Solid: "solid" },
  BaselineSeries: "Baseline",
  createChart: (_el: HTMLElement, options: unknown) => {
    chart.options.push(options);
    return {
      addSeries: () => ({ setData: (d: unknown[]) => (chart.data = d), applyOptions: () => {} }),
      applyOptions: () => {},
      timeScale: () => ({ fitContent: () => {} }),
      remove: () => {},
    };
  },
}));

function detailHandlers(opts: { status?: BotStatus; stage?: Stage; trades?: unknown[]; pos?: unknown; todayUnrealized?: string | null } = {}) {
  const b = bot({ status: opts.status ?? "RUNNING", stage: opts.stage ?? "PAPER" });
  return [
    http.get(`*/api/bots/${BOT_ID}`, () =>
      HttpResponse.json(
        ok({
          bot: b,
          contract: null,
          runner: { bot_id: BOT_ID, status: b.status, breaker_state: "CLOSED", live: false, restart_count: 0, ticks: 42, last_heartbeat_at: new Date().toISOString(), started_at: "2026-11-26T09:00:00Z", kill_reason: b.status === "KILLED" ? "daily loss limit" : null },
          summary: summary({}, "todayUnrealized" in opts ? { unrealized: opts.todayUnrealized } : {}),
        }),
      ),
    ),
    http.get(`*/api/bots/${BOT_ID}/position`, () => HttpResponse.json(ok((opts.pos as object) ?? { ...position, working_orders: [order()] }))),
    http.get(`*/api/bots/${BOT_ID}/trades`, () => HttpResponse.json(ok({ items: opts.trades ?? [trade()], next_cursor: null }))),
    http.get(`*/api/bots/${BOT_ID}/orders`, () => HttpResponse.json(ok({ items: [order()], next_cursor: null }))),
    http.get("*/api/backtests", ({ request }) => {
      backtestQueries.push(new URL(request.url).searchParams.get("bot_id"));
      return HttpResponse.json(ok({ items: [backtestRow()], next_cursor: null }));
    }),
    killSwitchHandler(false),
  ];
}

const backtestQueries: (string | null)[] = [];

function backtestRow() {
  return {
    id: "0190a000-0000-7000-8000-0000000000b1",
    job_id: "0190a000-0000-7000-8000-0000000000b2",
    bot_id: BOT_ID,
    status: "SUCCEEDED",
    progress_pct: 100,
    created_at: "2026-11-26T09:30:00Z",
    from: "2026-11-16T00:00:00Z",
    to: "2026-11-21T00:00:00Z",
    symbol: "ES",
    timeframe: "5m",
    strategy_kind: "sma_crossover",
    strategy_params: { fast: 5, slow: 20 },
    strategy_hash: "s",
    inputs_hash: "i",
    commission_per_side: "2.25",
    slippage_ticks: 1,
    starting_capital: "100000",
    risk_limits: {},
    metrics: { net_pnl: "1234.50", trades: 7 },
  };
}

beforeEach(() => {
  chart.data = [];
  chart.options = [];
});

describe("BotDetail", () => {
  it("shows the header, position & PnL, equity curve, traces, trades and orders", async () => {
    server.use(meHandler("admin"), ...detailHandlers());
    renderWithApp(<BotDetail botId={BOT_ID} />, { path: `/bots/${BOT_ID}` });
    expect(await screen.findByRole("heading", { name: "es-sma-paper" })).toBeInTheDocument();
    const header = screen.getByRole("heading", { name: "es-sma-paper" }).closest("header")!;
    expect(header).toHaveTextContent("ES · 1m");
    expect(within(header).getByTitle("A runner evaluates every bar and may trade.")).toHaveTextContent("RUNNING");
    expect(within(header).getByText("PAPER")).toBeInTheDocument();
    expect(within(header).getByTestId("autonomy-compact")).toHaveTextContent("LIMITED_AUTONOMY 72");
    expect(header).toHaveTextContent("Ticks: 42");

    // Position & PnL
    expect(await screen.findByTestId("position-qty")).toHaveTextContent("Long 1 ES");
    expect(screen.getByTestId("unrealized-pnl")).toHaveTextContent("+$112.50");
    expect(screen.getByText(/1m close from databento/)).toBeInTheDocument();
    expect(screen.getByTestId("today-pnl")).toHaveTextContent("+$100.50");
    // The fixture's mark (bar of 2026-11-26 12:59 UTC) is far past the 1m bar + 125 s limit:
    // both PnLs that rest on it are greyed with their age, never green.
    for (const id of ["unrealized-pnl", "today-pnl"]) {
      const stale = screen.getByTestId(id).querySelector('[data-stale="true"]');
      expect(stale).not.toBeNull();
      expect(stale).toHaveTextContent(/\(\d+ (d|h|min) old\)/);
      expect(screen.getByTestId(id).querySelector(".text-ok")).toBeNull();
    }
    expect(screen.getByRole("list", { name: "Working orders" })).toHaveTextContent("1 × MARKET");

    // Equity curve: one closed trade, net 100 − 4.50; attribution logo kept on.
    await waitFor(() => expect(chart.data).toHaveLength(2));
    expect(chart.data[1]).toEqual({ time: localSeconds(Date.parse("2026-11-26T10:05:00Z") / 1000), value: 95.5 });
    expect((chart.options[0] as { layout: { attributionLogo: boolean } }).layout.attributionLogo).toBe(true);
    expect(screen.getByText(/over 1 closed trade$/)).toBeInTheDocument();

    // Autonomy and traces are mounted for this bot.
    expect(screen.getByTestId("autonomy-score")).toHaveTextContent(`autonomy of ${BOT_ID}`);
    expect(screen.getByRole("tab", { name: "Why traded" })).toHaveAttribute("aria-selected", "true");
    expect(screen.getByTestId("trace-viewer")).toHaveTextContent(`decision traces of ${BOT_ID}`);

    const trades = await screen.findByRole("table", { name: "Trades" });
    expect(trades).toHaveTextContent("+$100.00");
    expect(trades).toHaveTextContent("+$95.50");
    const orders = screen.getByRole("table", { name: "Orders" });
    expect(within(orders).getByRole("link", { name: "Why traded" })).toHaveAttribute("href", expect.stringContaining("trace=0190a000-0000-7000-8000-0000000000e1"));
    // The bot's backtests, asked for by its id, each opening its result in the Lab.
    const backtests = await screen.findByRole("table", { name: "Bot backtests" });
    expect(backtests).toHaveTextContent("2026-11-16 → 2026-11-21");
    expect(backtests).toHaveTextContent("+$1,234.50");
    expect(within(backtests).getByRole("link")).toHaveAttribute("href", "/lab/backtests/0190a000-0000-7000-8000-0000000000b1");
    expect(backtestQueries).toContain(BOT_ID);
    expect(screen.getByRole("link", { name: "Backtest this bot" })).toHaveAttribute("href", `/lab?bot=${BOT_ID}`);
    // Running: no "Not trading" callout.
    expect(screen.queryByRole("alert", { name: "Not trading" })).not.toBeInTheDocument();
  });

  it("says the open PnL is unknown without a mark, and draws no curve without closed trades", async () => {
    server.use(
      meHandler("viewer"),
      ...detailHandlers({
        todayUnrealized: null,
        trades: [trade({ closed_at: null, exit_price: null, realized_pnl: null })],
        pos: { position: { ...position.position, quantity: -2 }, working_orders: [], mark: null, unrealized_pnl: null },
      }),
    );
    renderWithApp(<BotDetail botId={BOT_ID} />, { path: `/bots/${BOT_ID}` });
    expect(await screen.findByTestId("position-qty")).toHaveTextContent("Short 2 ES");
    expect(screen.getByTestId("unrealized-pnl")).toHaveTextContent("unknown without a mark");
    expect(screen.getByTestId("unrealized-pnl")).not.toHaveTextContent("$");
    expect(screen.getByText("no bar of ES was ever fetched")).toBeInTheDocument();
    // Today's PnL: realized is known, the open part is not, so the total is unknown (never a zero).
    expect(screen.getByTestId("today-pnl")).toHaveTextContent(/^unknown$/);
    expect(screen.getByText(/realized \+\$125\.50 net \(2 closed\) \+ open unknown \(no mark\)/)).toBeInTheDocument();
    expect(await screen.findByText("No closed trades yet")).toBeInTheDocument();
    expect(screen.getByText(/this bot has 1 open trade and none closed yet/)).toBeInTheDocument();
    expect(chart.data).toEqual([]);
  });

  it("shows a prominent Not trading callout for a SUSPENDED bot that opens the Why-not drawer (deep link kept in the URL)", async () => {
    server.use(meHandler("operator"), ...detailHandlers({ status: "SUSPENDED" }));
    const user = userEvent.setup({ delay: null });
    const { router } = renderWithApp(<BotDetail botId={BOT_ID} />, { path: `/bots/${BOT_ID}` });
    const callout = await screen.findByRole("alert", { name: "Not trading" });
    expect(callout).toHaveTextContent("Not trading: SUSPENDED");
    expect(callout).toHaveTextContent("a gate blocks every trade");
    await user.click(within(callout).getByRole("button", { name: "Why not trading" }));
    expect(await screen.findByRole("dialog", { name: "Why not trading" })).toHaveTextContent(`why-not ${BOT_ID}`);
    expect(router.state.location.search).toMatchObject({ panel: "why-not" });
    await user.click(screen.getByRole("button", { name: "Close" }));
    await waitFor(() => expect(screen.queryByRole("dialog", { name: "Why not trading" })).not.toBeInTheDocument());
    expect(router.state.location.search).not.toHaveProperty("panel");
  });

  it("KILLED: callout with the kill reason", async () => {
    server.use(meHandler("operator"), ...detailHandlers({ status: "KILLED" }));
    renderWithApp(<BotDetail botId={BOT_ID} />, { path: `/bots/${BOT_ID}` });
    const callout = await screen.findByRole("alert", { name: "Not trading" });
    expect(callout).toHaveTextContent("Not trading: KILLED");
    expect(callout).toHaveTextContent("Kill reason: daily loss limit");
  });

  it("deep links: ?panel=why-not opens the drawer; ?panel=traces&tab=no-trade selects Why not", async () => {
    server.use(meHandler("operator"), ...detailHandlers());
    const first = renderWithApp(<BotDetail botId={BOT_ID} />, { path: `/bots/${BOT_ID}?panel=why-not` });
    expect(await screen.findByRole("dialog", { name: "Why not trading" })).toBeInTheDocument();
    first.unmount();

    const user = userEvent.setup({ delay: null });
    const { router } = renderWithApp(<BotDetail botId={BOT_ID} />, { path: `/bots/${BOT_ID}?panel=traces&tab=no-trade` });
    expect(await screen.findByRole("tab", { name: "Why not" })).toHaveAttribute("aria-selected", "true");
    expect(screen.getByTestId("trace-viewer")).toHaveTextContent(`no-trade traces of ${BOT_ID}`);
    expect(screen.queryByRole("dialog", { name: "Why not trading" })).not.toBeInTheDocument();
    await user.click(screen.getByRole("tab", { name: "Why traded" }));
    await waitFor(() => expect(router.state.location.search).toMatchObject({ panel: "traces", tab: "decision" }));
    expect(screen.getByTestId("trace-viewer")).toHaveTextContent("decision traces");
  });

  it("not found and forbidden: the server's code, message and trace id", async () => {
    server.use(
      meHandler("operator"),
      http.get(`*/api/bots/${BOT_ID}`, () => HttpResponse.json(apiError("BOT_NOT_FOUND", `No bot with id ${BOT_ID} exists.`), { status: 404 })),
    );
    const first = renderWithApp(<BotDetail botId={BOT_ID} />, { path: `/bots/${BOT_ID}` });
    expect(await screen.findByText("Bot not found")).toBeInTheDocument();
    expect(screen.getByRole("alert")).toHaveTextContent("4bf92f3577b34da6a3ce929d0e0e4736");
    first.unmount();

    server.use(http.get(`*/api/bots/${BOT_ID}`, () => HttpResponse.json(apiError("FORBIDDEN", "Your role may not read this bot."), { status: 403 })));
    renderWithApp(<BotDetail botId={BOT_ID} />, { path: `/bots/${BOT_ID}` });
    expect(await screen.findByText(/FORBIDDEN: Your role may not read this bot/)).toBeInTheDocument();
    expect(screen.queryByText("Bot not found")).not.toBeInTheDocument();
  });

  it("greys today's PnL by the freshness of the bot answer that carried it, not the position's", async () => {
    const markedAt = new Date(Date.now() - 30_000).toISOString();
    let botFails = false;
    const b = bot();
    server.use(
      // Listed first: msw takes the first matching handler.
      http.get(`*/api/bots/${BOT_ID}`, () =>
        botFails
          ? HttpResponse.json(apiError("DATABASE_UNAVAILABLE", "The database is unreachable."), { status: 503 })
          : HttpResponse.json(ok({ bot: b, contract: null, runner: null, summary: summary({}, { marked_at: markedAt }) })),
      ),
      http.get(`*/api/bots/${BOT_ID}/position`, () => HttpResponse.json(ok({ ...position, mark: { ...position.mark, bar_at: markedAt } }))),
      meHandler("viewer"),
      ...detailHandlers(),
    );
    const { client } = renderWithApp(<BotDetail botId={BOT_ID} />, { path: `/bots/${BOT_ID}` });
    const today = await screen.findByTestId("today-pnl");
    await waitFor(() => expect(today.querySelector(".text-ok")).not.toBeNull());
    expect(screen.getByTestId("unrealized-pnl").querySelector(".text-ok")).not.toBeNull();
    // The bot's refetch fails; the position keeps answering: only today's PnL is the last good value.
    botFails = true;
    await client.refetchQueries({ queryKey: ["/api/bots/{id}", BOT_ID] });
    await waitFor(() => expect(today.querySelector('[data-stale="true"]')).not.toBeNull());
    expect(today.querySelector(".text-ok")).toBeNull();
    expect(today.querySelector('[data-stale="true"]')).toHaveAttribute("title", expect.stringContaining("the latest refresh failed"));
    expect(screen.getByTestId("unrealized-pnl").querySelector(".text-ok")).not.toBeNull();
    expect(screen.getByTestId("unrealized-pnl").querySelector('[data-stale="true"]')).toBeNull();
  });

  it("labels the equity header as covering only the newest trades when older ones were left out, not coloured as the bot's result", async () => {
    let page = 0;
    server.use(
      http.get(`*/api/bots/${BOT_ID}/trades`, () => {
        page += 1;
        return HttpResponse.json(ok({ items: [trade({ id: `0190a000-0000-7000-8000-${String(page).padStart(12, "0")}` })], next_cursor: `c${page}` }));
      }),
    );
    renderWithApp(<EquityCurve botId={BOT_ID} />, { path: `/bots/${BOT_ID}` });
    const total = await screen.findByTestId("equity-total");
    expect(total).toHaveAttribute("data-partial", "true");
    // 10 pages read (1 trade each here), more left: the figure is the newest 10 trades' only.
    expect(total).toHaveTextContent("Net realized of the newest 10 trades only +$955.00 over 10 closed trades; older trades not counted");
    expect(total.querySelector(".text-ok")).toBeNull();
    expect(screen.getByText(/Only the newest 5000 trades are counted/)).toBeInTheDocument();
  });

  it("degraded: a failing position endpoint shows its code and trace id in its panel, the rest still renders", async () => {
    server.use(
      // Listed first: msw takes the first matching handler.
      http.get(`*/api/bots/${BOT_ID}/position`, () =>
        HttpResponse.json(apiError("DATABASE_UNAVAILABLE", "The database is unreachable.", "abcdefabcdefabcdefabcdefabcdefab"), { status: 503 }),
      ),
      meHandler("operator"),
      ...detailHandlers(),
    );
    renderWithApp(<BotDetail botId={BOT_ID} />, { path: `/bots/${BOT_ID}` });
    expect(await screen.findByText(/DATABASE_UNAVAILABLE: The database is unreachable/)).toBeInTheDocument();
    const panel = screen.getByRole("heading", { name: "Position & PnL" }).closest("section")!;
    expect(panel).toHaveTextContent("abcdefabcdefabcdefabcdefabcdefab");
    expect(screen.queryByTestId("unrealized-pnl")).not.toBeInTheDocument();
    expect(await screen.findByRole("table", { name: "Trades" })).toBeInTheDocument();
  });
});
