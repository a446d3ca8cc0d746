// Issue 15, part 7: the Strategy Lab end to end against the real server and the sandbox's bar
// history. Run a backtest from the form (a field refusal first), watch its progress become a
// result with metric cards and charts, export its trades as CSV, cancel a long run, sweep two
// parameters into a heatmap, compare two runs, and create a bot from a result (its page lists
// the backtest). Every figure the UI shows is checked against what the API says.
//
// One serial story on one stack whose clock is a Wednesday in December 2026, so the ranges
// below are in the past and the sandbox serves them deterministically.
import fs from "node:fs";
import { expect, test, type Browser, type Page } from "@playwright/test";
import { ApiSession, type Json } from "./support/api";
import { Stack } from "./support/stack";
import { expectSignedIn, openTab, shot, signIn } from "./support/ui";

const ADMIN = { email: "admin@lab.e2e", password: "lab-e2e-password-1" };
const NOW = new Date("2026-12-02T15:00:00Z");
/** Mon 2026-11-16 … Fri 2026-11-20 (UTC days), 5-minute bars. */
const WEEK = { first: "2026-11-16", last: "2026-11-20" };

test.describe.configure({ mode: "serial" });

let stack: Stack;
let page: Page;
let api: ApiSession;
let firstId: string;

test.beforeAll(async ({ browser }: { browser: Browser }) => {
  stack = await Stack.create("lab", { clockStart: NOW });
  await stack.createUser(ADMIN.email, ADMIN.password, "admin");
  await stack.startSandbox();
  await stack.startServer({ providers: "sandbox", env: { TRADEPLANE_FIRST_ADMIN_2FA_GRACE: "24h" } });
  api = await ApiSession.signIn(stack.baseURL, ADMIN.email, ADMIN.password);
  page = await stack.newPage(browser);
});

test.afterAll(async () => {
  await api?.dispose();
  await page?.context().close();
  await stack?.dispose();
});

const form = () => page.getByRole("dialog", { name: "New backtest" });

async function openForm(): Promise<void> {
  await page.getByRole("button", { name: "New backtest" }).click();
  await expect(form()).toBeVisible();
}

async function fillStrategy(opts: { fast: string; slow: string; timeframe?: string; first?: string; last?: string }): Promise<void> {
  const f = form();
  await f.getByLabel("Strategy", { exact: true }).selectOption("sma_crossover");
  await f.getByLabel("Symbol").selectOption("ES");
  await f.getByLabel("Timeframe").selectOption(opts.timeframe ?? "5m");
  await f.getByLabel("Fast period (bars)").fill(opts.fast);
  await f.getByLabel("Slow period (bars)").fill(opts.slow);
  await f.getByLabel("First day (UTC)").fill(opts.first ?? WEEK.first);
  await f.getByLabel("Last day (UTC, included)").fill(opts.last ?? WEEK.last);
  // Wide loss limits: no kill trigger ends the week early.
  await f.getByLabel("Daily loss limit (USD, optional)").fill("50000");
  await f.getByLabel("Max drawdown (USD, optional)").fill("50000");
}

/** The backtest id of the result page the browser is on. */
function idInUrl(kind: "backtests" | "sweeps"): string {
  const m = new RegExp(`/lab/${kind}/([0-9a-f-]{36})`).exec(page.url());
  expect(m, page.url()).not.toBeNull();
  return m![1]!;
}

