import { describe, expect, it } from "vitest";
import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { http, HttpResponse } from "msw";
import { server } from "../../test/server";
import { apiError, ok, renderWithApp } from "../../test/render";
import { KillSwitchControl, TradingSwitchControl } from "./SystemSwitches";

const inAMinute = () => new Date(Date.now() + 60_000).toISOString();

function me(role: "viewer" | "operator" | "admin", stepUpUntil: string | null = null) {
  return http.get("*/api/auth/me", () =>
    HttpResponse.json(
      ok({
        user: { id: "7d1c3a52-3f1e-4a57-9d59-8f1f6f2b8a10", email: `${role}@example.com`, role, disabled: false, two_factor_enabled: true, backup_codes_remaining: 8, created_at: "2026-11-01T10:00:00Z" },
        session: {},
        step_up_valid_until: stepUpUntil,
      }),
    ),
  );
}

const switches = (trading: boolean, kill: boolean) => [
  http.get("*/api/system/trading-switch", () => HttpResponse.json(ok({ settings: { trading_enabled: trading, updated_at: "2026-12-03T10:00:00Z", updated_by: null } }))),
  http.get("*/api/system/kill-switch", () =>
    HttpResponse.json(ok({ kill_switch: { active: kill, reason: null, changed_at: null, changed_by: null }, killed_bot_ids: [], cancelled_order_ids: [] })),
  ),
  http.get("*/api/system/status", () => HttpResponse.json(ok({}))),
];

describe("header switches", () => {
  it("are disabled for a non-admin with the reason", async () => {
    server.use(me("operator"), ...switches(false, false));
    renderWithApp(
      <>
        <KillSwitchControl />
        <TradingSwitchControl />
      </>,
    );
    const kill = await screen.findByRole("button", { name: "Activate kill switch" });
    await waitFor(() => expect(kill).toHaveAttribute("title", "The kill switch needs the admin role; you are signed in as operator"));
    expect(kill).toBeDisabled();
    expect(screen.getByRole("button", { name: "Turn live trading on" })).toHaveAttribute("title", "The trading switch needs the admin role; you are signed in as operator");
    expect(screen.getByTestId("trading-switch-state")).toHaveTextContent("Live trading off");
  });

  it("asks for a 2FA code when the server wants a step-up, steps up, then switches", async () => {
    const calls: string[] = [];
    let enabled = false;
    server.use(
      me("admin", inAMinute()),
      ...switches(false, false).slice(1),
      http.get("*/api/system/trading-switch", () => HttpResponse.json(ok({ settings: { trading_enabled: enabled, updated_at: "2026-12-03T10:00:00Z", updated_by: null } }))),
      http.post("*/api/auth/step-up", async ({ request }) => {
        calls.push(`step-up ${JSON.stringify(await request.json())}`);
        return HttpResponse.json(ok({ step_up_valid_until: inAMinute() }));
      }),
      http.post("*/api/system/trading-switch", async ({ request }) => {
        calls.push(`switch ${JSON.stringify(await request.json())}`);
        if (!calls.some((c) => c.startsWith("step-up"))) {
          return HttpResponse.json(apiError("TWO_FACTOR_REQUIRED", "A recent second factor is required.", "ab".repeat(16), "Step up first."), { status: 401 });
        }
        enabled = true;
        return HttpResponse.json(ok({ settings: { trading_enabled: true, updated_at: "2026-12-03T10:01:00Z", updated_by: "admin@example.com" } }));
      }),
    );
    const u = userEvent.setup();
    renderWithApp(<TradingSwitchControl />);
    const button = await screen.findByRole("button", { name: "Turn live trading on" });
    await waitFor(() => expect(button).toBeEnabled());
    await u.click(button);
    const dialog = screen.getByRole("alertdialog", { name: "Turn the global trading switch on" });
    expect(dialog).toHaveTextContent("each still needs its own trading flag, a connected broker");
    // A fresh step-up on record: no code asked up front.
    expect(within(dialog).queryByLabelText("Authenticator code")).not.toBeInTheDocument();
    await u.click(within(dialog).getByRole("button", { name: "Turn on" }));
    const code = await within(dialog).findByLabelText("Authenticator code");
    expect(within(dialog).getByTestId("action-error")).toHaveTextContent("TWO_FACTOR_REQUIRED");
    await u.type(code, "123 456");
    await u.click(within(dialog).getByRole("button", { name: "Turn on" }));
    await waitFor(() => expect(screen.queryByRole("alertdialog")).not.toBeInTheDocument());
    expect(calls).toEqual(['switch {"enabled":true}', 'step-up {"code":"123456"}', 'switch {"enabled":true}']);
    await waitFor(() => expect(screen.getByTestId("trading-switch-state")).toHaveTextContent("Live trading ON"));
  });

  it("will not activate the kill switch without a reason, and says what it does", async () => {
    let posts = 0;
    server.use(
      me("admin", inAMinute()),
      ...switches(false, false),
      http.post("*/api/system/kill-switch", () => {
        posts += 1;
        return HttpResponse.json(ok({ kill_switch: { active: true, reason: "drill", changed_at: null, changed_by: null }, killed_bot_ids: ["b1"], cancelled_order_ids: [] }));
      }),
    );
    const u = userEvent.setup();
    renderWithApp(<KillSwitchControl />);
    const button = await screen.findByRole("button", { name: "Activate kill switch" });
    await waitFor(() => expect(button).toBeEnabled());
    await u.click(button);
    const dialog = screen.getByRole("alertdialog", { name: "Activate the global kill switch" });
    expect(dialog).toHaveTextContent("Every working order is cancelled. Open positions are not closed");
    await u.click(within(dialog).getByRole("button", { name: "Kill everything" }));
    expect(dialog).toHaveTextContent("A reason is required");
    expect(posts).toBe(0);
    await u.type(within(dialog).getByLabelText("Kill switch reason"), "drill");
    await u.click(within(dialog).getByRole("button", { name: "Kill everything" }));
    await waitFor(() => expect(screen.queryByRole("alertdialog")).not.toBeInTheDocument());
    expect(posts).toBe(1);
    expect(screen.getByRole("status")).toHaveTextContent("Kill switch ON: 1 bot(s) killed, 0 working order(s) cancelled.");
  });
});
