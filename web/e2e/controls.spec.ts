// Issue 20 part 3 (the desk's controls, "Checks": each control end to end as an operator, incl.
// a step-up): a running PAPER bot that holds a position is stopped from the Bots list ("Stop
// selected"); on its page "Cancel orders" cancels a working order, "Close position" on the bot
// made LIVE (the sandbox broker holding its position) asks for a 2FA step-up and closes it at
// the broker (as the kill's flatten), and back on PAPER, run again until it holds a position,
// closes it flat at the newest bar; "Archive" hides it from the list (shown under
// "Only archived") and "Un-archive" brings it back; "Start selected" and "Stop all" act on the
// fleet with each bot's outcome; Settings → Alerts changes the routing and sends a test message
// through the sandbox's Discord; Connections → "Verify all" verifies every configured provider;
// the Reconciliation view answers; the orders CSV export downloads RFC 4180 text. Every
// confirmation states what the backend does; the server's state is checked after each step.
//
// One story on one stack, in order (serial), on the stack's clock: a Wednesday morning in
// Chicago, so the 1 s bot trades.
import fs from "node:fs";
import { expect, test, type Browser, type Locator, type Page } from "@playwright/test";
import { ApiSession, type Json } from "./support/api";
import { sandboxProviderEnv, Stack } from "./support/stack";
import { TotpDevice } from "./support/totp";
import { expectSignedIn, openTab, shot, signIn } from "./support/ui";

const ADMIN = { email: "admin@controls.e2e", password: "controls-e2e-password-1" };
const BOT = "desk-paper-1s";
const OTHER = "desk-paper-other";
const MARKET_OPEN = new Date("2026-12-02T15:00:00Z");

test.describe.configure({ mode: "serial" });

let stack: Stack;
let page: Page;
let api: ApiSession;
let totp: TotpDevice;
let botId: string;
let otherId: string;

async function createBot(name: string): Promise<string> {
  return stack.paperBot(api, {
    name,
    symbol: "ES",
    timeframe: "1s",
    strategy: { kind: "sma_crossover", params: { fast: 2, slow: 4 } },
    // A reversal is one order, also at LIMITED_AUTONOMY's half size (with the default max
    // order size of 1 it exits first and re-enters a bar later), so once in the market the
    // bot holds a position whenever it is stopped; no loss limit ends the story early.
    risk: { max_order_size: 4, max_position: 1, daily_loss_limit: 1_000_000, max_drawdown: 1_000_000 },
  });
}

async function position(id: string): Promise<number> {
  const body = await api.get(`/api/bots/${id}/position`);
  return (body.position as { quantity: number } | null)?.quantity ?? 0;
}

async function bot(id: string): Promise<Json> {
  return (await api.get(`/api/bots/${id}`)).bot as Json;
}

test.beforeAll(async ({ browser }: { browser: Browser }) => {
  stack = await Stack.create("controls", { clockStart: MARKET_OPEN });
  await stack.createUser(ADMIN.email, ADMIN.password, "admin");
  await stack.startSandbox();
  await stack.startServer({ providers: "sandbox" });
  api = await ApiSession.signIn(stack.baseURL, ADMIN.email, ADMIN.password);
  const setup = await api.post("/api/auth/2fa/setup", { password: ADMIN.password });
  totp = new TotpDevice(setup.secret_base32 as string, () => stack.now());
  await api.post("/api/auth/2fa/confirm", { code: await totp.nextCode() });
  expect((await api.post("/api/integrations/verify", { provider_id: "databento" })).outcome).toBe("ok");
  botId = await createBot(BOT);
  otherId = await createBot(OTHER);
  await api.post(`/api/bots/${botId}/start`);
  await expect.poll(() => position(botId), { timeout: 60_000, intervals: [500] }).not.toBe(0);
  page = await stack.newPage(browser);
});

test.afterAll(async () => {
  await api?.dispose();
  await page?.context().close();
  await stack?.dispose();
});

/** The row of a bot on the Bots list. */
const row = (id: string) => page.getByTestId(`bot-row-${id}`);
const desk = () => page.getByRole("group", { name: "Desk controls" });

async function confirmWithStepUp(dialog: Locator, confirm: string): Promise<void> {
  const code = dialog.getByLabel("Authenticator code");
  await expect(code).toBeVisible();
  await code.fill(await totp.nextCode());
  await dialog.getByRole("button", { name: confirm, exact: true }).click();
  await expect(dialog).toBeHidden();
}

