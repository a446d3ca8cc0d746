// Issue 9, "Checks": create a bot (LAB; PAPER by set-up), start it, see its traces appear; force a suppression (a
// halt of the data feed) and read it in the Why-not drawer with its trace id; open a breaker
// and watch the tier drop in the autonomy component; enroll 2FA from Settings, sign out, sign in
// with a code, then with a backup code, and see that backup code refused the second time.
// Screenshots of each view.
//
// One story on one stack, in order (serial), on the stack's own clock: a Wednesday morning in
// Chicago, so the market is open and the bot trades. The market-closed path is the last story,
// on a second stack whose clock is a Saturday. The UI steps ask the API what the bot recorded
// and check the UI shows exactly that.
import fs from "node:fs";
import { expect, test, type Browser, type Page } from "@playwright/test";
import { ApiSession, type Json } from "./support/api";
import { Stack } from "./support/stack";
import { TotpDevice } from "./support/totp";
import { expectSignedIn, openTab, shot, signIn, traceIdIn } from "./support/ui";

const ADMIN = { email: "admin@bots.e2e", password: "bots-e2e-password-1" };
const BOT = "e2e-paper-1s";
/** 09:00 CST on a Wednesday (not a CME holiday): equity futures trade. */
const MARKET_OPEN = new Date("2026-12-02T15:00:00Z");
/** A Saturday: CME equity futures never trade (Sunday 17:00 → Friday 16:00 CT). */
const MARKET_CLOSED = new Date("2026-11-28T18:00:00Z");

test.describe.configure({ mode: "serial" });

let stack: Stack;
let page: Page;
let api: ApiSession;
let botId: string;
let totp: TotpDevice;
let backupCodes: string[];

test.beforeAll(async ({ browser }: { browser: Browser }) => {
  stack = await Stack.create("bots", { clockStart: MARKET_OPEN });
  await stack.createUser(ADMIN.email, ADMIN.password, "admin");
  await stack.startSandbox();
  // The admin works in the UI before enrolling 2FA from Settings (the story's last part): the
  // first admin's grace allows that; everyone else must enroll first.
  await stack.startServer({ providers: "sandbox", env: { TRADEPLANE_FIRST_ADMIN_2FA_GRACE: "24h" } });
  // Set-up outside the UI: safe start above LAB needs a verified market-data provider (the
  // Connections tab and its Verify button are issue 8's story).
  api = await ApiSession.signIn(stack.baseURL, ADMIN.email, ADMIN.password);
  const verify = await api.post("/api/integrations/verify", { provider_id: "databento" });
  expect(verify.outcome).toBe("ok");
  page = await stack.newPage(browser);
});

test.afterAll(async () => {
  await api?.dispose();
  await page?.context().close();
  await stack?.dispose();
});

type Trace = Json & { id: string; trace_id: string; created_at: string; blocked_by?: { code: string; gate: string }[] };

async function tracesOf(session: ApiSession, bot: string, kind: "decision-traces" | "no-trade-traces"): Promise<Trace[]> {
  const body = await session.get(`/api/bots/${bot}/${kind}?limit=20`);
  return body.items as Trace[];
}

const latest = (kind: "decision-traces" | "no-trade-traces") => tracesOf(api, botId, kind);
const lifecycle = () => page.getByRole("group", { name: "Lifecycle actions" });
const autonomy = () => page.getByTestId("autonomy-score");
/** The bot's status badge in the detail header, exactly as the API says it. */
const statusIn = (p: Page, status: string) => p.getByTestId("bot-status").getByText(status, { exact: true });
const statusOf = (status: string) => statusIn(page, status);

