// Renders a component inside the app's providers (fresh QueryClient, HealthProvider, a
// memory router at `path`) for unit tests.
import type { ReactNode } from "react";
import { render } from "@testing-library/react";
import { QueryClientProvider } from "@tanstack/react-query";
import { createMemoryHistory, createRootRoute, createRoute, createRouter, Outlet, RouterProvider } from "@tanstack/react-router";
import { makeQueryClient } from "../lib/queryClient";
import { HealthProvider } from "../lib/health";
import { looseSearch, plainSearch } from "../router";

export function renderWithApp(ui: ReactNode, { path = "/" }: { path?: string } = {}) {
  const client = makeQueryClient();
  // Tests exercise failure paths: one attempt, no retry delay.
  client.setDefaultOptions({ queries: { ...client.getDefaultOptions().queries, retry: false } });
  const root = createRootRoute({ component: () => <Outlet /> });
  const any = createRoute({ getParentRoute: () => root, path: "$", validateSearch: looseSearch, component: () => <>{ui}</> });
  const index = createRoute({ getParentRoute: () => root, path: "/", validateSearch: looseSearch, component: () => <>{ui}</> });
  const router = createRouter({ routeTree: root.addChildren([index, any]), history: createMemoryHistory({ initialEntries: [path] }), ...plainSearch });
  const result = render(
    <QueryClientProvider client={client}>
      <HealthProvider>
        <RouterProvider router={router} />
      </HealthProvider>
    </QueryClientProvider>,
  );
  return { ...result, client, router };
}

/** An API success envelope around `data`. */
export function ok<T extends object>(data: T, traceId = "0af7651916cd43dd8448eb211c80319c") {
  return { success: true, trace_id: traceId, ...data };
}

/** An API error envelope. */
export function apiError(code: string, message: string, traceId = "4bf92f3577b34da6a3ce929d0e0e4736", suggestedFix = "Do the fix.") {
  return { success: false, trace_id: traceId, error: { code, message, suggested_fix: suggestedFix } };
}
