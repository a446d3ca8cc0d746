// What an operator does in the browser, shared by the specs.
import fs from "node:fs";
import path from "node:path";
import { expect, type Locator, type Page } from "@playwright/test";
import { SCREENSHOT_DIR } from "./paths";

/**
 * Saves a screenshot as test-results/screenshots/<name>.png: the whole page, or only the
 * viewport (`fullPage: false`) when a drawer or dialog is open over it.
 */
export async function shot(page: Page, name: string, opts: { fullPage?: boolean } = {}): Promise<void> {
  fs.mkdirSync(SCREENSHOT_DIR, { recursive: true });
  await page.screenshot({ path: path.join(SCREENSHOT_DIR, `${name}.png`), fullPage: opts.fullPage ?? true });
}

/** Follows a main-navigation link and waits for the page's heading. */
export async function openTab(page: Page, link: string, heading: string | RegExp = link): Promise<void> {
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: link, exact: true }).click();
  await expect(page.getByRole("heading", { level: 1, name: heading })).toBeVisible();
}

export const TRACE_ID = /[0-9a-f]{32}/;

/** The copy buttons of the TraceId component inside `scope` (their names hold the full id). */
export function traceIds(scope: Locator | Page): Locator {
  return scope.getByRole("button", { name: /^Copy trace id [0-9a-f]{32}$/ });
}

/** The full trace id shown by the first TraceId inside `scope`. */
export async function traceIdIn(scope: Locator | Page): Promise<string> {
  const button = traceIds(scope).first();
  await expect(button).toBeVisible();
  const name = (await button.getAttribute("aria-label")) ?? "";
  return TRACE_ID.exec(name)![0];
}

/** The sign-in page: email + password, then a TOTP or backup code when asked. */
export async function signIn(
  page: Page,
  creds: { email: string; password: string },
  second?: { code: () => Promise<string> } | { backupCode: string },
): Promise<void> {
  await expect(page.getByRole("heading", { name: "Sign in" })).toBeVisible();
  await page.getByLabel("Email").fill(creds.email);
  await page.getByLabel("Password").fill(creds.password);
  await page.getByRole("button", { name: "Sign in" }).click();
  if (!second) return;
  await expect(page.getByRole("heading", { name: "Two-factor authentication" })).toBeVisible();
  if ("backupCode" in second) {
    await page.getByRole("button", { name: "Use a backup code" }).click();
    await page.getByLabel("Backup code").fill(second.backupCode);
  } else {
    await page.getByLabel("Authenticator code").fill(await second.code());
  }
  await page.getByRole("button", { name: "Verify code" }).click();
}

/** Signed in: the shell shows the user. */
export async function expectSignedIn(page: Page, email: string): Promise<void> {
  await expect(page.getByTestId("current-user")).toHaveText(email);
}