test("signs in and creates a bot on 1 s bars from the Bots tab; it starts in LAB", async () => {
  await page.goto("/");
  await signIn(page, ADMIN);
  await expectSignedIn(page, ADMIN.email);
  await openTab(page, "Bots");
  await page.getByRole("button", { name: "New bot" }).first().click();
  const form = page.getByRole("dialog", { name: "New bot" });
  await form.getByLabel("Name").fill(BOT);
  await form.getByLabel("Symbol").selectOption("ES");
  await form.getByLabel("Timeframe").selectOption("1s");
  // No stage to choose: a new bot starts in LAB.
  await expect(form.getByLabel("Stage")).toHaveCount(0);
  await form.getByLabel("Strategy", { exact: true }).selectOption("sma_crossover");
  // The shortest crossover: it changes its mind on most 1 s bars, so it trades quickly.
  await form.getByLabel("Fast period (bars)").fill("1");
  await form.getByLabel("Slow period (bars)").fill("2");
  await shot(page, "bots-01-new-bot-form", { fullPage: false });
  await form.getByRole("button", { name: "Create bot" }).click();
  await expect(page.getByRole("heading", { level: 1, name: BOT })).toBeVisible();
  botId = /\/bots\/([0-9a-f-]{36})/.exec(page.url())![1]!;
  await expect(statusOf("STOPPED")).toBeVisible();
  expect(((await api.get(`/api/bots/${botId}`)).bot as { stage: string }).stage).toBe("LAB");
  // Set-up: PAPER, standing in for the backtest its promotion asks for (lab.spec drives that).
  await stack.setStage(botId, "PAPER");
  await page.reload();
  await expect(page.getByRole("heading", { level: 1, name: BOT })).toBeVisible();
});

test("starts it and sees its evaluations explained as traces", async () => {
  await lifecycle().getByRole("button", { name: "Start", exact: true }).click();
  const confirm = page.getByRole("alertdialog", { name: "Start bot" });
  await confirm.getByRole("button", { name: "Start", exact: true }).click();
  await expect(page.getByRole("status").filter({ hasText: "Start: done; the bot is RUNNING." })).toBeVisible();

  // The first score came at start (no evidence yet: LOCKED), so the first evaluations are
  // suppressed by the tier and the bot shows SUSPENDED. Once the runner has read bars and
  // evaluated, the operator asks for a fresh score: the evidence earns SUPERVISED (PAPER only).
  await expect.poll(async () => (await latest("no-trade-traces")).length, { timeout: 15_000 }).toBeGreaterThan(0);
  const tier = autonomy().getByTestId("autonomy-tier");
  await expect(async () => {
    await page.getByRole("button", { name: "Recompute" }).click();
    await expect(tier).toHaveText("SUPERVISED", { timeout: 2_000 });
  }).toPass({ timeout: 20_000 });

  // The market is open on the stack's clock: the bot trades within a few bars.
  let decision: Trace | undefined;
  await expect
    .poll(async () => (decision = (await latest("decision-traces"))[0]) !== undefined, {
      timeout: 30_000,
      message: "no decision was recorded",
    })
    .toBe(true);

  // It traded: a decision puts the bot back to RUNNING.
  const traces = page.getByRole("region", { name: "Traces" });
  await expect(statusOf("RUNNING")).toBeVisible({ timeout: 20_000 });
  await traces.getByRole("tab", { name: "Why traded" }).click();
  const list = traces.getByRole("list", { name: /Why traded/ });
  const row = list.getByRole("listitem").filter({ has: page.getByRole("button", { name: `Copy trace id ${decision!.trace_id}` }) });
  await expect(row).toBeVisible({ timeout: 20_000 });
  await expect(row).toContainText(decision!.decision_type as string);
  await row.getByRole("button", { expanded: false }).first().click();
  for (const section of ["Signals", "Variables snapshot", "Risk snapshot"]) {
    await expect(row.getByRole("heading", { name: section })).toBeVisible();
  }
  await shot(page, "bots-02-running-traces");
});

