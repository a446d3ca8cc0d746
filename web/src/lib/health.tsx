// Degraded-state tracking (ui.md "degraded-handling recipe"): derived from the QueryCache,
// not from any one component, so the banner and every gated action agree on what failed.
// A critical query that is polled and has no answer within its freshness limit (the polls
// stopped, or a request hangs) is listed too, as stale: failing silently is still failing.
import { createContext, useContext, useMemo, useSyncExternalStore, type ReactNode } from "react";
import { useQueryClient, type Query, type QueryClient } from "@tanstack/react-query";
import { ApiError, NETWORK_UNREACHABLE } from "../api/errors";
import { formatAge, freshForMs, queryFreshness } from "./freshness";

export interface Failure {
  /** The API path the failed query reads (its query key's first element). */
  endpoint: string;
  label: string;
  code: string;
  message: string;
  traceId: string | null;
  suggestedFix: string | null;
  /** When it failed (ms since epoch). */
  since: number;
  /** When its data was last good, or null if it never was. */
  lastGoodAt: number | null;
  unreachable: boolean;
  /** No error, but no answer within the freshness limit either: the data shown is not current. */
  stale: boolean;
}

/** Code of a critical query listed because its answer is too old (no request failed). */
export const NO_FRESH_ANSWER = "NO_FRESH_ANSWER";

/** The shortest poll interval among the query's observers (ms), or null when nothing polls it. */
function pollInterval(query: Query): number | null {
  let shortest: number | null = null;
  for (const observer of query.observers) {
    const opt = observer.options.refetchInterval;
    const ms = typeof opt === "function" ? opt(query) : opt;
    if (typeof ms === "number" && ms > 0 && (shortest === null || ms < shortest)) shortest = ms;
  }
  return shortest;
}

/** A polled critical query whose last good answer is older than its freshness limit. */
function staleAnswer(query: Query, now: number): Failure | null {
  const every = query.isActive() ? pollInterval(query) : null;
  if (every === null || !query.state.dataUpdatedAt) return null;
  const limit = freshForMs(every);
  if (!queryFreshness({ dataUpdatedAt: query.state.dataUpdatedAt, isError: false }, now, limit).stale) return null;
  const endpoint = String(query.queryKey[0]);
  return {
    endpoint,
    label: query.meta?.label ?? endpoint,
    code: NO_FRESH_ANSWER,
    message: `no answer within the ${formatAge(limit)} freshness limit (the request is still outstanding or was never sent)`,
    traceId: null,
    suggestedFix: null,
    since: query.state.dataUpdatedAt + limit,
    lastGoodAt: query.state.dataUpdatedAt,
    unreachable: false,
    stale: true,
  };
}

function snapshotOf(client: QueryClient, now: number): Failure[] {
  const failures: Failure[] = [];
  const stale: Failure[] = [];
  for (const query of client.getQueryCache().getAll()) {
    if (!query.meta?.critical) continue;
    if (query.state.status !== "error") {
      const old = staleAnswer(query, now);
      if (old) stale.push(old);
      continue;
    }
    const error = query.state.error;
    const endpoint = String(query.queryKey[0]);
    const api = error instanceof ApiError ? error : null;
    // A missing session is not "degraded": the app sends the user to sign in.
    if (api?.unauthenticated) continue;
    failures.push({
      endpoint,
      label: query.meta.label ?? endpoint,
      code: api?.code ?? "CLIENT_ERROR",
      message: error instanceof Error ? error.message : String(error),
      traceId: api?.traceId ?? null,
      suggestedFix: api?.suggestedFix ?? null,
      since: query.state.errorUpdatedAt,
      lastGoodAt: query.state.dataUpdatedAt || null,
      unreachable: api?.code === NETWORK_UNREACHABLE,
      stale: false,
    });
  }
  // One stale entry per endpoint, and none where a query of that endpoint already failed.
  for (const old of stale) {
    if (!failures.some((f) => f.endpoint === old.endpoint)) failures.push(old);
  }
  return failures.sort((a, b) => a.endpoint.localeCompare(b.endpoint));
}

/**
 * A subscribable snapshot of the failures that keeps its identity while nothing changes. It is
 * re-read on every cache event and every second (an answer goes stale by age, not by event).
 */
function failureStore(client: QueryClient) {
  let cached: Failure[] = [];
  let signature = "";
  return {
    subscribe: (onChange: () => void) => {
      const unsubscribe = client.getQueryCache().subscribe(onChange);
      const tick = setInterval(onChange, 1000);
      return () => {
        unsubscribe();
        clearInterval(tick);
      };
    },
    get: () => {
      const next = snapshotOf(client, Date.now());
      const sig = JSON.stringify(next);
      if (sig !== signature) {
        signature = sig;
        cached = next;
      }
      return cached;
    },
  };
}

const HealthContext = createContext<Failure[]>([]);

/** Publishes the failing critical queries to the banner and to gated actions. */
export function HealthProvider({ children }: { children: ReactNode }) {
  const client = useQueryClient();
  const store = useMemo(() => failureStore(client), [client]);
  const failures = useSyncExternalStore(store.subscribe, store.get, store.get);
  return <HealthContext.Provider value={failures}>{children}</HealthContext.Provider>;
}

export function useFailures(): Failure[] {
  return useContext(HealthContext);
}

/**
 * Why an action that depends on `endpoints` must stay disabled, or null when it may run.
 * An unreachable server gates every action; otherwise only a failure of one of the endpoints.
 * An answer that is merely old (`stale`) gates nothing: its request has not failed (yet), and
 * the request timeout turns a hung one into a failure.
 */
export function useActionGate(endpoints: readonly string[]): string | null {
  const failures = useFailures().filter((f) => !f.stale);
  const down = failures.find((f) => f.unreachable);
  const hit = down ?? failures.find((f) => endpoints.includes(f.endpoint));
  if (!hit) return null;
  const trace = hit.traceId ? ` (trace ${hit.traceId})` : "";
  return down
    ? `Unavailable: the server is not answering (${hit.endpoint} failed)${trace}`
    : `Unavailable: ${hit.label} failed with ${hit.code}${trace}`;
}
