// Issue 20 part 5 (accessibility and mobile): axe-core (WCAG 2.1 A/AA rules) on every view of
// the Observatory, in the dark and the light theme, at 1280 px and at 390 px: no serious or
// critical violation (text contrast ≥ 4.5:1 among them), and at 390 px no page wider than the
// screen (no horizontal scroll). Open overlays too: the Why-not drawer, a desk control's
// confirmation (Kill and flatten, cancelled) and a Connections pop-out, each with axe, each
// inside the screen and on top (nothing overlaps it), with the page behind locked (a wheel over
// the backdrop does not scroll the content: no scroll-through).
//
// One stack with data behind every view: a PAPER bot (its page), a finished backtest (its page),
// the sandbox's providers verified. The first admin works inside its 2FA grace, so each theme and
// width signs in once with the password.
import AxeBuilder from "@axe-core/playwright";
import { expect, test, type Browser, type Page } from "@playwright/test";
import { ApiSession } from "./support/api";
import { Stack } from "./support/stack";
import { signIn, shot } from "./support/ui";

const ADMIN = { email: "admin@axe.e2e", password: "axe-e2e-password-1" };
const MARKET_OPEN = new Date("2026-12-02T15:00:00Z");

test.describe.configure({ mode: "serial" });

let stack: Stack;
let api: ApiSession;
let botId: string;
let backtestId: string;
let otherBacktestId: string;

test.beforeAll(async () => {
  stack = await Stack.create("axe", { clockStart: MARKET_OPEN });
  await stack.createUser(ADMIN.email, ADMIN.password, "admin");
  await stack.startSandbox();
  await stack.startServer({ providers: "sandbox", env: { TRADEPLANE_FIRST_ADMIN_2FA_GRACE: "24h" } });
  api = await ApiSession.signIn(stack.baseURL, ADMIN.email, ADMIN.password);
  expect((await api.post("/api/integrations/verify", { provider_id: "databento" })).outcome).toBe("ok");
  botId = await stack.paperBot(api, {
    name: "axe-paper",
    symbol: "ES",
    timeframe: "1m",
    strategy: { kind: "sma_crossover", params: { fast: 5, slow: 20 } },
  });
  await api.post(`/api/bots/${botId}/start`);
  const backtest = async (params: Record<string, number>) =>
    ((await api.post("/api/backtests", {
      strategy: { kind: "sma_crossover", params },
      symbol: "ES",
      timeframe: "5m",
      from: "2026-11-16T00:00:00Z",
      to: "2026-11-21T00:00:00Z",
    })) as { backtest: { id: string } }).backtest.id;
  backtestId = await backtest({ fast: 5, slow: 20 });
  otherBacktestId = await backtest({ fast: 8, slow: 30 });
  for (const id of [backtestId, otherBacktestId]) {
    await expect
      .poll(async () => ((await api.get(`/api/backtests/${id}`)).backtest as { status: string }).status, { timeout: 90_000 })
      .toBe("SUCCEEDED");
  }
});

test.afterAll(async () => {
  await api?.dispose();
  await stack?.dispose();
});

/** Every view: its path and the heading that says it has rendered. */
function routes(): { path: string; heading: string | RegExp }[] {
  return [
    { path: "/", heading: "Overview" },
    { path: "/connections", heading: "Connections" },
    { path: "/proof-of-use", heading: "Proof of Use" },
    { path: "/events", heading: "Events" },
    { path: "/bots", heading: "Bots" },
    { path: `/bots/${botId}`, heading: "axe-paper" },
    { path: "/lab", heading: "Strategy Lab" },
    { path: `/lab/backtests/${backtestId}`, heading: /Backtest/ },
    { path: `/lab/compare?ids=${backtestId},${otherBacktestId}`, heading: "Compare 2 backtests" },
    { path: "/autonomy", heading: "Autonomy" },
    { path: "/jobs", heading: "Jobs" },
    { path: "/nodes", heading: "Nodes" },
    { path: "/reconciliation", heading: "Reconciliation" },
    { path: "/ai-ops", heading: /AI Ops/ },
    { path: "/settings", heading: "Settings" },
    { path: "/settings?section=alerts", heading: "Settings" },
  ];
}

interface Finding {
  where: string;
  what: string;
}

