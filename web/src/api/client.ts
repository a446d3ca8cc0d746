// The typed API client (types generated from /api/openapi.json into schema.ts).
// Every request carries a traceparent the client chose, the CSRF token on state changes,
// and the session cookie; every failure becomes an ApiError. A read that gets no answer within
// REQUEST_TIMEOUT_MS is aborted and fails, so a hung request never leaves its last answer
// looking current.
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

/** How long a read may go unanswered before it fails (NETWORK_UNREACHABLE, "did not answer"). */
export const REQUEST_TIMEOUT_MS = 10_000;

/**
 * The signal a read (GET, HEAD, OPTIONS) is sent with: its caller's signal, and a timeout after
 * `REQUEST_TIMEOUT_MS`. Null for a write, which is not timed out here: one aborted client-side
 * may still have been applied, and calling it failed would be a guess.
 */
export function requestSignal(method: string, caller: AbortSignal | null | undefined): AbortSignal | null {
  if (!SAFE.has(method.toUpperCase())) return null;
  const timeout = AbortSignal.timeout(REQUEST_TIMEOUT_MS);
  if (!caller) return timeout;
  if (typeof AbortSignal.any === "function") return AbortSignal.any([caller, timeout]);
  const both = new AbortController();
  for (const s of [caller, timeout]) {
    if (s.aborted) both.abort(s.reason);
    else s.addEventListener("abort", () => both.abort(s.reason), { once: true });
  }
  return both.signal;
}

/** The abort of `AbortSignal.timeout` (a DOMException, which is not an Error everywhere). */
function isTimeout(error: unknown): boolean {
  return typeof error === "object" && error !== null && (error as { name?: unknown }).name === "TimeoutError";
}

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
    const path = new URL(request.url).pathname;
    return new ApiError({
      status: 0,
      code: NETWORK_UNREACHABLE,
      message: isTimeout(error)
        ? `The server did not answer ${path} within ${REQUEST_TIMEOUT_MS / 1000} s`
        : `The server did not answer ${path}: ${error instanceof Error ? error.message : String(error)}`,
      suggestedFix: "Check that tradeplane is running and reachable, then retry.",
      traceId: traceIdOf(request),
      endpoint: path,
    });
  },
};

export const api = createClient<paths>({
  baseUrl: typeof window === "undefined" ? "http://localhost" : window.location.origin,
  credentials: "same-origin",
  // Looked up per call, not captured at load, so test interceptors (msw) see every request.
  fetch: (request: Request) => {
    const signal = requestSignal(request.method, request.signal);
    return signal ? globalThis.fetch(request, { signal }) : globalThis.fetch(request);
  },
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
