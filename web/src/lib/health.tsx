// Degraded-state tracking (ui.md "degraded-handling recipe"): derived from the QueryCache,
// not from any one component, so the banner and every gated action agree on what failed.
import { createContext, useContext, useMemo, useSyncExternalStore, type ReactNode } from "react";
import { useQueryClient, type QueryClient } from "@tanstack/react-query";
import { ApiError, NETWORK_UNREACHABLE } from "../api/errors";

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
}

function snapshotOf(client: QueryClient): Failure[] {
  const failures: Failure[] = [];
  for (const query of client.getQueryCache().getAll()) {
    if (!query.meta?.critical || query.state.status !== "error") continue;
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
    });
  }
  return failures.sort((a, b) => a.endpoint.localeCompare(b.endpoint));
}

/** A subscribable snapshot of the failures that keeps its identity while nothing changes. */
function failureStore(client: QueryClient) {
  let cached: Failure[] = [];
  let signature = "";
  return {
    subscribe: (onChange: () => void) => client.getQueryCache().subscribe(onChange),
    get: () => {
      const next = snapshotOf(client);
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
 */
export function useActionGate(endpoints: readonly string[]): string | null {
  const failures = useFailures();
  const down = failures.find((f) => f.unreachable);
  const hit = down ?? failures.find((f) => endpoints.includes(f.endpoint));
  if (!hit) return null;
  const trace = hit.traceId ? ` (trace ${hit.traceId})` : "";
  return down
    ? `Unavailable: the server is not answering (${hit.endpoint} failed)${trace}`
    : `Unavailable: ${hit.label} failed with ${hit.code}${trace}`;
}
