// Issue 19, "Checks": Explain in the web app end to end. With the sandbox LLMs on, Explain in
// the Why-not drawer answers with citations that are the bot's own traces (checked against the
// API) and link to them; a SEV-1 incident about the bot (its kill) explains the same way from the
// event drawer; a backtest's Review in the Lab shows the overfitting checks (the API's figures)
// and the LLM's summary. Then the server restarts with no LLM key: Explain is refused with
// AI_PROVIDER_UNAVAILABLE (code, fix, trace id) while the rest of the page keeps working, and
// Review is refused the same way with its checks still shown.
//
// One serial story on one stack whose clock is a Wednesday morning in Chicago (market open).
import { expect, test, type Browser, type Page } from "@playwright/test";
import { ApiSession, type Json } from "./support/api";
import { Stack } from "./support/stack";
import { expectSignedIn, shot, signIn } from "./support/ui";

const ADMIN = { email: "admin@ai.e2e", password: "ai-e2e-password-1" };
const MARKET_OPEN = new Date("2026-12-02T15:00:00Z");
const GRACE = { TRADEPLANE_FIRST_ADMIN_2FA_GRACE: "24h" };
/** Every LLM key emptied: the providers are then not configured. */
const NO_LLM = {
  ...GRACE,
  OPENAI_API_KEY: "",
  ANTHROPIC_API_KEY: "",
  GEMINI_API_KEY: "",
  GROQ_API_KEY: "",
  XAI_API_KEY: "",
  OPENROUTER_API_KEY: "",
};

test.describe.configure({ mode: "serial" });

let stack: Stack;
let page: Page;
let api: ApiSession;
let botId: string;
let backtestId: string;

type Trace = Json & { id: string; trace_id: string };

async function traceIdsOf(kind: "decision-traces" | "no-trade-traces"): Promise<string[]> {
  const body = await api.get(`/api/bots/${botId}/${kind}?limit=50`);
  return (body.items as Trace[]).map((t) => t.trace_id);
}

test.beforeAll(async ({ browser }: { browser: Browser }) => {
  stack = await Stack.create("ai", { clockStart: MARKET_OPEN });
  await stack.createUser(ADMIN.email, ADMIN.password, "admin");
  await stack.startSandbox();
  await stack.startServer({ providers: "sandbox", env: GRACE });
  api = await ApiSession.signIn(stack.baseURL, ADMIN.email, ADMIN.password);
  expect((await api.post("/api/integrations/verify", { provider_id: "databento" })).outcome).toBe("ok");
  botId = await stack.paperBot(api, {
    name: "e2e-ai-explained",
    symbol: "ES",
    timeframe: "1s",
    strategy: { kind: "sma_crossover", params: { fast: 1, slow: 2 } },
  });
  await api.post(`/api/bots/${botId}/start`);
  // The first evaluations are suppressed (no autonomy evidence yet): traces to explain.
  await expect.poll(async () => (await traceIdsOf("no-trade-traces")).length, { timeout: 30_000 }).toBeGreaterThan(0);
  page = await stack.newPage(browser);
});

test.afterAll(async () => {
  await api?.dispose();
  await page?.context().close();
  await stack?.dispose();
});

test("Explain in the Why-not drawer answers from the sandbox LLM, citing the bot's own traces", async () => {
  await page.goto("/");
  await signIn(page, ADMIN);
  await expectSignedIn(page, ADMIN.email);
  await page.goto(`/bots/${botId}?panel=why-not`);
  const drawer = page.getByRole("dialog", { name: "Why not trading" });
  const panel = drawer.getByTestId("explain-panel");
  await panel.getByRole("button", { name: "Explain", exact: true }).click();
  const answer = panel.getByTestId("explain-answer");
  await expect(answer).toBeVisible({ timeout: 30_000 });
  await expect(answer).toContainText("Sandbox answer from openai");
  await expect(answer).toContainText("Answered by openai");
  // Every citation is one of the bot's traces or events as the API lists them.
  const known = new Set([...(await traceIdsOf("no-trade-traces")), ...(await traceIdsOf("decision-traces"))]);
  const events = (await api.get(`/api/system/events?bot_id=${botId}&limit=100`)).items as { trace_id: string }[];
  for (const e of events) known.add(e.trace_id);
  const cited = answer.getByRole("list", { name: "Citations" }).locator("[data-citation]");
  const n = await cited.count();
  expect(n).toBeGreaterThan(0);
  let noTrade: string | null = null;
  for (let i = 0; i < n; i++) {
    const id = (await cited.nth(i).getAttribute("data-citation"))!;
    expect(known.has(id), `cited ${id} is not one of the bot's records`).toBe(true);
    if (!noTrade && (await cited.nth(i).getByRole("link", { name: /Open no-trade trace/ }).count()) > 0) noTrade = id;
  }
  await shot(page, "ai-01-explain-why-not", { fullPage: false });
  // A no-trade citation links to that suppression in this drawer.
  expect(noTrade).not.toBeNull();
  await answer.getByRole("link", { name: `Open no-trade trace ${noTrade}` }).click();
  await expect(page).toHaveURL(new RegExp(`trace=${noTrade}`));
  await expect(drawer.locator(`[data-trace-id="${noTrade}"]`).first()).toBeVisible();
  await page.keyboard.press("Escape");
  await expect(drawer).toBeHidden();
});

