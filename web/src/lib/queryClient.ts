// The one QueryClient setup: no retry on 4xx (a retry cannot fix bad input or a missing
// session), polling pauses while the tab is hidden (TanStack's default, kept on purpose).
// Requests go out whatever the browser thinks of the network (`networkMode: "always"`): offline,
// TanStack would otherwise pause them with the last answer still "success", so a dead link
// would look healthy; sent anyway, they fail and the failure shows.
import { MutationCache, QueryCache, QueryClient } from "@tanstack/react-query";
import { isApiError } from "../api/errors";

declare module "@tanstack/react-query" {
  interface Register {
    queryMeta: {
      /** A failure of this query raises the DegradedBanner and gates the actions that use it. */
      critical?: boolean;
      /** What the query shows, for the banner ("System status"). */
      label?: string;
    };
  }
}

/** `onUnauthenticated` runs when any query or mutation gets a 401 (session missing or expired). */
export function makeQueryClient(onUnauthenticated: () => void = () => {}): QueryClient {
  const on401 = (error: unknown) => {
    if (isApiError(error) && error.unauthenticated) onUnauthenticated();
  };
  return new QueryClient({
    queryCache: new QueryCache({ onError: on401 }),
    mutationCache: new MutationCache({ onError: on401 }),
    defaultOptions: {
      queries: {
        retry: (failures, error) => {
          if (isApiError(error) && error.status >= 400 && error.status < 500) return false;
          return failures < 2;
        },
        retryDelay: (attempt) => Math.min(1000 * 2 ** attempt, 8000),
        networkMode: "always",
        refetchIntervalInBackground: false,
        refetchOnWindowFocus: true,
        staleTime: 2_000,
      },
      mutations: { retry: false, networkMode: "always" },
    },
  });
}

/** Polling cadences (ms): status and blockers fast, slower panels slower. */
export const POLL = { fast: 5_000, normal: 15_000, slow: 30_000 } as const;
