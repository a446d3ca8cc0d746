// Test fixtures for the settings units (shapes from the generated API types).
import { http, HttpResponse } from "msw";
import type { components } from "../../api/schema";
import { ok } from "../../test/render";

type UserView = components["schemas"]["UserView"];
type SessionView = components["schemas"]["SessionView"];

export const ADMIN_ID = "11111111-1111-4111-8111-111111111111";
export const OPERATOR_ID = "22222222-2222-4222-8222-222222222222";

export function user(over: Partial<UserView> = {}): UserView {
  return {
    id: ADMIN_ID,
    email: "ada@desk.example",
    role: "admin",
    created_at: "2026-11-20T09:00:00Z",
    disabled: false,
    disabled_at: null,
    two_factor_enabled: false,
    two_factor_method: null,
    two_factor_enrolled_at: null,
    two_factor_last_verified_at: null,
    backup_codes_remaining: 0,
    ...over,
  };
}

export function session(over: Partial<SessionView> = {}): SessionView {
  return {
    id: "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa",
    created_at: "2026-11-26T08:00:00Z",
    last_seen_at: new Date(Date.now() - 12_000).toISOString(),
    expires_at: "2026-11-26T20:00:00Z",
    step_up_at: null,
    ip: "10.0.0.7",
    user_agent: "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36",
    current: true,
    ...over,
  };
}

export function meBody(u: UserView = user(), stepUpValidUntil: string | null = null) {
  return { user: u, session: session(), step_up_valid_until: stepUpValidUntil };
}

/** GET /api/auth/me answering `u`. */
export function meHandler(u: UserView = user(), stepUpValidUntil: string | null = null) {
  return http.get("*/api/auth/me", () => HttpResponse.json(ok(meBody(u, stepUpValidUntil))));
}

export const TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";

/** A JSON error answer with the server's envelope and x-trace-id header. */
export function errorResponse(status: number, code: string, message: string, fix = "Do the fix.", details?: unknown) {
  return HttpResponse.json(
    { success: false, trace_id: TRACE, error: { code, message, suggested_fix: fix, ...(details ? { details } : {}) } },
    { status, headers: { "x-trace-id": TRACE } },
  );
}
