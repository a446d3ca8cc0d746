// Issue 20 part 3 (edit a bot; CSV export of trades): an operator-grade user opens a bot, sees
// its risk limits, edits the name and the max position from the "Edit bot" form and sees both on
// the page (and in the API); an invalid value comes back from the server as VALIDATION_FAILED
// and is shown beside its field; the STOPPED bot's strategy params and (admin) trading switch change;
// "Export CSV" downloads every trade as RFC 4180 text.
//
// One story on one stack, in order (serial). The bot is a LAB bot, STOPPED: no provider needed.
import fs from "node:fs";
import { expect, test, type Browser, type Page } from "@playwright/test";
import { ApiSession } from "./support/api";
import { Stack } from "./support/stack";
import { expectSignedIn, shot, signIn } from "./support/ui";

const ADMIN = { email: "admin@bot-edit.e2e", password: "bot-edit-e2e-password-1" };
const BOT = "edit-me-lab";
const RENAMED = "edited-lab-bot";

test.describe.configure({ mode: "serial" });

let stack: Stack;
let page: Page;
let api: ApiSession;
let botId: string;

test.beforeAll(async ({ browser }: { browser: Browser }) => {
  stack = await Stack.create("bot-edit");
  await stack.createUser(ADMIN.email, ADMIN.password, "admin");
  // The first admin works before enrolling 2FA (its grace); editing needs no step-up.
  await stack.startServer({ providers: "none", env: { TRADEPLANE_FIRST_ADMIN_2FA_GRACE: "24h" } });
  api = await ApiSession.signIn(stack.baseURL, ADMIN.email, ADMIN.password);
  const created = await api.post("/api/bots", {
    name: BOT,
    symbol: "ES",
    timeframe: "1m",
    stage: "LAB",
    strategy: { kind: "sma_crossover", params: { fast: 10, slow: 30 } },
    risk: { max_position: 2 },
  });
  botId = (created.bot as { id: string }).id;
  page = await stack.newPage(browser);
});

test.afterAll(async () => {
  await api?.dispose();
  await page?.context().close();
  await stack?.dispose();
});

const limit = (name: string) => page.getByTestId(`limit-${name}`);

test("signs in, opens the bot and sees its risk limits with units", async () => {
  await page.goto("/");
  await signIn(page, ADMIN);
  await expectSignedIn(page, ADMIN.email);
  await page.goto(`/bots/${botId}`);
  await expect(page.getByRole("heading", { level: 1, name: BOT })).toBeVisible();
  await expect(limit("max_position")).toContainText("2");
  await expect(limit("max_position")).toContainText("contracts");
  await expect(limit("daily_loss_limit")).toContainText("USD");
});

test("edits the name and the max position; both show on the page and in the API", async () => {
  await page.getByRole("button", { name: "Edit", exact: true }).click();
  const form = page.getByRole("dialog", { name: "Edit bot" });
  await expect(form.getByLabel("Max position (contracts)")).toHaveValue("2");
  await form.getByLabel("Name").fill(RENAMED);
  await form.getByLabel("Max position (contracts)").fill("4");
  await expect(form.getByTestId("edit-consequences")).toContainText("The bot is not running: the new limits apply from its next start.");
  await shot(page, "bot-edit-form", { fullPage: false });
  await form.getByRole("button", { name: "Save changes" }).click();
  await expect(form).toBeHidden();
  await expect(page.getByRole("heading", { level: 1, name: RENAMED })).toBeVisible();
  await expect(limit("max_position")).toContainText("4");
  await expect(page.getByRole("status").filter({ hasText: `Saved name, risk limits of ${RENAMED}.` })).toBeVisible();
  const body = await api.get(`/api/bots/${botId}`);
  const b = body.bot as { name: string; risk_limits: { max_position: number; max_order_size: number } };
  expect(b.name).toBe(RENAMED);
  expect(b.risk_limits.max_position).toBe(4);
  // Unchanged limits stay as they were (only the changed field was sent and merged).
  expect(b.risk_limits.max_order_size).toBe(1);
  await shot(page, "bot-edit-saved");
});

test("an invalid value comes back as the server's field error beside its field", async () => {
  await page.getByRole("button", { name: "Edit", exact: true }).click();
  const form = page.getByRole("dialog", { name: "Edit bot" });
  const field = form.getByLabel("Max position (contracts)");
  await field.fill("0");
  await form.getByRole("button", { name: "Save changes" }).click();
  await expect(field).toHaveAttribute("aria-invalid", "true");
  await expect(field).toHaveAccessibleDescription("must be at least 1");
  await expect(form.getByTestId("action-error")).toContainText("VALIDATION_FAILED");
  await shot(page, "bot-edit-field-error", { fullPage: false });
  await form.getByRole("button", { name: "Cancel" }).click();
  const b = (await api.get(`/api/bots/${botId}`)).bot as { risk_limits: { max_position: number } };
  expect(b.risk_limits.max_position).toBe(4);
});

test("changes the STOPPED bot's strategy params and, as admin, turns its trading switch on", async () => {
  await page.getByRole("button", { name: "Edit", exact: true }).click();
  const form = page.getByRole("dialog", { name: "Edit bot" });
  const fast = form.getByLabel("Fast period (bars)");
  await expect(fast).toBeEnabled();
  await fast.fill("12");
  await form.getByLabel("Trading enabled (LIVE orders need it on)").check();
  await expect(form.getByTestId("edit-consequences")).toContainText("Turns this bot's trading switch on (audited)");
  await form.getByRole("button", { name: "Save changes" }).click();
  await expect(form).toBeHidden();
  await expect(page.getByTestId("limit-trading")).toContainText("on");
  const b = (await api.get(`/api/bots/${botId}`)).bot as { is_trading_enabled: boolean; strategy: { kind: string; params: Record<string, unknown> } };
  expect(b.is_trading_enabled).toBe(true);
  expect(b.strategy.kind).toBe("sma_crossover");
  expect(b.strategy.params.fast).toBe(12);
  expect(b.strategy.params.slow).toBe(30);
});

test("Export CSV downloads the bot's trades as RFC 4180 text", async () => {
  const [download] = await Promise.all([page.waitForEvent("download"), page.getByRole("button", { name: "Export CSV" }).click()]);
  expect(download.suggestedFilename()).toMatch(new RegExp(`^${RENAMED}-trades-\\d{4}-\\d{2}-\\d{2}T\\d{6}Z\\.csv$`));
  const text = fs.readFileSync((await download.path())!, "utf8");
  // A LAB bot places no orders: the header record only, CRLF-terminated.
  expect(text).toBe(
    "id,bot_id,symbol,stage,side,quantity_contracts,entry_price,exit_price,realized_pnl_gross_usd,commission_usd,opened_at_utc,closed_at_utc,run_id\r\n",
  );
  await expect(page.getByRole("status").filter({ hasText: "0 trades exported" })).toBeVisible();
});
