import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { QueryClientProvider } from "@tanstack/react-query";
import { RouterProvider } from "@tanstack/react-router";
import "./styles.css";
import { makeQueryClient } from "./lib/queryClient";
import { HealthProvider } from "./lib/health";
import { router } from "./router";
import { applyStoredTheme } from "./lib/theme";

applyStoredTheme();

// A 401 from any query or mutation means the session is gone: go to the login page and come
// back to where the user was afterwards.
const queryClient = makeQueryClient(() => {
  const here = router.state.location;
  if (here.pathname === "/login") return;
  queryClient.clear();
  void router.navigate({ to: "/login", search: { next: here.href, expired: "1" } });
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