test("signs in; the Bots list stops the selected running bot, with its outcome", async () => {
  await page.goto("/bots");
  await signIn(page, ADMIN, { code: () => totp.nextCode() });
  await expectSignedIn(page, ADMIN.email);
  await expect(page.getByRole("heading", { level: 1, name: "Bots" })).toBeVisible();
  // Running: RUNNING, or SUSPENDED when its newest evaluation was gated (running, not trading).
  await expect(row(botId)).toContainText(/RUNNING|SUSPENDED/);
  const fleet = page.getByRole("group", { name: "Fleet actions" });
  await expect(fleet.getByRole("button", { name: "Stop selected" })).toBeDisabled();
  await row(botId).getByRole("checkbox", { name: `Select ${BOT}` }).check();
  await fleet.getByRole("button", { name: "Stop selected" }).click();
  const dialog = page.getByRole("alertdialog", { name: "Stop 1 bot(s)" });
  await expect(dialog.getByTestId("consequences")).toContainText("It cancels nothing and closes nothing");
  await expect(dialog).toContainText(BOT);
  await shot(page, "controls-01-stop-selected", { fullPage: false });
  await dialog.getByRole("button", { name: "Stop selected" }).click();
  await expect(dialog).toBeHidden();
  await expect(page.getByTestId("bulk-results")).toContainText("Stop: 1 of 1 done.");
  expect((await bot(botId)).status).toBe("STOPPED");
  await expect(row(botId)).toContainText("STOPPED");
});

test("Cancel orders cancels the bot's working order and keeps its position", async () => {
  const held = await position(botId);
  expect(held).not.toBe(0);
  // A working order left behind (as a runner leaves one between a decision and the next bar).
  await stack.db.query(
    `INSERT INTO orders (id, bot_id, idempotency_key, symbol, side, quantity, order_type, stage, status, created_at, updated_at)
     VALUES (gen_random_uuid(), '${botId}', 'e2e-desk-working', 'ES', 'BUY', 1, 'MARKET', 'PAPER', 'WORKING', now(), now())`,
  );
  // The stopped runner may have left its own order working too (stop cancels nothing).
  const working = ((await api.get(`/api/bots/${botId}/position`)).working_orders as Json[]).length;
  expect(working).toBeGreaterThanOrEqual(1);
  await page.goto(`/bots/${botId}`);
  await expect(page.getByRole("heading", { level: 1, name: BOT })).toBeVisible();
  const cancel = desk().getByRole("button", { name: "Cancel orders" });
  await expect(cancel).toBeEnabled();
  await cancel.click();
  const dialog = page.getByRole("alertdialog", { name: `Cancel orders: ${BOT}` });
  await expect(dialog.getByTestId("consequences")).toContainText(`Cancels ${working} working order(s)`);
  await expect(dialog.getByTestId("consequences")).toContainText("is not touched");
  await shot(page, "controls-02-cancel-confirm", { fullPage: false });
  await dialog.getByRole("button", { name: "Cancel orders", exact: true }).click();
  await expect(dialog).toBeHidden();
  await expect(page.getByRole("status").filter({ hasText: `Cancel orders: Cancelled ${working} working order(s)` })).toBeVisible();
  expect((await api.get(`/api/bots/${botId}/position`)).working_orders as Json[]).toHaveLength(0);
  expect(await position(botId)).toBe(held);
  await expect(cancel).toBeDisabled();
  await expect(cancel).toHaveAttribute("title", "The bot has no NEW or WORKING order to cancel (a LIVE send still awaiting the broker's answer is not listed).");
});

/**
 * Gives the stack's demo broker account (the sandbox's Tradovate, the first session a LIVE
 * bot routes to) the position the bot's ledger holds, as if its orders had been LIVE: a market
 * order placed directly at the simulator with the credentials the server was given.
 */
