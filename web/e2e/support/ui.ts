// What an operator does in the browser, shared by the specs.
import fs from "node:fs";
import path from "node:path";
import { expect, type Page } from "@playwright/test";
import { SCREENSHOT_DIR } from "./paths";

/** Saves a full-page screenshot as test-results/screenshots/<name>.png. */
export async function shot(page: Page, name: string): Promise<void> {
  fs.mkdirSync(SCREENSHOT_DIR, { recursive: true });
  await page.screenshot({ path: path.join(SCREENSHOT_DIR, `${name}.png`), fullPage: true });
}

/** Follows a main-navigation link and waits for the page's heading. */
export async function openTab(page: Page, link: string | RegExp, heading: string | RegExp = link): Promise<void> {
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: link }).click();
  await expect(page.getByRole("heading", { name: heading, level: 1 })).toBeVisible();
}

/** A 32-hex trace id somewhere inside `text`. */
export const TRACE_ID = /[0-9a-f]{32}/;
