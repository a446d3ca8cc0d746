import { describe, expect, it } from "vitest";
import { screen, waitFor } from "@testing-library/react";
import { http, HttpResponse } from "msw";
import { useQuery } from "@tanstack/react-query";
import { server } from "../test/server";
import { apiError, ok, renderWithApp } from "../test/render";
import { useActionGate } from "../lib/health";
import { api, unwrap } from "../api/client";
import { DegradedBanner } from "./DegradedBanner";
import { Button } from "./Button";

const healthyStatus = {
  system_status: "OK",
  autonomy_allowed: true,
  blockers: [],
  bots: { byAutonomyTier: { LOCKED: 0, SUPERVISED: 1, LIMITED_AUTONOMY: 0, FULL_AUTONOMY: 0 } },
  scheduler: { active: true, last_tick_at: null, loop_health: "OK", circuit_breakers: [] },
  integrations: { total: 1, configured: 1, connected: 1, not_configured: 0, sandbox: 1 },
};

function Verify() {
  useQuery({
    queryKey: ["/api/integrations/status"],
    queryFn: () => unwrap(api.GET("/api/integrations/status")),
    meta: { critical: true, label: "Integrations" },
  });
  const reason = useActionGate(["/api/integrations/status"]);
  return <Button disabledReason={reason}>Verify</Button>;
}

describe("DegradedBanner", () => {
  it("stays hidden while every critical query is fine and the system is OK", async () => {
    server.use(
      http.get("*/api/system/status", () => HttpResponse.json(ok(healthyStatus))),
      http.get("*/api/integrations/status", () => HttpResponse.json(ok({ providers: [] }))),
    );
    const { client } = renderWithApp(<><DegradedBanner /><Verify /></>);
    await waitFor(() => {
      expect(client.getQueryState(["/api/system/status"])?.status).toBe("success");
      expect(client.getQueryState(["/api/integrations/status"])?.status).toBe("success");
    });
    expect(screen.getByRole("button", { name: "Verify" })).toBeEnabled();
    expect(screen.queryByTestId("degraded-banner")).not.toBeInTheDocument();
  });

  it("names the failed endpoint, its code and trace id, and disables the actions that use it", async () => {
    server.use(
      http.get("*/api/system/status", () => HttpResponse.json(ok(healthyStatus))),
      http.get("*/api/integrations/status", () =>
        HttpResponse.json(apiError("DATABASE_UNAVAILABLE", "The database is unreachable."), {
          status: 503,
          headers: { "x-trace-id": "4bf92f3577b34da6a3ce929d0e0e4736" },
        }),
      ),
    );
    renderWithApp(<><DegradedBanner /><Verify /></>);
    const banner = await screen.findByTestId("degraded-banner");
    expect(banner).toHaveTextContent("Integrations unavailable");
    expect(banner).toHaveTextContent("/api/integrations/status");
    expect(banner).toHaveTextContent("DATABASE_UNAVAILABLE");
    expect(banner).toHaveTextContent("4bf92f3577b34da6a3ce929d0e0e4736");
    const verify = screen.getByRole("button", { name: "Verify" });
    expect(verify).toBeDisabled();
    expect(verify).toHaveAttribute("title", expect.stringContaining("DATABASE_UNAVAILABLE"));
  });

  it("shows a BLOCKED system with its blocker count even when every query succeeds", async () => {
    server.use(
      http.get("*/api/system/status", () =>
        HttpResponse.json(ok({
          ...healthyStatus,
          system_status: "BLOCKED",
          autonomy_allowed: false,
          blockers: [{ code: "DATA_UNAVAILABLE", severity: "SEV-1", message: "No market data.", suggested_fix: "Add a key.", trace_id: "ab".repeat(16) }],
        })),
      ),
    );
    renderWithApp(<DegradedBanner />);
    const banner = await screen.findByTestId("degraded-banner");
    expect(banner).toHaveTextContent("System BLOCKED");
    expect(banner).toHaveTextContent("1 blocker (1 SEV-1)");
    expect(banner).toHaveTextContent("autonomy not allowed");
  });

  it("treats an unreachable server as gating every action, with the client's trace id", async () => {
    server.use(
      http.get("*/api/system/status", () => HttpResponse.error()),
      http.get("*/api/integrations/status", () => HttpResponse.json(ok({ providers: [] }))),
    );
    renderWithApp(<><DegradedBanner /><Verify /></>);
    const banner = await screen.findByTestId("degraded-banner");
    expect(banner).toHaveTextContent("NETWORK_UNREACHABLE");
    expect(banner.querySelector("[data-trace-id]")?.getAttribute("data-trace-id")).toMatch(/^[0-9a-f]{32}$/);
    await waitFor(() => expect(screen.getByRole("button", { name: "Verify" })).toBeDisabled());
    expect(screen.getByRole("button", { name: "Verify" }).title).toContain("server is not answering");
  });
});
