// One product stack per spec: a fresh database, optionally `tradeplane sandbox` (every vendor
// simulated on free ports), and `tradeplane serve` on a fixed free port that can be killed
// (SIGKILL) and started again on the same database and port. A stack may run on its own clock
// (`clockStart`): the server and the sandbox then start their clocks there
// (TRADEPLANE_CLOCK_START) and run at wall speed, e.g. to see a closed market on a weekday.
import type { Browser, Page } from "@playwright/test";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { ApiSession, Json } from "./api";
import { Database } from "./db";
import { REPO_ROOT, TRADEPLANE_BIN, WEB_DIST } from "./paths";
import { baseEnv, freePort, run, start, waitForPort, type Proc } from "./procs";

export interface Sandbox {
  httpPort: number;
  redisPort: number;
  livePort: number;
  proc: Proc;
}

/** The provider env of .env.sandbox pointed at a sandbox on `httpPort` / `redisPort` / `livePort`. */
export function sandboxProviderEnv(httpPort: number, redisPort: number, livePort: number): Record<string, string> {
  const text = fs.readFileSync(path.join(REPO_ROOT, ".env.sandbox"), "utf8");
  const env: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const m = /^\s*([A-Z0-9_]+)=(.*)$/.exec(line);
    if (!m) continue;
    env[m[1]!] = m[2]!
      .trim()
      .replaceAll("127.0.0.1:9400", `127.0.0.1:${httpPort}`)
      .replaceAll("127.0.0.1:9401", `127.0.0.1:${redisPort}`)
      .replaceAll("127.0.0.1:9402", `127.0.0.1:${livePort}`);
  }
  if (!env.DATABENTO_BASE_URL) throw new Error(".env.sandbox has no DATABENTO_BASE_URL");
  // The specs drive provider outages through the historical API's faults; Databento's live
  // stream (tests/it/databento_live.rs covers it end to end) would keep serving bars past them.
  delete env.DATABENTO_LIVE_ADDR;
  return env;
}

export interface StackOptions {
  /** Where the stack's clock starts; it runs at wall speed from there. Default: real time. */
  clockStart?: Date;
}

export class Stack {
  sandbox: Sandbox | null = null;
  server: Proc | null = null;
  /** Provider env the server was last started with (empty: no keys). */
  private providers: Record<string, string> = {};
  /** Server settings given at the first start, kept across restarts. */
  private serverEnv: Record<string, string> = {};
  private readonly encKey = randomBytes(32).toString("base64");
  private readonly dir: string;
  /** The stack's time minus the wall time (ms); null on real time. */
  private readonly clockOffset: number | null;

