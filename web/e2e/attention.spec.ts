// Issue 20, parts 2 and 7: first run and "does anything need me?". A fresh installation has no
// user: the server's start-up line says so, and the web app shows the first-run screen, which
// creates the first admin and leads to 2FA enrollment. With data and a broker verified the
// Overview says "Nothing needs you"; a PAPER bot killed while it holds a position puts a SEV-1
// item at the top of the queue, naming the bot, with its fix and a link to it; the fleet grid
// names the bot; a market-data outage adds the provider's open breaker and the SEV-1 data outage;
// at 390 px the Overview has no horizontal scroll. Screenshots of each step.
//
// One story on one stack, in order (serial), on the stack's clock: a Wednesday morning in Chicago.
import fs from "node:fs";
import { expect, test, type Browser, type Page } from "@playwright/test";
import { ApiSession, type Json } from "./support/api";
import { Stack } from "./support/stack";
import { TotpDevice } from "./support/totp";
import { expectSignedIn, shot, signIn } from "./support/ui";

const ADMIN = { email: "first@attention.e2e", password: "attention-e2e-password-1" };
const BOT = "attention-paper-es";
const MARKET_OPEN = new Date("2026-12-02T15:00:00Z");

test.describe.configure({ mode: "serial" });

let stack: Stack;
let page: Page;
let api: ApiSession;
let totp: TotpDevice;
let botId: string;

test.beforeAll(async ({ browser }: { browser: Browser }) => {
  stack = await Stack.create("attention", { clockStart: MARKET_OPEN });
  await stack.startSandbox();
  await stack.startServer({ providers: "sandbox" });
  page = await stack.newPage(browser);
});

test.afterAll(async () => {
  await api?.dispose();
  await page?.context().close();
  await stack?.dispose();
});

const queue = () => page.getByRole("list", { name: "Needs attention" });

test("first run: the start-up line and the web app lead to creating the first admin, then 2FA", async () => {
  const log = fs.readFileSync(stack.server!.logPath, "utf8");
  expect(log).toContain(`no user exists yet: open http://127.0.0.1:${stack.port}/ to create the first admin`);
  await page.goto("/");
  await expect(page.getByRole("heading", { name: "Welcome: create the first admin" })).toBeVisible();
  await expect(page.getByText(/an admin created for you/)).toHaveCount(0);
  await shot(page, "attention-01-first-run");
  await page.getByLabel("Email").fill(ADMIN.email);
  await page.getByLabel("Password", { exact: true }).fill(ADMIN.password);
  await page.getByLabel("Repeat the password").fill(ADMIN.password);
  await page.getByRole("button", { name: "Create the first admin" }).click();
  // An admin needs a second factor before anything else.
  await expect(page.getByTestId("enrollment-gate")).toBeVisible();
  await expect(page).toHaveURL(/\/connections\?first_run=1$/);
  await shot(page, "attention-02-enrollment-gate");
  // The account exists now: registration is closed.
  const anon = await ApiSession.anonymous(stack.baseURL);
  expect((await anon.get("/api/auth/first-run")).needs_first_admin).toBe(false);
  await anon.dispose();
});

test("enrolled, the admin lands on Connections with the sandbox hint", async () => {
  // Enrollment itself is the existing 2FA flow; here it is done through the API.
  api = await ApiSession.signIn(stack.baseURL, ADMIN.email, ADMIN.password);
  const setup = await api.post("/api/auth/2fa/setup", { password: ADMIN.password });
  totp = new TotpDevice(setup.secret_base32 as string, () => stack.now());
  await api.post("/api/auth/2fa/confirm", { code: await totp.nextCode() });
  await page.context().clearCookies();
  await page.goto("/connections?first_run=1");
  await signIn(page, ADMIN, { code: () => totp.nextCode() });
  await expectSignedIn(page, ADMIN.email);
  await expect(page.getByTestId("first-run-hint")).toContainText("tradeplane sandbox");
  await shot(page, "attention-03-connections-first-run");
});

test("with data and a broker verified and nothing wrong, the Overview says nothing needs you", async () => {
  for (const provider of ["databento", "ironbeam"]) {
    expect((await api.post("/api/integrations/verify", { provider_id: provider })).outcome).toBe("ok");
  }
  botId = await stack.paperBot(api, {
    name: BOT,
    symbol: "ES",
    timeframe: "1m",
    strategy: { kind: "sma_crossover", params: { fast: 5, slow: 20 } },
  });
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Overview", exact: true }).click();
  await expect(page.getByRole("heading", { level: 1, name: "Overview" })).toBeVisible();
  await expect(page.getByTestId("attention-empty")).toHaveText(/Nothing needs you\./, { timeout: 30_000 });
  const row = page.getByTestId("fleet-row").filter({ hasText: BOT });
  await expect(row).toContainText("PAPER");
  await expect(row).toContainText("STOPPED");
  await expect(row.getByRole("link", { name: BOT })).toHaveAttribute("title", `Bot id ${botId}`);
  await shot(page, "attention-04-nothing-needs-you");
});

