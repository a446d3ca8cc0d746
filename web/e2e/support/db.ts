// A fresh database per spec on the Postgres of DATABASE_URL, dropped afterwards.
import { randomBytes } from "node:crypto";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { baseDatabaseUrl } from "./paths";
import { forget, remember } from "./registry";
import { baseEnv } from "./procs";

const exec = promisify(execFile);

export async function psql(adminUrl: string, sql: string): Promise<string> {
  const { stdout } = await exec("psql", [adminUrl, "-v", "ON_ERROR_STOP=1", "-XAtqc", sql], { env: baseEnv(), timeout: 30_000 });
  return stdout;
}

export function withDatabase(url: string, name: string): string {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

export class Database {
  private constructor(
    readonly name: string,
    readonly url: string,
    private readonly adminUrl: string,
  ) {}

  static async create(label: string): Promise<Database> {
    const adminUrl = baseDatabaseUrl();
    const name = `tp_e2e_${label.replace(/[^a-z0-9]/gi, "").toLowerCase()}_${Date.now().toString(36)}_${randomBytes(3).toString("hex")}`;
    remember({ kind: "database", name, adminUrl });
    await psql(adminUrl, `CREATE DATABASE ${name}`);
    return new Database(name, withDatabase(adminUrl, name), adminUrl);
  }

  /** Runs SQL against this database. */
  query(sql: string): Promise<string> {
    return psql(this.url, sql);
  }

  async drop(): Promise<void> {
    await dropDatabase(this.adminUrl, this.name);
    forget({ kind: "database", name: this.name, adminUrl: this.adminUrl });
  }
}

export async function dropDatabase(adminUrl: string, name: string): Promise<void> {
  await psql(adminUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
}