async function holdAtBroker(quantity: number, symbol: string): Promise<void> {
  const sb = stack.sandbox!;
  const env = sandboxProviderEnv(sb.httpPort, sb.redisPort, sb.livePort);
  const call = async (method: "GET" | "POST", path: string, body?: Json, token?: string): Promise<Json> => {
    const res = await fetch(`${env.TRADOVATE_BASE_URL}${path}`, {
      method,
      headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    expect(res.status).toBe(200);
    return (await res.json()) as Json;
  };
  const login = await call("POST", "/auth/accesstokenrequest", {
    name: env.TRADOVATE_USERNAME, password: env.TRADOVATE_PASSWORD, appId: env.TRADOVATE_APP_ID,
    appVersion: env.TRADOVATE_APP_VERSION, cid: Number(env.TRADOVATE_CID), sec: env.TRADOVATE_SEC,
  });
  const token = login.accessToken as string;
  const [account] = (await call("GET", "/account/list", undefined, token)) as unknown as Json[];
  const placed = await call(
    "POST",
    "/order/placeorder",
    { accountSpec: account!.name, accountId: account!.id, action: quantity > 0 ? "Buy" : "Sell", symbol, orderQty: Math.abs(quantity), orderType: "Market", isAutomated: true },
    token,
  );
  expect(placed.orderId).toBeDefined();
}

// A close answers within its fill wait (5 s): a fills read still waiting on the vendor's pacing
// at the deadline is dropped, and reads cannot take the budget orders need (the read lane).
test("Close position on a LIVE bot asks for a step-up and closes it at the broker, like kill and flatten", async () => {
  const held = await position(botId);
  expect(held).not.toBe(0);
  // The stack's clock is 2026-12-02: ES's front contract is Dec 2026 (ESZ6 at Tradovate).
  await holdAtBroker(held, "ESZ6");
  await stack.db.query(`UPDATE bots SET stage = 'LIVE' WHERE id = '${botId}'`);
  // The sign-in's 2FA verification counts as a step-up for a while: age it out.
  await stack.db.query(`UPDATE sessions SET step_up_at = step_up_at - interval '1 hour'`);
  await page.reload();
  await expect(page.getByRole("heading", { level: 1, name: BOT })).toBeVisible();
  await desk().getByRole("button", { name: "Close position" }).click();
  const dialog = page.getByRole("alertdialog", { name: `Close position: ${BOT}` });
  await expect(dialog.getByTestId("consequences")).toContainText("a market order is sent for each bot holding the contract");
  await expect(dialog.getByTestId("consequences")).toContainText("Without a logged-in broker session nothing is sent (BROKER_PENDING)");
  await shot(page, "controls-03-live-close-step-up", { fullPage: false });
  await confirmWithStepUp(dialog, "Close position");
  // The stack's demo broker session (the sandbox's simulator) is logged in: the close goes
  // to the broker as a market order for the bot's position and the ledger ends flat.
  const side = held > 0 ? "SELL" : "BUY";
  // The outcome first (whatever it says), then its text: a failure shows what the desk said.
  const outcome = page.getByRole("status").filter({ hasText: "Close position: " });
  await expect(outcome).toBeVisible();
  await expect(outcome).toContainText(`closed at the broker on ESZ6: ${side} ${Math.abs(held)}/${Math.abs(held)} at`);
  expect(await position(botId)).toBe(0);
  const events = await api.get(`/api/system/events?code=BOT_RISK_REMOVED&bot_id=${botId}&limit=1`);
  const meta = (events.items as Json[])[0]!.metadata as Json;
  expect(meta.source).toBe("OPERATOR_CLOSE");
});

test("Close position on PAPER closes it at the newest bar: the bot is flat", async () => {
  test.setTimeout(180_000);
  await stack.db.query(`UPDATE bots SET stage = 'PAPER' WHERE id = '${botId}'`);
  // After a LIVE close the bot is flat: it runs on PAPER again until it holds a position.
  if ((await position(botId)) === 0) {
    await api.post(`/api/bots/${botId}/start`);
    await expect.poll(() => position(botId), { timeout: 90_000, intervals: [500] }).not.toBe(0);
    await api.post(`/api/bots/${botId}/stop`);
  }
  expect((await bot(botId)).status).toBe("STOPPED");
  await page.reload();
  await desk().getByRole("button", { name: "Close position" }).click();
  const dialog = page.getByRole("alertdialog", { name: `Close position: ${BOT}` });
  await expect(dialog.getByTestId("consequences")).toContainText("newest stored ES 1s bar's close");
  await dialog.getByRole("button", { name: "Close position", exact: true }).click();
  await expect(dialog).toBeHidden();
  await expect(page.getByRole("status").filter({ hasText: /closed: (BUY|SELL) \d+ at [\d.]+; the bot is flat/ })).toBeVisible();
  expect(await position(botId)).toBe(0);
  await expect(desk().getByRole("button", { name: "Close position" })).toBeDisabled();
});

test("Export CSV of the orders downloads every order as RFC 4180 text", async () => {
  const [download] = await Promise.all([page.waitForEvent("download"), page.getByRole("button", { name: "Export orders CSV" }).click()]);
  expect(download.suggestedFilename()).toMatch(new RegExp(`^${BOT}-orders-\\d{4}-\\d{2}-\\d{2}T\\d{6}Z\\.csv$`));
  const text = fs.readFileSync((await download.path())!, "utf8");
  const [header, ...records] = text.trimEnd().split("\r\n");
  expect(header).toContain("id,bot_id");
  expect(header).toContain("status");
  expect(records.some((r) => r.includes("CANCELLED"))).toBe(true);
  expect(records.some((r) => r.includes("FILLED"))).toBe(true);
});

test("Archive hides the flat STOPPED bot from the list; Un-archive brings it back", async () => {
  await desk().getByRole("button", { name: "Archive" }).click();
  const dialog = page.getByRole("alertdialog", { name: `Archive: ${BOT}` });
  await expect(dialog.getByTestId("consequences")).toContainText("are all kept");
  await dialog.getByRole("button", { name: "Archive", exact: true }).click();
  await expect(dialog).toBeHidden();
  await expect(page.getByText("Archived", { exact: true })).toBeVisible();
  expect((await bot(botId)).archived_at).not.toBeNull();
  await openTab(page, "Bots");
  await expect(row(otherId)).toBeVisible();
  await expect(row(botId)).toHaveCount(0);
  await page.getByLabel("Archived").selectOption("only");
  await expect(row(botId)).toBeVisible();
  await expect(row(otherId)).toHaveCount(0);
  await shot(page, "controls-04-archived-only");
  await row(botId).getByRole("link", { name: BOT }).click();
  await desk().getByRole("button", { name: "Un-archive" }).click();
  await page.getByRole("alertdialog", { name: `Un-archive: ${BOT}` }).getByRole("button", { name: "Un-archive", exact: true }).click();
  await expect(page.getByRole("status").filter({ hasText: "Un-archive: the bot is STOPPED." })).toBeVisible();
  expect((await bot(botId)).archived_at).toBeNull();
});

test("Start selected starts both bots; Stop all stops every running bot", async () => {
  await page.goto("/bots");
  await expect(row(botId)).toBeVisible();
  await page.getByRole("checkbox", { name: "Select every bot on this page" }).check();
  const fleet = page.getByRole("group", { name: "Fleet actions" });
  await fleet.getByRole("button", { name: "Start selected" }).click();
  const start = page.getByRole("alertdialog", { name: "Start 2 bot(s)" });
  await expect(start.getByTestId("consequences")).toContainText("safe start checks every gate");
  await start.getByRole("button", { name: "Start selected" }).click();
  await expect(start).toBeHidden();
  await expect(page.getByTestId("bulk-results")).toContainText("Start: 2 of 2 done.");
  expect(["RUNNING", "SUSPENDED"]).toContain((await bot(botId)).status);
  expect(["RUNNING", "SUSPENDED"]).toContain((await bot(otherId)).status);

  await fleet.getByRole("button", { name: "Stop all" }).click();
  const stop = page.getByRole("alertdialog", { name: "Stop all bots" });
  await expect(stop.getByTestId("consequences")).toContainText("every page of the list");
  await shot(page, "controls-05-stop-all", { fullPage: false });
  await stop.getByRole("button", { name: "Stop 2 bot(s)" }).click();
  await expect(stop).toBeHidden();
  await expect(page.getByTestId("bulk-results")).toContainText("Stop: 2 of 2 done.");
  expect((await bot(botId)).status).toBe("STOPPED");
  expect((await bot(otherId)).status).toBe("STOPPED");
});

test("Settings → Alerts changes the routing and sends a test message through Discord", async () => {
  await openTab(page, "Settings");
  await page.getByRole("link", { name: "Alerts" }).click();
  await expect(page.getByRole("heading", { name: "Alerts" })).toBeVisible();
  const sev2 = page.getByRole("checkbox", { name: /SEV-2/ });
  await expect(page.getByRole("checkbox", { name: /SEV-1/ })).toBeChecked();
  await expect(sev2).not.toBeChecked();
  await sev2.check();
  await page.getByRole("button", { name: "Save routing" }).click();
  await expect(page.getByText(`by ${ADMIN.email}`)).toBeVisible();
  const routing = (await api.get("/api/settings/alerts")).routing as { severities: string[]; kills: boolean };
  expect(routing.severities).toEqual(["SEV-1", "SEV-2"]);
  await page.getByRole("button", { name: "Send test message" }).click();
  await expect(page.getByRole("status").filter({ hasText: "Discord accepted the test message." })).toBeVisible();
  await shot(page, "controls-06-alerts");
  const usage = await api.get("/api/integrations/discord/events");
  expect((usage.items as Json[]).some((u) => u.action === "alert.post" && u.status === "OK")).toBe(true);
});

test("Connections → Verify all verifies every configured provider", async () => {
  await openTab(page, "Connections");
  await page.getByRole("button", { name: "Verify all" }).click();
  const dialog = page.getByRole("alertdialog", { name: "Verify all providers" });
  await expect(dialog.getByTestId("consequences")).toContainText("read-only vendor call");
  await dialog.getByRole("button", { name: /^Verify \d+$/ }).click();
  const results = page.getByTestId("verify-all-results");
  await expect(results).toContainText(/\d+ of \d+ verified OK\./, { timeout: 60_000 });
  await expect(results).toContainText("databento: ok");
  await shot(page, "controls-07-verify-all");
});

test("the Reconciliation view lists the broker accounts' last runs", async () => {
  await openTab(page, "Reconciliation");
  await expect(page).toHaveTitle("Reconciliation · tradeplane");
  await expect(page.getByText("No open mismatch")).toBeVisible();
  await expect(page.getByRole("region", { name: "Last runs" })).toBeVisible();
});