test("a PAPER bot killed while it holds a position is a SEV-1 item with its fix and a link", async () => {
  // The bot holds one ES contract (as after a fill) when it is killed without flattening.
  await stack.db.query(`INSERT INTO positions (bot_id, symbol, quantity, average_price) VALUES ('${botId}', 'ES', 1, 6000)`);
  await api.post(`/api/bots/${botId}/kill`, { reason: "e2e: induced kill with a position" });
  const item = queue().getByTestId("attention-item").first();
  await expect(item).toHaveAttribute("data-code", "KILLED_WITH_EXPOSURE", { timeout: 30_000 });
  await expect(item).toContainText("SEV-1");
  await expect(item.getByTestId("attention-subject")).toHaveText(BOT);
  await expect(item).toContainText(`${BOT} is KILLED (e2e: induced kill with a position) and still holds 1 contract(s)`);
  await expect(item).toContainText("Fix: Kill it again with flatten");
  await expect(page.getByTestId("attention-empty")).toHaveCount(0);
  await expect(page.getByTestId("fleet-row").filter({ hasText: BOT })).toContainText("KILLED");
  await shot(page, "attention-05-killed-with-exposure");
  await expect(item.getByTestId("attention-link")).toHaveText(`Open ${BOT}`);
  await item.getByTestId("attention-link").click();
  await expect(page).toHaveURL(new RegExp(`/bots/${botId}$`));
  await expect(page.getByRole("heading", { level: 1, name: BOT })).toBeVisible();
});

/** Sets (or with null clears) a fault on the sandbox's market-data endpoints. */
async function sandboxFault(vendor: string, fault: string | null): Promise<void> {
  const res = await fetch(`http://127.0.0.1:${stack.sandbox!.httpPort}/_sandbox/faults`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ vendor, fault }),
  });
  expect(res.status).toBe(200);
}

test("a market-data outage: the provider's open breaker and the data outage join the queue", async () => {
  // A second bot reads databento every second, as a running fleet would.
  const feedId = await stack.paperBot(api, {
    name: "outage-feed-1s",
    symbol: "ES",
    timeframe: "1s",
    strategy: { kind: "sma_crossover", params: { fast: 5, slow: 20 } },
  });
  await api.post(`/api/bots/${feedId}/start`);
  await expect.poll(async () => ((await api.get(`/api/bots/${feedId}`)).bot as Json).status, { timeout: 30_000 }).toBe("RUNNING");
  await page.goto("/");
  await sandboxFault("databento", "outage");
  const open = queue()
    .getByTestId("attention-item")
    .filter({ has: page.getByTestId("attention-subject").getByText("databento", { exact: true }) });
  await expect(open).toHaveAttribute("data-code", "CIRCUIT_BREAKER_OPEN", { timeout: 30_000 });
  await expect(open).toContainText("The circuit breaker of provider databento is OPEN");
  await expect(open.getByTestId("attention-link")).toHaveText("Open Connections");
  const outage = queue().locator('[data-code="DATA_UNAVAILABLE"]').filter({ hasText: "Every connected market-data provider is failing" });
  await expect(outage).toContainText("SEV-1");
  await expect(outage).toContainText("databento: breaker OPEN");
  // SEV-1 items come before every other.
  const severities = await queue().getByTestId("attention-item").locator("span", { hasText: /^SEV-\d$/ }).allTextContents();
  expect(severities).toEqual([...severities].sort());
  expect(severities.filter((s) => s === "SEV-1").length).toBeGreaterThanOrEqual(2);
  await shot(page, "attention-06-data-outage");
  await sandboxFault("databento", null);
});

test("at 390 px the Overview has no horizontal scroll and the queue is on screen", async () => {
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto("/");
  await expect(page.getByRole("heading", { level: 1, name: "Overview" })).toBeVisible();
  await expect(queue().getByTestId("attention-item").first()).toBeVisible();
  await expect(page.getByTestId("fleet-card").filter({ hasText: BOT })).toBeVisible();
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  expect(overflow).toBeLessThanOrEqual(0);
  await shot(page, "attention-07-mobile-390");
  // The navigation is one tap away.
  await page.getByRole("button", { name: "Menu" }).click();
  await expect(page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Connections", exact: true })).toBeVisible();
  await shot(page, "attention-08-mobile-menu", { fullPage: false });
});