/** Serious and critical axe violations on the page as it is now. */
async function axe(page: Page, where: string): Promise<Finding[]> {
  const result = await new AxeBuilder({ page }).withTags(["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]).analyze();
  return result.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => ({
      where,
      what: `${v.id} (${v.impact}): ${v.help} — ${v.nodes
        .slice(0, 4)
        .map((n) => `${n.target.join(" ")}${n.failureSummary ? ` [${n.failureSummary.replace(/\s+/g, " ").slice(0, 160)}]` : ""}`)
        .join("; ")}`,
    }));
}

/** The page is no wider than the screen. */
async function overflow(page: Page, where: string): Promise<Finding[]> {
  const { scroll, client, culprits } = await page.evaluate(() => {
    const client = document.documentElement.clientWidth;
    // The outermost elements reaching past the screen that no scrolling box of their own holds.
    const inScroller = (el: Element) => {
      for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
        const o = getComputedStyle(p).overflowX;
        if ((o === "auto" || o === "scroll" || o === "hidden") && p.getBoundingClientRect().right <= client + 1) return true;
      }
      return false;
    };
    const wide = [...document.body.querySelectorAll("*")].filter((el) => el.getBoundingClientRect().right > client + 1 && !inScroller(el));
    const outer = wide.filter((el) => !wide.includes(el.parentElement as Element));
    const name = (el: Element) => `${el.tagName.toLowerCase()}${el.id ? `#${el.id}` : ""}.${[...el.classList].slice(0, 4).join(".")} (${Math.round(el.getBoundingClientRect().width)} px)`;
    const top = [...document.body.querySelectorAll("*")].sort((a, b) => b.getBoundingClientRect().right - a.getBoundingClientRect().right)[0];
    const far: string[] = [];
    for (let p: Element | null = top ?? null; p; p = p.parentElement) {
      far.push(`${name(p)} right ${Math.round(p.getBoundingClientRect().right)} ox ${getComputedStyle(p).overflowX}`);
    }
    return { scroll: document.documentElement.scrollWidth, client, culprits: outer.length > 0 ? outer.slice(0, 3).map(name) : far.slice(0, 8) };
  });
  return scroll > client ? [{ where, what: `horizontal scroll: the page is ${scroll} px wide on a ${client} px screen: ${culprits.join("; ")}` }] : [];
}

async function settle(page: Page, heading: string | RegExp): Promise<void> {
  await expect(page.getByRole("heading", { level: 1, name: heading }).first()).toBeVisible({ timeout: 20_000 });
  // Let the first queries land (loading text gives way to content).
  await page.waitForTimeout(400);
}

for (const theme of ["dark", "light"] as const) {
  for (const width of [1280, 390]) {
    test(`${theme} theme at ${width} px: every view has no serious or critical axe violation${width === 390 ? " and no horizontal scroll" : ""}`, async ({ browser }: { browser: Browser }) => {
      test.setTimeout(240_000);
      const context = await browser.newContext({ baseURL: stack.baseURL, viewport: { width, height: width === 390 ? 844 : 800 } });
      await context.clock.install({ time: stack.now() });
      await context.addInitScript((t) => localStorage.setItem("tp-theme", t), theme);
      const page = await context.newPage();
      const findings: Finding[] = [];
      const label = `${theme}-${width}`;
      try {
        await page.goto("/login");
        await expect(page.getByRole("heading", { name: "Sign in" })).toBeVisible();
        await page.waitForTimeout(300);
        findings.push(...(await axe(page, `${label} /login`)));
        if (width === 390) findings.push(...(await overflow(page, `${label} /login`)));
        await signIn(page, ADMIN);
        await expect(page.getByTestId("current-user")).toHaveText(ADMIN.email);
        for (const r of routes()) {
          await page.goto(r.path);
          await settle(page, r.heading);
          const where = `${label} ${r.path.replace(botId, "{bot}").replaceAll(backtestId, "{backtest}").replace(otherBacktestId, "{backtest2}")}`;
          expect(await page.evaluate(() => document.documentElement.dataset.theme)).toBe(theme);
          findings.push(...(await axe(page, where)));
          if (width === 390) findings.push(...(await overflow(page, where)));
        }
        if (findings.length > 0) await shot(page, `axe-${label}-last`);
      } finally {
        await context.close();
      }
      expect(findings.map((f) => `${f.where}: ${f.what}`).join("\n")).toBe("");
    });
  }
}

