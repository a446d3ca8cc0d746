import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { QueryClientProvider } from "@tanstack/react-query";
import { RouterProvider } from "@tanstack/react-router";
import "./styles.css";
import { makeQueryClient } from "./lib/queryClient";
import { HealthProvider } from "./lib/health";
import { router } from "./router";
import { applyStoredTheme } from "./lib/theme";
import { meQuery } from "./queries/auth";

applyStoredTheme();

// A 401 from any query or mutation means the session is gone: go to the login page and come
// back to where the user was afterwards.
// Only someone who was signed in is told the session expired; a first visit just signs in.
const queryClient = makeQueryClient(() => {
  const here = router.state.location;
  if (here.pathname === "/login") return;
  const wasSignedIn = queryClient.getQueryData(meQuery.queryKey) !== undefined;
  queryClient.clear();
  void router.navigate({ to: "/login", search: { next: here.href, ...(wasSignedIn ? { expired: "1" } : {}) } });
});

createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <QueryClientProvider client={queryClient}>
      <HealthProvider>
        <RouterProvider router={router} />
      </HealthProvider>
    </QueryClientProvider>
  </StrictMode>,
);
