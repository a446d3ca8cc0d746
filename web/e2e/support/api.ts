// A signed-in API session from the test process, for the set-up the issues allow to happen
// outside the UI (enabling 2FA before the UI login, creating a bot, the kill switch).
import { request, type APIRequestContext } from "@playwright/test";
import { TotpDevice } from "./totp";

export class ApiFailure extends Error {
  constructor(
    readonly status: number,
    readonly body: Record<string, unknown>,
    what: string,
  ) {
    super(`${what} → ${status} ${JSON.stringify(body)}`);
  }
  get code(): string | undefined {
    return (this.body.error as { code?: string } | undefined)?.code ?? (this.body.code as string | undefined);
  }
}

export type Json = Record<string, unknown>;

export class ApiSession {
  private constructor(
    readonly baseURL: string,
    readonly ctx: APIRequestContext,
  ) {}

  static async anonymous(baseURL: string): Promise<ApiSession> {
    return new ApiSession(baseURL, await request.newContext({ baseURL }));
  }

  /** Password login, completing the second factor with `totp` when the server asks for it. */
  static async signIn(baseURL: string, email: string, password: string, totp?: TotpDevice): Promise<ApiSession> {
    const s = await ApiSession.anonymous(baseURL);
    const login = await s.post("/api/auth/login", { email, password });
    if (login.requires_2fa) {
      if (!totp) throw new Error(`${email} has 2FA enabled: pass its TotpDevice`);
      await s.post("/api/auth/2fa/verify", { temp_token: login.temp_token, code: await totp.nextCode() });
    }
    return s;
  }

  /**
   * Enrolls TOTP 2FA (setup with the password, confirm with a code), as an admin or operator
   * must before anything else; returns the device that signs in from now on. `now`: the
   * server's clock in ms (a shifted stack's `Stack.now`).
   */
  async enrollTotp(password: string, now?: () => number): Promise<TotpDevice> {
    const setup = await this.post("/api/auth/2fa/setup", { password });
    const device = new TotpDevice(setup.secret_base32 as string, now);
    await this.post("/api/auth/2fa/confirm", { code: await device.nextCode() });
    return device;
  }

  private async csrf(): Promise<string | undefined> {
    const state = await this.ctx.storageState();
    return state.cookies.find((c) => c.name.includes("csrf"))?.value;
  }

  async get(path: string): Promise<Json> {
    const res = await this.ctx.get(path);
    const body = (await res.json()) as Json;
    if (!res.ok()) throw new ApiFailure(res.status(), body, `GET ${path}`);
    return body;
  }

  async post(path: string, data: Json = {}): Promise<Json> {
    const token = await this.csrf();
    const res = await this.ctx.post(path, { data, headers: token ? { "x-csrf-token": token } : {} });
    const body = (await res.json()) as Json;
    if (!res.ok()) throw new ApiFailure(res.status(), body, `POST ${path}`);
    return body;
  }

  async dispose(): Promise<void> {
    await this.ctx.dispose();
  }
}
