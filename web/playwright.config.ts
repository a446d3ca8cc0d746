import { defineConfig, devices } from "@playwright/test";

// End-to-end tests against the real product: each spec starts its own stack (fresh database,
// `tradeplane sandbox`, `tradeplane serve` with the built web/dist) from e2e/support/stack.ts.
// Needs DATABASE_URL (a Postgres the run may create databases on) and the binary
// (TRADEPLANE_BIN, default ../target/debug/tradeplane); `make test` provides both.
// Browser: Debian's Chromium (never a downloaded browser), with the flags the machine's
// closed network needs.
export default defineConfig({
  testDir: "e2e",
  outputDir: "test-results",
  globalSetup: "./e2e/support/global-setup.ts",
  globalTeardown: "./e2e/support/global-teardown.ts",
  // One spec file per worker; the specs are serial stories, each with its own server.
  workers: 2,
  fullyParallel: false,
  retries: 0,
  forbidOnly: !!process.env.CI,
  // Per test (a story step). The axe sweep (every view × 2 themes × 2 widths, ≈ 2.5 min) and
  // the controls story (≈ 1 min) came on top of the earlier ≈ 5-minute run.
  timeout: 90_000,
  globalTimeout: 12 * 60_000,
  expect: { timeout: 15_000 },
  reporter: [["list"]],
  use: {
    trace: "retain-on-failure",
    screenshot: "only-on-failure",
    actionTimeout: 15_000,
    navigationTimeout: 20_000,
  },
  projects: [
    {
      name: "chromium",
      use: {
        ...devices["Desktop Chrome"],
        viewport: { width: 1280, height: 800 },
        launchOptions: {
          executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
          args: [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
          ],
        },
      },
    },
  ],
});