test("a SEV-1 incident about the bot (its kill) is explained from the event drawer", async () => {
  await api.post(`/api/bots/${botId}/kill`, { reason: "e2e incident" });
  let eventId = "";
  await expect
    .poll(async () => {
      const items = (await api.get(`/api/system/events?bot_id=${botId}&severity=SEV-1&limit=10`)).items as { id: string; code: string }[];
      eventId = items.find((e) => e.code === "BOT_KILLED")?.id ?? "";
      return eventId;
    }, { timeout: 20_000 })
    .not.toBe("");
  await page.goto(`/events?bot=${botId}&event=${eventId}`);
  const drawer = page.getByRole("dialog", { name: "Event details" });
  await expect(drawer).toContainText("BOT_KILLED");
  const panel = drawer.getByTestId("explain-panel");
  await panel.getByRole("button", { name: "Explain", exact: true }).click();
  const answer = panel.getByTestId("explain-answer");
  await expect(answer).toBeVisible({ timeout: 30_000 });
  await expect(answer.getByRole("list", { name: "Citations" }).locator("[data-citation]").first()).toBeVisible();
  await shot(page, "ai-02-explain-incident", { fullPage: false });
});

test("Review on a backtest result shows the checks with their figures and the LLM's summary", async () => {
  const queued = (await api.post("/api/backtests", {
    strategy: { kind: "sma_crossover", params: { fast: 5, slow: 20 } },
    symbol: "ES",
    timeframe: "5m",
    from: "2026-11-16T00:00:00Z",
    to: "2026-11-21T00:00:00Z",
    risk: { daily_loss_limit: "50000", max_drawdown: "50000" },
  })) as { backtest: { id: string } };
  backtestId = queued.backtest.id;
  let trades = -1;
  await expect
    .poll(async () => {
      const b = (await api.get(`/api/backtests/${backtestId}`)).backtest as { status: string; metrics: { trades: number } | null };
      trades = b.metrics?.trades ?? -1;
      return b.status;
    }, { timeout: 60_000 })
    .toBe("SUCCEEDED");
  await page.goto(`/lab/backtests/${backtestId}`);
  const card = page.getByTestId("review-card");
  await card.getByRole("button", { name: "Review", exact: true }).click();
  const result = card.getByTestId("review-result");
  await expect(result).toBeVisible({ timeout: 30_000 });
  await expect(result.getByTestId("review-summary")).toContainText("Sandbox answer from openai");
  const checks = result.getByRole("list", { name: "Review checks" });
  for (const code of ["FEW_TRADES", "ONE_REGIME", "IS_OOS_GAP", "MANY_COMBINATIONS"]) await expect(checks.locator(`[data-check="${code}"]`)).toBeVisible();
  // The trade count is the backtest's own, as the API reports it.
  const few = checks.locator('[data-check="FEW_TRADES"]');
  await expect(few).toContainText(`${trades} closed trades`);
  await expect(few).toHaveAttribute("data-outcome", trades < 30 ? "FLAGGED" : "PASSED");
  await expect(checks.locator('[data-check="IS_OOS_GAP"]')).toHaveAttribute("data-outcome", "NOT_APPLICABLE");
  await shot(page, "ai-03-backtest-review");
});

test("with no LLM configured, Explain alone is refused with AI_PROVIDER_UNAVAILABLE", async () => {
  await stack.killServer();
  await stack.startServer({ providers: "sandbox", env: NO_LLM });
  await page.goto(`/bots/${botId}?panel=why-not`);
  const drawer = page.getByRole("dialog", { name: "Why not trading" });
  const panel = drawer.getByTestId("explain-panel");
  await panel.getByRole("button", { name: "Explain", exact: true }).click();
  const refusal = panel.getByTestId("explain-refusal");
  await expect(refusal).toContainText("AI_PROVIDER_UNAVAILABLE");
  await expect(refusal).toContainText("Fix: Configure and verify one LLM provider");
  await expect(refusal.locator("[data-trace-id]").first()).toBeVisible();
  await expect(refusal).toContainText("Only Explain is affected");
  // The rest of the page works: the drawer's state and history, the bot page behind it.
  await expect(drawer.getByRole("status", { name: "Current state" })).toBeVisible();
  await expect(drawer.getByRole("list", { name: "Suppressions" })).toBeVisible();
  await shot(page, "ai-04-explain-refused", { fullPage: false });
  await page.keyboard.press("Escape");
  await expect(page.getByRole("heading", { level: 1, name: "e2e-ai-explained" })).toBeVisible();
  await expect(page.getByRole("region", { name: "Traces" })).toBeVisible();
  // And the status does not turn AI's absence into a blocker.
  const status = await api.get("/api/system/status");
  const blockers = (status.blockers as { code: string }[]).map((b) => b.code);
  expect(blockers).not.toContain("AI_PROVIDER_UNAVAILABLE");
  // Review in the Lab: refused the same way, its checks (computed without the LLM) still shown.
  await page.goto(`/lab/backtests/${backtestId}`);
  const card = page.getByTestId("review-card");
  await card.getByRole("button", { name: "Review", exact: true }).click();
  const reviewRefusal = card.getByTestId("review-refusal");
  await expect(reviewRefusal).toContainText("AI_PROVIDER_UNAVAILABLE");
  await expect(reviewRefusal.getByRole("list", { name: "Review checks" }).locator("[data-check]")).toHaveCount(4);
  await expect(page.getByTestId("metric-trades")).toBeVisible();
  await shot(page, "ai-05-review-refused");
});
