// Kills whatever a crashed or interrupted worker left running and drops its databases.
import fs from "node:fs";
import { dropDatabase } from "./db";
import { leftovers, runDir } from "./registry";

function isOurs(pid: number): boolean {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("tradeplane");
  } catch {
    return false;
  }
}

export default async function globalTeardown(): Promise<void> {
  const dir = runDir();
  for (const entry of leftovers(dir)) {
    if (entry.kind === "process" && isOurs(entry.pid)) {
      console.warn(`[e2e] killing leftover ${entry.label} (pid ${entry.pid})`);
      process.kill(entry.pid, "SIGKILL");
    }
  }
  for (const entry of leftovers(dir)) {
    if (entry.kind === "database") {
      console.warn(`[e2e] dropping leftover database ${entry.name}`);
      await dropDatabase(entry.adminUrl, entry.name).catch((e) => console.warn(String(e)));
    }
  }
  fs.rmSync(dir, { recursive: true, force: true });
}
