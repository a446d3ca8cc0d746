import { afterEach, describe, expect, it, vi } from "vitest";
import { screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { delay, http, HttpResponse } from "msw";
import { server } from "../test/server";
import { ok, renderWithApp } from "../test/render";
import { advanceClock } from "../test/clock";
import { Shell } from "./Shell";

afterEach(() => vi.restoreAllMocks());

function me(enrolled: boolean, required: boolean) {
  return http.get("*/api/auth/me", () =>
    HttpResponse.json(
      ok({
        user: { id: "7d1c3a52-3f1e-4a57-9d59-8f1f6f2b8a10", email: "op@example.com", role: "operator", disabled: false, two_factor_enabled: enrolled, backup_codes_remaining: enrolled ? 10 : 0, created_at: "2026-11-01T10:00:00Z" },
        session: {},
        step_up_valid_until: null,
        two_factor_enrollment_required: required,
      }),
    ),
  );
}

describe("Shell", () => {
  it("shows only the enrollment page to an operator who must enroll, and lets them continue once enrolled", async () => {
    let enrolled = false;
    server.use(
      http.get("*/api/auth/me", () =>
        HttpResponse.json(
          ok({
            user: { id: "7d1c3a52-3f1e-4a57-9d59-8f1f6f2b8a10", email: "op@example.com", role: "operator", disabled: false, two_factor_enabled: enrolled, backup_codes_remaining: enrolled ? 10 : 0, created_at: "2026-11-01T10:00:00Z" },
            session: {},
            step_up_valid_until: null,
            two_factor_enrollment_required: !enrolled,
          }),
        ),
      ),
    );
    const u = userEvent.setup();
    const { client } = renderWithApp(<Shell />);
    const gate = await screen.findByTestId("enrollment-gate");
    expect(gate).toHaveTextContent("Two-factor authentication required");
    expect(screen.queryByRole("navigation", { name: "Main" })).toBeNull();
    const go = screen.getByRole("button", { name: "Continue to the Observatory" });
    expect(go).toBeDisabled();

    // Enrolled elsewhere (or through the section): the gate stays until the user continues.
    enrolled = true;
    await client.invalidateQueries({ queryKey: ["/api/auth/me"] });
    await waitFor(() => expect(go).toBeEnabled());
    expect(screen.getByTestId("enrollment-gate")).toBeInTheDocument();
    await u.click(go);
    expect(await screen.findByRole("navigation", { name: "Main" })).toBeInTheDocument();
    expect(screen.queryByTestId("enrollment-gate")).toBeNull();
  });

  it("below 768 px the navigation is a drawer: Menu opens it, a link or the close button shuts it", async () => {
    server.use(me(true, false));
    const u = userEvent.setup();
    renderWithApp(<Shell />);
    const nav = await screen.findByRole("navigation", { name: "Main" });
    const menu = screen.getByRole("button", { name: "Menu" });
    // Hidden below md (the md: classes show it from 768 px), and the Menu button only below md.
    expect(nav).toHaveClass("hidden", "md:flex");
    expect(menu).toHaveClass("md:hidden");
    expect(menu).toHaveAttribute("aria-expanded", "false");
    await u.click(menu);
    expect(menu).toHaveAttribute("aria-expanded", "true");
    expect(nav).toHaveClass("fixed");
    expect(nav).not.toHaveClass("hidden");
    await u.click(screen.getByRole("link", { name: "Jobs" }));
    expect(menu).toHaveAttribute("aria-expanded", "false");
    expect(nav).toHaveClass("hidden");
    await u.click(menu);
    await u.click(screen.getByRole("button", { name: "Close menu" }));
    expect(nav).toHaveClass("hidden");
  });

  it("shows the app to an enrolled operator", async () => {
    server.use(me(true, false));
    renderWithApp(<Shell />);
    expect(await screen.findByRole("navigation", { name: "Main" })).toBeInTheDocument();
    expect(screen.queryByTestId("enrollment-gate")).toBeNull();
  });

  it("turns the status pill stale, not green, once no answer comes within the freshness limit (polls paused or a request hanging)", async () => {
    let hang = false;
    server.use(
      me(true, false),
      http.get("*/api/system/status", async () => {
        if (hang) await delay("infinite");
        return HttpResponse.json(ok({ system_status: "OK", autonomy_allowed: true, blockers: [], bots: { byAutonomyTier: null }, scheduler: { active: true, last_tick_at: null, loop_health: "OK", circuit_breakers: [] }, integrations: { total: 0, configured: 0, connected: 0, not_configured: 0, sandbox: 0 } }));
      }),
      http.get("*/api/system/kill-switch", () => HttpResponse.json(ok({ kill_switch: { active: false, reason: null, changed_at: null, changed_by: null }, killed_bot_ids: [], cancelled_order_ids: [] }))),
      http.get("*/api/system/trading-switch", () => HttpResponse.json(ok({ settings: { trading_enabled: false, updated_at: "2026-12-03T10:00:00Z", updated_by: null }, off_cancels_working_orders: true, cancelled_order_ids: [] }))),
    );
    renderWithApp(<Shell />);
    const pill = await screen.findByTestId("status-pill");
    await waitFor(() => expect(pill).toHaveAttribute("aria-label", "System status: OK"));
    expect(pill.firstElementChild).toHaveClass("text-ok");
    // The server stops answering (no error: the request just never comes back) and 13 s pass.
    hang = true;
    advanceClock(13_000);
    await waitFor(() => expect(pill).toHaveAttribute("aria-label", "System status: OK (stale)"));
    expect(pill).toHaveTextContent("OK (stale)");
    expect(pill.firstElementChild).not.toHaveClass("text-ok");
    expect(pill.firstElementChild).toHaveAttribute("title", expect.stringMatching(/no fresh answer for 1\d s/));
  });
});
