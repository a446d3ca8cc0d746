import { describe, expect, it } from "vitest";
import { screen } from "@testing-library/react";
import { http, HttpResponse } from "msw";
import { server } from "../../test/server";
import { ok, renderWithApp } from "../../test/render";
import { AlertsSection } from "./AlertsSection";
import { meHandler } from "./testData";

const STATS = { enabled: true, posted: 0, deduplicated: 0, coalesced: 0, failed: 0, poll_failures: 0, pending: 0, last_posted_at: null, last_error_code: null };

function settings(over: Record<string, unknown> = {}, alerts: Record<string, unknown> = {}) {
  return http.get("*/api/settings/alerts", () =>
    HttpResponse.json(
      ok({ routing: { severities: ["SEV-1"], kills: true, updated_at: null, updated_by: null }, discord_configured: true, alerts_enabled: true, posts_here: true, alerts: { ...STATS, ...alerts }, ...over }),
    ),
  );
}

describe("AlertsSection", () => {
  it("says posting only with what this server posted, and warns of failed posts", async () => {
    server.use(meHandler(), settings({}, { posted: 3, failed: 2, last_error_code: "PROVIDER_ERROR" }));
    renderWithApp(<AlertsSection />);
    const state = await screen.findByTestId("alerts-state");
    expect(state).toHaveTextContent("alerts may not be reaching it: 2 post(s) failed (latest: PROVIDER_ERROR)");
    expect(state).toHaveTextContent("3 accepted by Discord");
    expect(state).not.toHaveTextContent("the alerts task is posting");
    expect(state).toHaveClass("text-warn");
  });

  it("on a server that does not lead, does not claim the alerts go out", async () => {
    server.use(meHandler(), settings({ posts_here: false }));
    renderWithApp(<AlertsSection />);
    const state = await screen.findByTestId("alerts-state");
    expect(state).toHaveTextContent("Another server (the cluster's leader) posts the alerts: this server cannot tell whether they arrive");
  });
});