test("a data halt suspends it; the Why-not drawer names every blocking gate and the trace id", async () => {
  // The halt: the market-data vendor stops answering.
  await stack.stopSandbox();
  const haltAt = stack.now();
  await expect(statusOf("SUSPENDED")).toBeVisible({ timeout: 30_000 });
  const callout = page.getByRole("alert", { name: "Not trading" });
  await callout.getByRole("button", { name: "Why not trading" }).click();
  const drawer = page.getByRole("dialog", { name: "Why not trading" });
  const current = drawer.getByRole("status", { name: "Current state" });
  await expect(current).toContainText("Not trading:");
  // It shows the bot's latest suppression as the server recorded it: same trace, every gate.
  const halt = (t: Trace) =>
    Date.parse(t.last_seen_at as string) > haltAt &&
    (t.blocked_by ?? []).some((b) => b.code === "DATA_STALE" || b.code === "DATA_UNAVAILABLE");
  let last: Trace | undefined;
  await expect
    .poll(async () => {
      last = (await latest("no-trade-traces"))[0];
      return last !== undefined && halt(last) && (await traceIdIn(current).catch(() => "")) === last.trace_id;
    }, { timeout: 30_000, message: "the drawer does not show the latest suppression (the halt)" })
    .toBe(true);
  const gates = current.getByRole("list", { name: "Blocking gates" });
  for (const b of last!.blocked_by!) await expect(gates).toContainText(b.code);
  await expect(current).toContainText(/Lasted\s*\d+\s*evaluation/);
  await shot(page, "bots-03-why-not-drawer", { fullPage: false });
  await page.keyboard.press("Escape");
  await expect(drawer).toBeHidden();
});

test("the provider's breaker opens and the bot's autonomy tier drops", async () => {
  // Still on the bot's page since the halt: its autonomy component watched the tier fall when
  // the vendor's failures opened the provider breaker the bot reads its bars through.
  const card = autonomy();
  await expect(card.getByTestId("autonomy-tier")).toHaveText("LOCKED", { timeout: 20_000 });
  await expect(card.getByTestId("tier-change")).toContainText("Tier dropped from SUPERVISED to LOCKED");
  const gates = card.getByRole("table", { name: "Autonomy gates" });
  const breakerGate = gates.getByRole("row").filter({ hasText: /breaker/i }).first();
  await expect(breakerGate).toContainText(/fail/i);
  await expect(breakerGate).toContainText("OPEN");
  await shot(page, "bots-04-autonomy-tier-dropped");
  // The Overview lists the open breaker.
  await openTab(page, "Overview");
  const breakers = page.getByRole("table", { name: "Circuit breakers" });
  await expect(breakers.getByRole("row").filter({ hasText: "provider:databento" })).toContainText("OPEN");
  await shot(page, "bots-05-overview-breaker-open");
});

