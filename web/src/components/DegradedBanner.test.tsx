import { afterEach, describe, expect, it, vi } from "vitest";
import { screen, waitFor } from "@testing-library/react";
import { delay, http, HttpResponse } from "msw";
import { useQuery } from "@tanstack/react-query";
import { server } from "../test/server";
import { apiError, ok, renderWithApp } from "../test/render";
import { advanceClock } from "../test/clock";
import { systemStatusQuery } from "../queries/status";
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

afterEach(() => vi.restoreAllMocks());

/** The status as the shell reads it (polled every 5 s) and an action gated on it. */
function StatusReader() {
  useQuery(systemStatusQuery);
  const reason = useActionGate(["/api/system/status"]);
  return <Button disabledReason={reason}>Act</Button>;
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

  it("lists a polled critical query with no answer within its freshness limit as not current, without gating its actions", async () => {
    let hang = false;
    server.use(
      http.get("*/api/system/status", async () => {
        if (hang) await delay("infinite");
        return HttpResponse.json(ok(healthyStatus));
      }),
    );
    const { client } = renderWithApp(<><DegradedBanner /><StatusReader /></>);
    await waitFor(() => expect(client.getQueryState(["/api/system/status"])?.status).toBe("success"));
    expect(screen.queryByTestId("degraded-banner")).not.toBeInTheDocument();
    hang = true;
    advanceClock(13_000);
    const banner = await screen.findByTestId("degraded-banner");
    expect(banner).toHaveTextContent("System status not current");
    expect(banner).toHaveTextContent("GET /api/system/status");
    expect(banner).toHaveTextContent("NO_FRESH_ANSWER: no answer within the 12 s freshness limit");
    expect(banner).toHaveTextContent(/last good data 1\d s ago/);
    // The request has not failed: actions stay available (the request timeout turns a hang into a failure).
    expect(screen.getByRole("button", { name: "Act" })).toBeEnabled();
    expect(client.getQueryState(["/api/system/status"])?.status).toBe("success");
  });
});
