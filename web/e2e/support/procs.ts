// Child processes with their output in a log file under test-results/servers/, recorded in the
// run registry, and killed when the worker exits (even after a failure).
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { SERVER_LOG_DIR } from "./paths";
import { forget, remember } from "./registry";

const live = new Set<ChildProcess>();
process.on("exit", () => {
  for (const child of live) child.kill("SIGKILL");
});

export class Proc {
  readonly exited: Promise<number | null>;
  private done = false;

  constructor(
    readonly label: string,
    readonly child: ChildProcess,
    readonly logPath: string,
  ) {
    live.add(child);
    const pid = child.pid!;
    remember({ kind: "process", pid, label });
    this.exited = new Promise((resolve) => {
      child.once("exit", (code, signal) => {
        this.done = true;
        live.delete(child);
        forget({ kind: "process", pid, label });
        fs.appendFileSync(logPath, `\n[e2e] ${label} exited: code ${code} signal ${signal}\n`);
        resolve(code);
      });
    });
  }

  get running(): boolean {
    return !this.done;
  }

  /** Sends `signal` and waits for the exit (SIGKILL after `graceMs` if it lingers). */
  async stop(signal: NodeJS.Signals = "SIGTERM", graceMs = 5_000): Promise<void> {
    if (this.done) return;
    this.child.kill(signal);
    const timer = setTimeout(() => this.child.kill("SIGKILL"), graceMs);
    await this.exited;
    clearTimeout(timer);
  }

  /** The last lines of the log, for error messages. */
  tail(lines = 30): string {
    try {
      return fs.readFileSync(this.logPath, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
    } catch {
      return "(no log)";
    }
  }
}

let counter = 0;

/** Starts `bin args` with exactly `env` (nothing inherited but what the caller passes). */
export function start(label: string, bin: string, args: string[], opts: { env: NodeJS.ProcessEnv; cwd: string; stdin?: string }): Proc {
  fs.mkdirSync(SERVER_LOG_DIR, { recursive: true });
  fs.mkdirSync(opts.cwd, { recursive: true });
  counter += 1;
  const logPath = path.join(SERVER_LOG_DIR, `${label}-${process.pid}-${counter}.log`);
  const log = fs.openSync(logPath, "a");
  fs.writeSync(log, `[e2e] ${new Date().toISOString()} ${bin} ${args.join(" ")}\n`);
  const child = spawn(bin, args, {
    cwd: opts.cwd,
    env: opts.env,
    stdio: [opts.stdin === undefined ? "ignore" : "pipe", log, log],
  });
  fs.closeSync(log);
  if (child.pid === undefined) throw new Error(`could not start ${bin}`);
  if (opts.stdin !== undefined) child.stdin!.end(opts.stdin);
  return new Proc(label, child, logPath);
}

/** Runs a command to completion; throws with its output when it fails. */
export async function run(label: string, bin: string, args: string[], opts: { env: NodeJS.ProcessEnv; cwd: string; stdin?: string }): Promise<string> {
  const proc = start(label, bin, args, opts);
  const code = await proc.exited;
  const out = fs.readFileSync(proc.logPath, "utf8");
  if (code !== 0) throw new Error(`${label} failed (exit ${code}):\n${out}`);
  return out;
}

/** A TCP port nothing listens on right now. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** Resolves once something accepts connections on the port. */
export async function waitForPort(port: number, timeoutMs: number, proc?: Proc): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const sock = net.connect(port, "127.0.0.1");
      sock.once("connect", () => {
        sock.destroy();
        resolve(true);
      });
      sock.once("error", () => resolve(false));
    });
    if (ok) return;
    if (proc && !proc.running) throw new Error(`${proc.label} exited before listening on ${port}:\n${proc.tail()}`);
    if (Date.now() > deadline) throw new Error(`nothing listens on ${port} after ${timeoutMs} ms${proc ? `:\n${proc.tail()}` : ""}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** PATH/HOME/locale only: a child sees no provider key the caller did not choose. */
export function baseEnv(): NodeJS.ProcessEnv {
  const keep = ["PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR"];
  const env: NodeJS.ProcessEnv = {};
  for (const k of keep) if (process.env[k] !== undefined) env[k] = process.env[k];
  return env;
}