test("Why not → Export CSV downloads every no-trade trace the time filter selects, as the API lists them", async () => {
  // A range closed at "now": the rows it selects no longer change while the bot keeps evaluating.
  const to = new Date(stack.now()).toISOString();
  await page.goto(`/bots/${botId}?panel=traces&tab=no-trade&nt_range=custom&nt_to=${encodeURIComponent(to)}`);
  const traces = page.getByRole("region", { name: "Traces" });
  await expect(traces.getByRole("list", { name: /Why not/ })).toBeVisible({ timeout: 20_000 });
  const want: string[] = [];
  for (let cursor: string | null = null; ; ) {
    const body: Json = await api.get(`/api/bots/${botId}/no-trade-traces?limit=500&to=${encodeURIComponent(to)}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
    want.push(...(body.items as Trace[]).map((t) => t.id));
    cursor = (body.next_cursor as string | null) ?? null;
    if (!cursor) break;
  }
  expect(want.length).toBeGreaterThan(0);
  const [download] = await Promise.all([page.waitForEvent("download"), traces.getByRole("button", { name: "Export no trade traces CSV" }).click()]);
  expect(download.suggestedFilename()).toMatch(new RegExp(`^${BOT}-no-trade-traces-\\d{4}-\\d{2}-\\d{2}T\\d{6}Z\\.csv$`));
  await expect(traces.getByRole("status").filter({ hasText: `${want.length} row${want.length === 1 ? "" : "s"} exported` })).toBeVisible();
  const lines = fs.readFileSync((await download.path())!, "utf8").split("\r\n");
  expect(lines.pop()).toBe("");
  const header = lines[0]!.split(",");
  expect(header.slice(0, 12)).toEqual([
    "id", "trace_id", "bot_id", "run_id", "first_seen_at_utc", "last_seen_at_utc", "count",
    "suppression_type", "suppression_decision", "reason_code", "reason", "blocked_by_codes",
  ]);
  const rows = lines.slice(1);
  expect(rows.map((l) => l.split(",")[0])).toEqual(want);
  for (const l of rows) {
    const cells = l.split(",");
    expect(cells[2]).toBe(botId);
    expect(cells[4]).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/);
    expect(Date.parse(cells[4]!)).toBeLessThan(Date.parse(to));
    expect(cells[6]).toMatch(/^\d+$/);
  }
});

test("the Bots list, the Autonomy tab and AI Ops show what the server reports", async () => {
  const bot = (await api.get(`/api/bots/${botId}`)).bot as { status: string; stage: string };
  await openTab(page, "Bots");
  const row = page.getByRole("table", { name: "Bots" }).getByRole("row").filter({ hasText: BOT });
  await expect(row).toContainText("PAPER");
  await expect(row).toContainText(bot.status);
  await expect(row.getByTestId("autonomy-compact")).toContainText("LOCKED");
  await shot(page, "bots-06-list");

  await openTab(page, "Autonomy");
  await expect(page.getByTestId("tier-count-LOCKED")).toContainText("1");
  await expect(page.getByTestId("tier-count-SUPERVISED")).toContainText("0");
  const scored = page.getByRole("table", { name: "Bots by autonomy" }).getByRole("row").filter({ hasText: BOT });
  await expect(scored).toContainText("LOCKED");
  await shot(page, "bots-07-autonomy-tab");

  // No LLM was called on this stack: every provider row says why it has no data.
  await openTab(page, "AI Ops");
  await expect(page.getByRole("row").filter({ hasText: "OpenAI" }).first()).toContainText("No data");
  await shot(page, "bots-08-ai-ops");
});

test("enrolls 2FA from Settings, reading the secret from the page", async () => {
  await openTab(page, "Settings");
  await page.getByRole("button", { name: "Set up two-factor" }).click();
  const dialog = page.getByRole("dialog", { name: "Set up two-factor" });
  await dialog.getByLabel("Current password").fill(ADMIN.password);
  await dialog.getByRole("button", { name: "Continue" }).click();
  const secret = page.getByLabel("Secret key", { exact: true });
  await expect(secret).toHaveText(/^[A-Z2-7]{32}$/);
  await expect(page.getByRole("img", { name: "QR code for your authenticator app" })).toBeVisible();
  // The server checks codes against its own clock.
  totp = new TotpDevice((await secret.textContent())!.trim(), () => stack.now());
  await shot(page, "bots-09-settings-2fa-scan");
  await page.getByLabel("Authenticator code").fill(await totp.nextCode());
  await page.getByRole("button", { name: "Confirm", exact: true }).click();
  const codes = page.getByRole("list", { name: "Backup codes" }).getByRole("listitem");
  await expect(codes).toHaveCount(10);
  backupCodes = (await codes.allTextContents()).map((c) => c.trim());
  expect(backupCodes.every((c) => /^[0-9A-Z]{4}(-[0-9A-Z]{4}){3}$/.test(c))).toBe(true);
  await shot(page, "bots-10-settings-backup-codes");
  const done = page.getByRole("button", { name: "Done" });
  await expect(done).toBeDisabled();
  await page.getByLabel("I saved them").check();
  await done.click();
  await expect(page.getByRole("list", { name: "Backup codes" })).toHaveCount(0);
});

test("signs out, then signs in with a TOTP code", async () => {
  await page.getByRole("button", { name: "Sign out" }).click();
  await signIn(page, ADMIN, { code: () => totp.nextCode() });
  await expectSignedIn(page, ADMIN.email);
});

test("signs in with a backup code once; the same code is refused the second time", async () => {
  const code = backupCodes[0]!;
  await page.getByRole("button", { name: "Sign out" }).click();
  await signIn(page, ADMIN, { backupCode: code });
  await expectSignedIn(page, ADMIN.email);
  await page.getByRole("button", { name: "Sign out" }).click();
  await signIn(page, ADMIN, { backupCode: code });
  await expect(page.getByText("That backup code is wrong or was already used.")).toBeVisible();
  await expect(page.getByTestId("current-user")).toHaveCount(0);
  await shot(page, "bots-11-backup-code-refused");
});

test.describe("on a closed market", () => {
  let closed: Stack;
  let closedApi: ApiSession;
  let closedPage: Page;
  let closedBot: string;
  let closedTotp: TotpDevice;

  test.beforeAll(async ({ browser }: { browser: Browser }) => {
    closed = await Stack.create("bots-closed", { clockStart: MARKET_CLOSED });
    await closed.createUser(ADMIN.email, ADMIN.password, "admin");
    await closed.startServer({ providers: "sandbox" });
    // Set-up through the API (the story above does it in the UI); no grace on this stack, so
    // the admin enrolls 2FA before anything else.
    closedApi = await ApiSession.signIn(closed.baseURL, ADMIN.email, ADMIN.password);
    closedTotp = await closedApi.enrollTotp(ADMIN.password, () => closed.now());
    expect((await closedApi.post("/api/integrations/verify", { provider_id: "databento" })).outcome).toBe("ok");
    closedBot = await closed.paperBot(closedApi, {
      name: "e2e-paper-closed",
      symbol: "ES",
      timeframe: "1s",
      strategy: { kind: "sma_crossover", params: { fast: 1, slow: 2 } },
    });
    await closedApi.post(`/api/bots/${closedBot}/start`);
    closedPage = await closed.newPage(browser);
  });

  test.afterAll(async () => {
    await closedApi?.dispose();
    await closedPage?.context().close();
    await closed?.dispose();
  });

  test("every evaluation is a MARKET_CLOSED suppression, the bot is SUSPENDED and Why-not says so", async () => {
    let suppression: Trace | undefined;
    await expect
      .poll(
        async () =>
          (suppression = (await tracesOf(closedApi, closedBot, "no-trade-traces")).find((t) =>
            (t.blocked_by ?? []).some((b) => b.code === "MARKET_CLOSED"),
          )) !== undefined,
        { timeout: 30_000, message: "no MARKET_CLOSED suppression was recorded" },
      )
      .toBe(true);
    expect(await tracesOf(closedApi, closedBot, "decision-traces")).toEqual([]);

    await closedPage.goto("/");
    await signIn(closedPage, ADMIN, { code: () => closedTotp.nextCode() });
    await expectSignedIn(closedPage, ADMIN.email);
    await closedPage.goto(`/bots/${closedBot}`);
    await expect(statusIn(closedPage, "SUSPENDED")).toBeVisible({ timeout: 20_000 });
    const traces = closedPage.getByRole("region", { name: "Traces" });
    await traces.getByRole("tab", { name: "Why not" }).click();
    const list = traces.getByRole("list", { name: /Why not/ });
    const row = list
      .getByRole("listitem")
      .filter({ has: closedPage.getByRole("button", { name: `Copy trace id ${suppression!.trace_id}` }) });
    await expect(row).toBeVisible({ timeout: 20_000 });
    await row.getByRole("button", { expanded: false }).first().click();
    await expect(row.getByRole("list", { name: "Blocking gates" })).toContainText("MARKET_CLOSED");
    await shot(closedPage, "bots-12-market-closed");
  });
});
