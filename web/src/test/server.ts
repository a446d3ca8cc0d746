// The msw server every unit test shares; tests add handlers with server.use(...).
import { http, HttpResponse } from "msw";
import { setupServer } from "msw/node";

/**
 * Defaults every test keeps (a test's own `server.use` handlers come first): the bot-name
 * lookup (GET /api/bots?limit=500) knows no bots, so ids show as ids; the first admin exists
 * (GET /api/auth/first-run), so the login page signs in.
 */
const defaults = [
  http.get("*/api/bots", ({ request }) =>
    new URL(request.url).searchParams.get("limit") === "500"
      ? HttpResponse.json({ success: true, trace_id: "0".repeat(32), items: [], next_cursor: null })
      : undefined,
  ),
  http.get("*/api/auth/first-run", () => HttpResponse.json({ success: true, trace_id: "0".repeat(32), needs_first_admin: false })),
];

export const server = setupServer(...defaults);