  private constructor(
    readonly label: string,
    readonly db: Database,
    readonly port: number,
    opts: StackOptions,
  ) {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), `tp-e2e-${label}-`));
    this.clockOffset = opts.clockStart ? opts.clockStart.getTime() - Date.now() : null;
  }

  static async create(label: string, opts: StackOptions = {}): Promise<Stack> {
    if (!fs.existsSync(path.join(WEB_DIST, "index.html"))) {
      throw new Error(`${WEB_DIST}/index.html is missing: build the web app first (npx vite build)`);
    }
    if (!fs.existsSync(TRADEPLANE_BIN)) {
      throw new Error(`${TRADEPLANE_BIN} is missing: build it (cargo build --bin tradeplane) or set TRADEPLANE_BIN`);
    }
    const db = await Database.create(label);
    return new Stack(label, db, await freePort(), opts);
  }

  get baseURL(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** The stack's time in ms since the epoch: what its server and sandbox read now. */
  now(): number {
    return Date.now() + (this.clockOffset ?? 0);
  }

  /**
   * A browser page on this stack (its base URL). On a shifted stack the page's clock starts at
   * the stack's time and runs on, so the web app's "ago" and freshness checks agree with the
   * server, as a user's browser would.
   */
  async newPage(browser: Browser): Promise<Page> {
    const context = await browser.newContext({ baseURL: this.baseURL });
    if (this.clockOffset !== null) await context.clock.install({ time: this.now() });
    return context.newPage();
  }

  /**
   * Each process of a shifted stack starts its clock at the stack's time when it is spawned, so
   * the server and its sandbox agree (within their start-up) and a restart keeps the timeline.
   */
  private clockEnv(): Record<string, string> {
    return this.clockOffset === null ? {} : { TRADEPLANE_CLOCK_START: new Date(this.now()).toISOString() };
  }

  private env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
    return {
      ...baseEnv(),
      DATABASE_URL: this.db.url,
      TRADEPLANE_DATA_DIR: path.join(this.dir, "data"),
      LOG_FORMAT: "json",
      RUST_LOG: process.env.E2E_RUST_LOG ?? "info",
      ...extra,
    };
  }

  /** `tradeplane admin create` with the password on stdin. */
  async createUser(email: string, password: string, role: "admin" | "operator" | "viewer" = "admin"): Promise<void> {
    await run(`${this.label}-admin-create`, TRADEPLANE_BIN, ["admin", "create", "--email", email, "--role", role], {
      env: this.env(),
      cwd: this.dir,
      stdin: `${password}\n`,
    });
  }

  async startSandbox(): Promise<Sandbox> {
    if (this.sandbox?.proc.running) return this.sandbox;
    const httpPort = this.sandbox?.httpPort ?? (await freePort());
    const redisPort = this.sandbox?.redisPort ?? (await freePort());
    // Databento's live gateway: its own port per stack (specs run side by side).
    const livePort = this.sandbox?.livePort ?? (await freePort());
    const proc = start(
      `${this.label}-sandbox`,
      TRADEPLANE_BIN,
      [
        "sandbox",
        "--listen",
        `127.0.0.1:${httpPort}`,
        "--redis-listen",
        `127.0.0.1:${redisPort}`,
        "--live-listen",
        `127.0.0.1:${livePort}`,
      ],
      { env: this.env(this.clockEnv()), cwd: this.dir },
    );
    await waitForPort(httpPort, 15_000, proc);
    await waitForPort(redisPort, 15_000, proc);
    await waitForPort(livePort, 15_000, proc);
    this.sandbox = { httpPort, redisPort, livePort, proc };
    return this.sandbox;
  }

  /** Stops the simulator: every provider call fails as unreachable from now on. */
  async stopSandbox(): Promise<void> {
    await this.sandbox?.proc.stop("SIGKILL");
  }

  /**
   * Starts `tradeplane serve` and waits for /readyz. `providers: "sandbox"` gives it the keys of
   * .env.sandbox pointed at the running sandbox; `"none"` no provider keys at all. `env` adds
   * server settings (kept for restarts).
   */
  async startServer(opts: { providers?: "none" | "sandbox"; env?: Record<string, string> } = {}): Promise<void> {
    if (this.server?.running) throw new Error("the server is already running");
    if (opts.env) this.serverEnv = opts.env;
    if (opts.providers === "sandbox") {
      const sb = this.sandbox ?? (await this.startSandbox());
      this.providers = sandboxProviderEnv(sb.httpPort, sb.redisPort, sb.livePort);
    } else if (opts.providers === "none") {
      this.providers = {};
    }
    const proc = start(`${this.label}-serve`, TRADEPLANE_BIN, ["serve"], {
      env: this.env({
        ...this.clockEnv(),
        ...this.providers,
        ...this.serverEnv,
        TRADEPLANE_BIND: `127.0.0.1:${this.port}`,
        TRADEPLANE_WEB_DIR: WEB_DIST,
        TRADEPLANE_INSECURE_COOKIES: "1",
        APP_ENC_KEY: this.encKey,
      }),
      cwd: this.dir,
    });
    this.server = proc;
    await this.waitReady(proc);
  }

  private async waitReady(proc: Proc): Promise<void> {
    const deadline = Date.now() + 30_000;
    let last = "";
    while (Date.now() < deadline) {
      if (!proc.running) throw new Error(`tradeplane serve exited during start:\n${proc.tail()}`);
      try {
        const res = await fetch(`${this.baseURL}/readyz`);
        if (res.ok) return;
        last = `${res.status} ${await res.text()}`;
      } catch (e) {
        last = String(e);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`tradeplane serve not ready after 30 s (${last}):\n${proc.tail()}`);
  }

  /** SIGKILL: the API vanishes mid-request, as in a crash. */
  async killServer(): Promise<void> {
    await this.server?.stop("SIGKILL");
  }

  /**
   * A PAPER bot for a spec's set-up, returning its id: created through the API in LAB (the only
   * stage a new bot may have), then moved to PAPER in this stack's database. That stands in for
   * the backtest its promotion would ask for (lab.spec drives that path through the UI).
   */
  async paperBot(api: ApiSession, body: Json): Promise<string> {
    const created = await api.post("/api/bots", { ...body, stage: "LAB" });
    const id = (created.bot as { id: string }).id;
    await this.setStage(id, "PAPER");
    return id;
  }

  /** Moves a stopped bot to `stage` in the database (set-up standing in for its evidence). */
  async setStage(botId: string, stage: "LAB" | "PAPER" | "SHADOW"): Promise<void> {
    if (!/^[0-9a-f-]{36}$/.test(botId)) throw new Error(`not a bot id: ${botId}`);
    const moved = await this.db.query(`UPDATE bots SET stage = '${stage}' WHERE id = '${botId}' RETURNING id`);
    if (moved.trim() !== botId) throw new Error(`bot ${botId} not moved to ${stage}`);
  }

  /** Kills the server and starts it again on the same database and port. */
  async restartServer(opts: { providers?: "none" | "sandbox" } = {}): Promise<void> {
    await this.killServer();
    await this.startServer(opts);
  }

  /** Stops everything and drops the database; safe to call twice and after failures. */
  async dispose(): Promise<void> {
    const errors: unknown[] = [];
    for (const p of [this.server, this.sandbox?.proc]) {
      try {
        await p?.stop("SIGTERM", 3_000);
      } catch (e) {
        errors.push(e);
      }
    }
    try {
      await this.db.drop();
    } catch (e) {
      errors.push(e);
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
    if (errors.length) throw new AggregateError(errors, `cleaning up the ${this.label} stack failed`);
  }
}
