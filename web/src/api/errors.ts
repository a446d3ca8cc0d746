// One error type for every failed API call: the server's envelope when there is one,
// otherwise a network failure named as such. The trace id is always known, because the
// client picks it (W3C traceparent) before the request leaves.

export interface ApiErrorInit {
  status: number;
  code: string;
  message: string;
  suggestedFix?: string | null;
  traceId: string | null;
  endpoint: string;
  details?: unknown;
  /** Seconds to wait, from a 429's Retry-After or the error's details. */
  retryAfterSecs?: number | null;
}

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly suggestedFix: string | null;
  readonly traceId: string | null;
  readonly endpoint: string;
  readonly details: unknown;
  readonly retryAfterSecs: number | null;

  constructor(init: ApiErrorInit) {
    super(init.message);
    this.name = "ApiError";
    this.status = init.status;
    this.code = init.code;
    this.suggestedFix = init.suggestedFix ?? null;
    this.traceId = init.traceId;
    this.endpoint = init.endpoint;
    this.details = init.details;
    this.retryAfterSecs = init.retryAfterSecs ?? null;
  }

  /** The request never got an answer (server down, network cut). */
  get unreachable(): boolean {
    return this.status === 0;
  }

  /** The session is missing or expired: the user must sign in again. (Other 401s, such as
   *  TWO_FACTOR_REQUIRED or TWO_FACTOR_INVALID, ask for a code and keep the session.) */
  get unauthenticated(): boolean {
    return this.status === 401 && this.code === "UNAUTHENTICATED";
  }

  get forbidden(): boolean {
    return this.status === 403;
  }
}

export const NETWORK_UNREACHABLE = "NETWORK_UNREACHABLE";

interface ErrorBody {
  trace_id?: string;
  error?: { code?: string; message?: string; suggested_fix?: string; details?: unknown };
}

function retryAfter(response: Response, details: unknown): number | null {
  const header = response.headers.get("retry-after");
  if (header && /^\d+$/.test(header)) return Number(header);
  if (details && typeof details === "object") {
    const d = details as Record<string, unknown>;
    for (const key of ["retry_after_secs", "retry_after_seconds", "retry_after"]) {
      if (typeof d[key] === "number") return d[key] as number;
    }
  }
  return null;
}

/** Builds the ApiError of a non-2xx answer from its envelope (or its status when it has none). */
export function errorFromResponse(response: Response, body: unknown, endpoint: string): ApiError {
  const b = (body && typeof body === "object" ? body : {}) as ErrorBody;
  const details = b.error?.details;
  return new ApiError({
    status: response.status,
    code: b.error?.code ?? `HTTP_${response.status}`,
    message: b.error?.message ?? `${endpoint} answered ${response.status} ${response.statusText}`.trim(),
    suggestedFix: b.error?.suggested_fix ?? null,
    traceId: response.headers.get("x-trace-id") ?? b.trace_id ?? null,
    endpoint,
    details,
    retryAfterSecs: retryAfter(response, details),
  });
}

export function isApiError(e: unknown): e is ApiError {
  return e instanceof ApiError;
}