test("runs a backtest from the form: a refused field first, then progress, then the result", async () => {
  await page.goto("/");
  await signIn(page, ADMIN);
  await expectSignedIn(page, ADMIN.email);
  await openTab(page, "Lab", "Strategy Lab");
  await openForm();
  await fillStrategy({ fast: "5", slow: "20" });
  // The server refuses 500 ticks of slippage and names the field: shown beside it.
  await form().getByLabel("Slippage (ticks per fill)").fill("500");
  await form().getByRole("button", { name: "Run backtest" }).click();
  const slippage = form().getByLabel("Slippage (ticks per fill)");
  await expect(slippage).toHaveAttribute("aria-invalid", "true");
  await expect(form().getByTestId("action-error")).toContainText("VALIDATION_FAILED");
  await shot(page, "lab-form-field-error", { fullPage: false });
  await slippage.fill("1");
  await form().getByRole("button", { name: "Run backtest" }).click();

  await expect(page).toHaveURL(/\/lab\/backtests\//);
  firstId = idInUrl("backtests");
  await expect(page.getByRole("heading", { level: 1, name: "Backtest ES 5m" })).toBeVisible();
  await expect(page.getByRole("progressbar").first()).toBeVisible();
  await expect(page.getByText("SUCCEEDED", { exact: true }).first()).toBeVisible({ timeout: 60_000 });
  await expect(page.getByRole("progressbar").first()).toHaveAttribute("aria-valuenow", "100");

  const detail = (await api.get(`/api/backtests/${firstId}`)) as { backtest: Json & { metrics: Json }; trades: Json[] };
  const m = detail.backtest.metrics as { net_pnl: string; trades: number; win_rate_pct: number | null };
  expect(m.trades).toBeGreaterThan(0);
  const net = Number(m.net_pnl);
  const usd = new Intl.NumberFormat("en-US", { style: "currency", currency: "USD" }).format(Math.abs(net));
  await expect(page.getByTestId("metric-net_pnl")).toContainText(`${net > 0 ? "+" : net < 0 ? "−" : ""}${usd}`);
  await expect(page.getByTestId("metric-net_pnl").getByRole("definition")).toHaveAttribute("title", `${m.net_pnl} USD after commissions`);
  await expect(page.getByTestId("metric-trades")).toContainText(String(m.trades));
  if (m.win_rate_pct !== null) await expect(page.getByTestId("metric-win_rate_pct")).toContainText(`${m.win_rate_pct.toFixed(1)} %`);
  // No raw float anywhere in the cards.
  for (const text of await page.getByRole("definition").allTextContents()) expect(text).not.toMatch(/\d\.\d{5,}/);

  // Charts on a time axis: equity, drawdown, price with entries and exits.
  await expect(page.getByTestId("backtest-equity-chart").locator("canvas").first()).toBeVisible();
  await expect(page.getByRole("figure", { name: "Drawdown" }).locator("canvas").first()).toBeVisible();
  await expect(page.getByTestId("price-chart").locator("canvas").first()).toBeVisible();
  const bars = (await api.get(`/api/backtests/${firstId}/bars?max_candles=1500`)) as { candles: unknown[]; source_bars: number };
  expect(bars.candles.length).toBeGreaterThan(0);
  await expect(page.getByTestId("price-chart-note")).toContainText(`${bars.candles.length.toLocaleString("en-US")} candles`);
  await expect(page.getByTestId("price-chart-note")).toContainText(`${detail.trades.length} entries`);
  await expect(page.getByRole("table", { name: "Backtest trades" }).locator("tbody tr")).toHaveCount(detail.trades.length);
  const counts = (detail.backtest.no_trade_counts ?? {}) as Record<string, number>;
  for (const code of Object.keys(counts)) await expect(page.getByRole("table", { name: "No-trade reasons" })).toContainText(code);
  await shot(page, "lab-backtest-result");
});

test("exports the trades as CSV with the API's exact values", async () => {
  const detail = (await api.get(`/api/backtests/${firstId}`)) as { trades: Record<string, unknown>[] };
  const [download] = await Promise.all([page.waitForEvent("download"), page.getByRole("button", { name: "Export CSV" }).click()]);
  expect(download.suggestedFilename()).toBe(`backtest-${firstId.slice(0, 8)}-ES-5m-trades.csv`);
  const text = fs.readFileSync((await download.path())!, "utf8");
  const lines = text.trimEnd().split("\r\n");
  expect(lines[0]).toBe("seq,side,qty,entry_ts,entry_price,exit_ts,exit_price,gross_pnl,commission,net_pnl");
  expect(lines).toHaveLength(detail.trades.length + 1);
  const t = detail.trades[0]!;
  expect(lines[1]).toBe([t.seq, t.side, t.qty, t.entry_ts, t.entry_price, t.exit_ts, t.exit_price, t.gross_pnl, t.commission, t.net_pnl].join(","));
});

test("cancels a long backtest from its page", async () => {
  await page.goto("/lab");
  await openForm();
  // Half a year of 1-minute bars: the sandbox's history takes a while to load.
  await fillStrategy({ fast: "5", slow: "20", timeframe: "1m", first: "2026-05-04", last: "2026-11-20" });
  await form().getByRole("button", { name: "Run backtest" }).click();
  await expect(page).toHaveURL(/\/lab\/backtests\//);
  const id = idInUrl("backtests");
  // Live progress while it loads its bars (0–20 %) before the engine runs.
  const progress = page.getByTestId("run-progress");
  await expect(progress).toContainText(/Running: [1-9]\d?%/, { timeout: 30_000 });
  const shown = Number(/Running: (\d+)%/.exec((await progress.textContent()) ?? "")![1]);
  expect(shown).toBeLessThan(100);
  expect(Number(await page.getByRole("progressbar").first().getAttribute("aria-valuenow"))).toBeLessThan(100);
  await shot(page, "lab-backtest-running");
  await page.getByRole("button", { name: "Cancel backtest" }).click();
  const confirm = page.getByRole("alertdialog", { name: "Cancel backtest job" });
  await expect(confirm).toContainText("CANCELLED_BY_OPERATOR");
  await confirm.getByRole("button", { name: "Cancel job" }).click();
  await expect(page.getByRole("alert").filter({ hasText: "CANCELLED" })).toBeVisible();
  const after = (await api.get(`/api/backtests/${id}`)) as { backtest: { status: string; error_code: string | null; metrics: unknown } };
  expect(after.backtest.status).toBe("CANCELLED");
  expect(after.backtest.metrics ?? null).toBeNull();
  await expect(page.getByRole("button", { name: "Cancel backtest" })).toBeDisabled();
  await shot(page, "lab-backtest-cancelled");
});

test("sweeps two parameters into a ranking and a heatmap", async () => {
  await page.goto("/lab");
  await openForm();
  await fillStrategy({ fast: "5, 10", slow: "20, 40" });
  await form().getByLabel("Sweep parameters").check();
  await form().getByRole("button", { name: "Run sweep" }).click();
  await expect(page).toHaveURL(/\/lab\/sweeps\//);
  const id = idInUrl("sweeps");
  await expect(page.getByRole("heading", { level: 1, name: /Sweep ES 5m sma_crossover/ })).toBeVisible();
  await expect(page.getByText("SUCCEEDED", { exact: true }).first()).toBeVisible({ timeout: 90_000 });
  const view = (await api.get(`/api/backtests/sweeps/${id}`)) as { ranking: { params: Record<string, number>; in_sample: { net_pnl: string } | null }[] };
  expect(view.ranking).toHaveLength(4);
  await expect(page.getByTestId("ranking-row")).toHaveCount(4);
  // The server's order: the first row is the best by the objective (net PnL).
  const best = view.ranking[0]!;
  await expect(page.getByTestId("ranking-row").first()).toContainText(`fast=${best.params.fast}, slow=${best.params.slow}`);
  const heatmap = page.getByTestId("sweep-heatmap");
  await expect(heatmap.locator("tbody tr")).toHaveCount(2);
  for (const row of view.ranking) {
    const cell = heatmap.getByRole("link", { name: new RegExp(`^fast=${row.params.fast}, slow=${row.params.slow}: Net PnL`) });
    await expect(cell).toBeVisible();
    const net = Number(row.in_sample!.net_pnl);
    await expect(cell).toContainText(new Intl.NumberFormat("en-US", { style: "currency", currency: "USD" }).format(Math.abs(net)));
  }
  await shot(page, "lab-sweep-heatmap");
});

test("compares two runs side by side with their equity overlaid", async () => {
  const second = (await api.post("/api/backtests", {
    strategy: { kind: "donchian_breakout", params: { lookback: 20 } },
    symbol: "ES",
    timeframe: "5m",
    from: `${WEEK.first}T00:00:00Z`,
    to: "2026-11-21T00:00:00Z",
    risk: { daily_loss_limit: "50000", max_drawdown: "50000" },
  })) as { backtest: { id: string } };
  const secondId = second.backtest.id;
  await page.goto("/lab");
  await expect(page.getByTestId(`backtest-${secondId}`).getByText("SUCCEEDED", { exact: true })).toBeVisible({ timeout: 60_000 });
  await page.getByRole("checkbox", { name: `Compare backtest ${firstId}` }).check();
  await page.getByRole("checkbox", { name: `Compare backtest ${secondId}` }).check();
  await shot(page, "lab-list");
  await page.getByRole("button", { name: /^Compare/ }).click();
  await expect(page.getByRole("heading", { level: 1, name: "Compare 2 backtests" })).toBeVisible();
  const nets = await Promise.all([firstId, secondId].map(async (id) => ((await api.get(`/api/backtests/${id}`)) as { backtest: { metrics: { net_pnl: string } } }).backtest.metrics.net_pnl));
  const row = page.getByTestId("compare-net_pnl");
  for (const n of nets) await expect(row).toContainText(new Intl.NumberFormat("en-US", { style: "currency", currency: "USD" }).format(Math.abs(Number(n))));
  await expect(page.getByRole("figure", { name: "Equity" }).locator("canvas").first()).toBeVisible();
  await shot(page, "lab-compare");
});

test("creates a bot from a result; the bot's page lists the backtest", async () => {
  await page.goto(`/lab/backtests/${firstId}`);
  await page.getByLabel("Name (optional)").fill("lab-e2e-from-result");
  await page.getByRole("button", { name: "Create bot" }).click();
  const link = page.getByTestId("created-bot-link");
  await expect(link).toHaveText("lab-e2e-from-result");
  await link.click();
  await expect(page.getByRole("heading", { name: "lab-e2e-from-result" })).toBeVisible();
  const bots = (await api.get("/api/bots?limit=50")) as { items: { id: string; name: string; stage: string }[] };
  const made = bots.items.find((b) => b.name === "lab-e2e-from-result")!;
  expect(made.stage).toBe("LAB");
  // The backtest is the bot's evidence: listed on its page.
  const listed = page.getByRole("table", { name: "Bot backtests" });
  await expect(listed.getByRole("link")).toHaveCount(1);
  await shot(page, "lab-bot-from-result");

  // "Backtest this bot" opens the form on the bot as it is now; its run is listed too.
  await page.getByRole("link", { name: "Backtest this bot" }).click();
  await expect(form()).toBeVisible();
  await expect(form().getByLabel("Bot", { exact: true })).toHaveValue(made.id);
  await form().getByLabel("First day (UTC)").fill(WEEK.first);
  await form().getByLabel("Last day (UTC, included)").fill(WEEK.last);
  await form().getByRole("button", { name: "Run backtest" }).click();
  await expect(page).toHaveURL(/\/lab\/backtests\//);
  const own = idInUrl("backtests");
  await expect(page.getByText("SUCCEEDED", { exact: true }).first()).toBeVisible({ timeout: 60_000 });
  const ownRun = (await api.get(`/api/backtests/${own}`)) as { backtest: { bot_id: string } };
  expect(ownRun.backtest.bot_id).toBe(made.id);
  await page.goto(`/bots/${made.id}`);
  await expect(page.getByRole("table", { name: "Bot backtests" }).getByRole("link")).toHaveCount(2);
});