/** An open overlay: fully on screen, on top at its centre, and the page behind does not scroll. */
async function overlay(page: Page, dialog: ReturnType<Page["getByRole"]>, where: string): Promise<Finding[]> {
  const findings: Finding[] = [];
  const box = await dialog.evaluate((el) => {
    const r = el.getBoundingClientRect();
    const top = document.elementFromPoint(r.left + r.width / 2, r.top + Math.min(r.height / 2, 40));
    return { left: r.left, right: r.right, top: r.top, bottom: r.bottom, w: document.documentElement.clientWidth, h: window.innerHeight, onTop: top !== null && el.contains(top) };
  });
  if (box.left < 0 || box.right > box.w + 1 || box.top < 0 || box.bottom > box.h + 1) {
    findings.push({ where, what: `overlay off screen: [${Math.round(box.left)}, ${Math.round(box.right)}] x [${Math.round(box.top)}, ${Math.round(box.bottom)}] on ${box.w} x ${box.h}` });
  }
  if (!box.onTop) findings.push({ where, what: "something else is drawn over the overlay at its centre" });
  const before = await page.evaluate(() => window.scrollY);
  // The wheel over the backdrop (a corner the overlay does not cover, else the overlay's edge).
  await page.mouse.move(2, box.h - 2);
  await page.mouse.wheel(0, 900);
  await page.waitForTimeout(250);
  const after = await page.evaluate(() => ({ y: window.scrollY, overflow: getComputedStyle(document.documentElement).overflow }));
  if (after.y !== before) findings.push({ where, what: `scroll-through: the page behind scrolled from ${before} to ${after.y} px` });
  if (after.overflow !== "hidden") findings.push({ where, what: `the page behind is not locked (overflow ${after.overflow})` });
  return findings;
}

for (const theme of ["dark", "light"] as const) {
  for (const width of [1280, 390]) {
    test(`${theme} theme at ${width} px: open drawers and confirmations have no serious or critical axe violation and no scroll-through`, async ({ browser }: { browser: Browser }) => {
      test.setTimeout(180_000);
      const context = await browser.newContext({ baseURL: stack.baseURL, viewport: { width, height: width === 390 ? 844 : 800 } });
      await context.clock.install({ time: stack.now() });
      await context.addInitScript((t) => localStorage.setItem("tp-theme", t), theme);
      const page = await context.newPage();
      const findings: Finding[] = [];
      const label = `${theme}-${width}`;
      const check = async (dialog: ReturnType<Page["getByRole"]>, where: string) => {
        await expect(dialog).toBeVisible();
        await page.waitForTimeout(400);
        findings.push(...(await axe(page, `${label} ${where}`)));
        findings.push(...(await overlay(page, dialog, `${label} ${where}`)));
        if (width === 390) findings.push(...(await overflow(page, `${label} ${where}`)));
      };
      try {
        await page.goto("/login");
        await signIn(page, ADMIN);
        await expect(page.getByTestId("current-user")).toHaveText(ADMIN.email);

        // The Why-not drawer, over the bot page (long enough to scroll at both widths).
        await page.goto(`/bots/${botId}?panel=why-not`);
        const whyNot = page.getByRole("dialog", { name: "Why not trading" });
        await check(whyNot, "/bots/{bot} Why-not drawer");
        await page.keyboard.press("Escape");
        await expect(whyNot).toBeHidden();
        expect(await page.evaluate(() => getComputedStyle(document.documentElement).overflow)).not.toBe("hidden");

        // A desk control's confirmation: Kill and flatten, then Cancel (nothing is sent).
        await page.getByRole("group", { name: "Desk controls" }).getByRole("button", { name: "Kill and flatten" }).click();
        const confirm = page.getByRole("alertdialog", { name: "Kill and flatten: axe-paper" });
        await check(confirm, "/bots/{bot} Kill and flatten confirmation");
        await confirm.getByRole("button", { name: "Cancel" }).click();
        await expect(confirm).toBeHidden();
        await expect(page.getByRole("group", { name: "Desk controls" })).toBeVisible();

        // A Connections pop-out with its latency chart.
        await page.goto("/connections?provider=databento");
        const popout = page.getByRole("dialog", { name: "Databento usage events" });
        await expect(popout.getByRole("heading", { name: "Latency, last 24 h (per hour)" })).toBeVisible();
        await expect(popout.getByRole("figure", { name: "Databento latency p50 / p95 (ms)" })).toBeVisible();
        await check(popout, "/connections Databento pop-out");
        if (findings.length > 0) await shot(page, `axe-overlays-${label}-last`, { fullPage: false });
      } finally {
        await context.close();
      }
      expect(findings.map((f) => `${f.where}: ${f.what}`).join("\n")).toBe("");
    });
  }
}
