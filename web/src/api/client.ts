// The typed API client (types generated from /api/openapi.json into schema.ts).
// Every request carries a traceparent the client chose, the CSRF token on state changes,
// and the session cookie; every failure becomes an ApiError.
import createClient, { type Middleware } from "openapi-fetch";
import type { paths } from "./schema";
import { ApiError, NETWORK_UNREACHABLE, errorFromResponse } from "./errors";

function randomHex(bytes: number): string {
  const buf = new Uint8Array(bytes);
  crypto.getRandomValues(buf);
  return Array.from(buf, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** A fresh W3C traceparent; its trace id is what the server logs and returns for the request. */
export function newTraceparent(): { traceparent: string; traceId: string } {
  const traceId = randomHex(16);
  return { traceparent: `00-${traceId}-${randomHex(8)}-01`, traceId };
}

function traceIdOf(request: Request): string | null {
  return request.headers.get("traceparent")?.split("-")[1] ?? null;
}

/** The CSRF token the server issued in a cookie whose name contains `csrf`. */
export function csrfToken(): string | null {
  for (const part of document.cookie.split(";")) {
    const [name, ...value] = part.trim().split("=");
    if (name && name.toLowerCase().includes("csrf")) return decodeURIComponent(value.join("="));
  }
  return null;
}

const SAFE = new Set(["GET", "HEAD", "OPTIONS"]);

const middleware: Middleware = {
  onRequest({ request }) {
    if (!request.headers.has("traceparent")) request.headers.set("traceparent", newTraceparent().traceparent);
    if (!SAFE.has(request.method)) {
      const token = csrfToken();
      if (token) request.headers.set("x-csrf-token", token);
    }
    return request;
  },
  onError({ request, error }) {
    return new ApiError({
      status: 0,
      code: NETWORK_UNREACHABLE,
      message: `The server did not answer ${new URL(request.url).pathname}: ${error instanceof Error ? error.message : String(error)}`,
      suggestedFix: "Check that tradeplane is running and reachable, then retry.",
      traceId: traceIdOf(request),
      endpoint: new URL(request.url).pathname,
    });
  },
};

export const api = createClient<paths>({
  baseUrl: typeof window === "undefined" ? "http://localhost" : window.location.origin,
  credentials: "same-origin",
  // Looked up per call, not captured at load, so test interceptors (msw) see every request.
  fetch: (request: Request) => globalThis.fetch(request),
});
api.use(middleware);

type Result<T> = { data?: T; error?: unknown; response: Response };

/** Awaits an openapi-fetch call and returns its data, or throws the ApiError of its failure. */
export async function unwrap<T>(call: Promise<Result<T>>): Promise<T> {
  const { data, error, response } = await call;
  if (!response.ok || data === undefined) {
    throw errorFromResponse(response, error, new URL(response.url || "http://x/unknown").pathname);
  }
  return data;
}
