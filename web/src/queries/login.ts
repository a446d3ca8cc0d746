// Sign-in calls (POST /api/auth/login, POST /api/auth/2fa/verify) and the helpers the login
// page needs to read their answers: which TWO_FACTOR_INVALID means "wrong code" and which
// means "start again", and where it is safe to go afterwards.
import { api, unwrap } from "../api/client";
import { ApiError } from "../api/errors";
import type { components } from "../api/schema";

export type LoginAnswer = components["schemas"]["Envelope_LoginBody"];
export type SessionAnswer = components["schemas"]["Envelope_SessionBody"];

/** Email + password. With 2FA enrolled the answer carries `requires_2fa` and a temp token. */
export function login(email: string, password: string): Promise<LoginAnswer> {
  return unwrap(api.POST("/api/auth/login", { body: { email, password } }));
}

type TwoFactorVerifyBody = components["schemas"]["VerifyRequest"];

/** The second step: the temp token plus exactly one of a TOTP code or a backup code. */
export function verifyTwoFactor(
  tempToken: string,
  factor: { code: string } | { backupCode: string },
): Promise<SessionAnswer> {
  const body: TwoFactorVerifyBody =
    "code" in factor
      ? { temp_token: tempToken, code: factor.code }
      : { temp_token: tempToken, backup_code: factor.backupCode };
  return unwrap(api.POST("/api/auth/2fa/verify", { body }));
}

/**
 * What a TWO_FACTOR_INVALID answer means. A wrong code carries `details.attempts_left` (and
 * `sign_in_again` once the attempt is used up); an expired, used or revoked temp token carries
 * no details — then only a new password step can help.
 */
export type CodeRejection =
  | { kind: "wrong-code"; attemptsLeft: number | null }
  | { kind: "restart"; reason: "expired" | "exhausted" };

export function codeRejection(error: ApiError): CodeRejection | null {
  if (error.code !== "TWO_FACTOR_INVALID") return null;
  const d = (error.details && typeof error.details === "object" ? error.details : {}) as Record<string, unknown>;
  const left = typeof d.attempts_left === "number" ? d.attempts_left : null;
  if (d.sign_in_again === true || left === 0) return { kind: "restart", reason: "exhausted" };
  if (left === null) return { kind: "restart", reason: "expired" };
  return { kind: "wrong-code", attemptsLeft: left };
}

/**
 * Where to go after sign-in: `next` only when it is a path on this origin ("/bots?x=1"),
 * never an absolute or protocol-relative URL (open-redirect guard), never back to /login.
 */
export function safeNext(next: string | null | undefined, origin: string = window.location.origin): string {
  if (!next || !next.startsWith("/") || next.startsWith("//") || next.startsWith("/\\")) return "/";
  // Control characters and backslashes can make browsers read a path as a host.
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f\\]/.test(next)) return "/";
  let url: URL;
  try {
    url = new URL(next, origin);
  } catch {
    return "/";
  }
  if (url.origin !== origin) return "/";
  if (url.pathname === "/login" || url.pathname.startsWith("/login/")) return "/";
  return `${url.pathname}${url.search}${url.hash}`;
}

/** GET /api/auth/first-run (public): whether no user exists yet. */
export function firstRun(): Promise<{ needs_first_admin: boolean }> {
  return unwrap(api.GET("/api/auth/first-run"));
}

/** POST /api/auth/register: creates the first admin (refused once any user exists). */
export function registerFirstAdmin(email: string, password: string) {
  return unwrap(api.POST("/api/auth/register", { body: { email, password } }));
}
