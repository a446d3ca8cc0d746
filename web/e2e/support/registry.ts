// Everything the suite starts (processes, databases) is recorded in a run folder, so the global
// teardown can clean up whatever a crashed or interrupted worker left behind.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

/** The run id is chosen by the global setup and inherited by the workers. */
export function runDir(): string {
  const run = process.env.TP_E2E_RUN ?? `adhoc-${process.pid}`;
  const dir = path.join(os.tmpdir(), "tradeplane-e2e", run);
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

export type Entry = { kind: "process"; pid: number; label: string } | { kind: "database"; name: string; adminUrl: string };

function fileOf(entry: Entry): string {
  return path.join(runDir(), entry.kind === "process" ? `proc-${entry.pid}.json` : `db-${entry.name}.json`);
}

export function remember(entry: Entry): void {
  fs.writeFileSync(fileOf(entry), JSON.stringify(entry));
}

export function forget(entry: Entry): void {
  fs.rmSync(fileOf(entry), { force: true });
}

export function leftovers(dir: string): Entry[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith(".json"))
    .map((f) => JSON.parse(fs.readFileSync(path.join(dir, f), "utf8")) as Entry);
}
