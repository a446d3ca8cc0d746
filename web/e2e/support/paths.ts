// Where things are: the repo, the built web app, the tradeplane binary, the output folder.
import path from "node:path";
import { fileURLToPath } from "node:url";

/** web/ (this file is web/e2e/support/paths.ts). */
export const WEB_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const REPO_ROOT = path.resolve(WEB_DIR, "..");
/** The built web app the server serves (E2E_WEB_DIST: another build, e.g. a preview). */
export const WEB_DIST = path.resolve(WEB_DIR, process.env.E2E_WEB_DIST ?? "dist");
/** Playwright's outputDir (see playwright.config.ts). */
export const OUTPUT_DIR = path.join(WEB_DIR, "test-results");
export const SERVER_LOG_DIR = path.join(OUTPUT_DIR, "servers");
export const SCREENSHOT_DIR = path.join(OUTPUT_DIR, "screenshots");

/** The binary under test: TRADEPLANE_BIN, else the workspace's debug build. */
export const TRADEPLANE_BIN = path.resolve(WEB_DIR, process.env.TRADEPLANE_BIN ?? "../target/debug/tradeplane");

/** The Postgres the run may create databases on (the test run's server). */
export function baseDatabaseUrl(): string {
  const url = process.env.DATABASE_URL;
  if (!url) {
    throw new Error(
      "DATABASE_URL is not set: the e2e suite creates a fresh database per spec on that Postgres " +
        "(e.g. DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres npx playwright test)",
    );
  }
  return url;
}
