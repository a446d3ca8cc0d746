import { afterEach, describe, expect, it, vi } from "vitest";
import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { delay, http, HttpResponse } from "msw";
import { server } from "../../test/server";
import { apiError, ok, renderWithApp } from "../../test/render";
import { advanceClock } from "../../test/clock";
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

const tradingBody = (enabled: boolean, cancelled: string[] = []) =>
  ok({ settings: { trading_enabled: enabled, updated_at: "2026-12-03T10:00:00Z", updated_by: null }, off_cancels_working_orders: true, cancelled_order_ids: cancelled });

const switches = (trading: boolean, kill: boolean) => [
  http.get("*/api/system/trading-switch", () => HttpResponse.json(tradingBody(trading))),
  http.get("*/api/system/kill-switch", () =>
    HttpResponse.json(ok({ kill_switch: { active: kill, reason: null, changed_at: null, changed_by: null }, killed_bot_ids: [], cancelled_order_ids: [] })),
  ),
  http.get("*/api/system/status", () => HttpResponse.json(ok({}))),
];

afterEach(() => vi.restoreAllMocks());

describe("header switches", () => {
  it("say (stale) once their answer is older than the freshness limit, even though no request failed", async () => {
    let hang = false;
    server.use(
      me("admin"),
      http.get("*/api/system/kill-switch", async () => {
        if (hang) await delay("infinite");
        return HttpResponse.json(ok({ kill_switch: { active: true, reason: "drill", changed_at: "2026-12-03T10:00:00Z", changed_by: "admin@example.com" }, killed_bot_ids: [], cancelled_order_ids: [] }));
      }),
      http.get("*/api/system/trading-switch", async () => {
        if (hang) await delay("infinite");
        return HttpResponse.json(tradingBody(false));
      }),
    );
    renderWithApp(
      <>
        <KillSwitchControl />
        <TradingSwitchControl />
      </>,
    );
    const killState = await screen.findByTestId("kill-switch-state");
    const tradingState = await screen.findByTestId("trading-switch-state");
    expect(killState.parentElement).toHaveTextContent(/^Kill switch ON$/);
    expect(tradingState.parentElement).toHaveTextContent(/^Live trading off$/);
    hang = true;
    // 13 s: past the kill switch's limit (polled every 5 s), within the trading switch's (15 s).
    const clock = advanceClock(13_000);
    await waitFor(() => expect(killState.parentElement).toHaveTextContent("Kill switch ON (stale)"));
    expect(killState).toHaveAttribute("data-stale", "true");
    expect(killState.parentElement).toHaveAttribute("title", expect.stringMatching(/no fresh answer for 1\d s/));
    expect(tradingState.parentElement).toHaveTextContent(/^Live trading off$/);
    clock.mockRestore();
    advanceClock(33_000);
    await waitFor(() => expect(tradingState.parentElement).toHaveTextContent("Live trading off (stale)"));
  });

  it("are disabled for a non-admin with the reason", async () => {
    server.use(me("operator"), ...switches(false, false));
    renderWithApp(
      <>
        <KillSwitchControl />
        <TradingSwitchControl />
      </>,
    );
    const kill = await screen.findByRole("button", { name: "Activate kill switch" });
    await waitFor(() => expect(kill).toHaveAttribute("title", "Activating the kill switch needs the admin role; you are signed in as operator"));
    expect(kill).toBeDisabled();
    expect(screen.getByRole("button", { name: "Turn live trading on" })).toHaveAttribute("title", "Turning live trading on needs the admin role; you are signed in as operator");
    expect(screen.getByTestId("trading-switch-state")).toHaveTextContent("Live trading off");
  });

  it("asks for a 2FA code when the server wants a step-up, steps up, then switches", async () => {
    const calls: string[] = [];
    let enabled = false;
    server.use(
      me("admin", inAMinute()),
      ...switches(false, false).slice(1),
      http.get("*/api/system/trading-switch", () => HttpResponse.json(tradingBody(enabled))),
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
        return HttpResponse.json(tradingBody(true));
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

  it("activates the kill switch at once: no step-up, the reason optional, and says what it does", async () => {
    const posts: string[] = [];
    server.use(
      // No recent step-up on record: stopping risk must not wait for a code.
      me("admin", null),
      ...switches(false, false),
      http.post("*/api/system/kill-switch", async ({ request }) => {
        posts.push(JSON.stringify(await request.json()));
        return HttpResponse.json(ok({ kill_switch: { active: true, reason: "no reason given", changed_at: null, changed_by: null }, killed_bot_ids: ["b1"], cancelled_order_ids: [] }));
      }),
    );
    const u = userEvent.setup();
    renderWithApp(<KillSwitchControl />);
    const button = await screen.findByRole("button", { name: "Activate kill switch" });
    await waitFor(() => expect(button).toBeEnabled());
    await u.click(button);
    const dialog = screen.getByRole("alertdialog", { name: "Activate the global kill switch" });
    expect(dialog).toHaveTextContent("Every working order is cancelled. Open positions are not closed");
    expect(within(dialog).queryByLabelText("Authenticator code")).not.toBeInTheDocument();
    await u.click(within(dialog).getByRole("button", { name: "Kill everything" }));
    await waitFor(() => expect(screen.queryByRole("alertdialog")).not.toBeInTheDocument());
    expect(posts).toEqual(['{"active":true}']);
    expect(screen.getByRole("status")).toHaveTextContent("Kill switch ON: 1 bot(s) killed, 0 working order(s) cancelled.");
  });

  it("turns live trading off without a step-up and says what it cancelled", async () => {
    const posts: string[] = [];
    server.use(
      me("admin", null),
      ...switches(true, false),
      http.post("*/api/system/trading-switch", async ({ request }) => {
        posts.push(JSON.stringify(await request.json()));
        return HttpResponse.json(tradingBody(false, ["o1", "o2"]));
      }),
    );
    const u = userEvent.setup();
    renderWithApp(<TradingSwitchControl />);
    const button = await screen.findByRole("button", { name: "Turn live trading off" });
    await waitFor(() => expect(button).toBeEnabled());
    await u.click(button);
    const dialog = screen.getByRole("alertdialog", { name: "Turn the global trading switch off" });
    expect(dialog).toHaveTextContent("Running LIVE bots place no new order from their next evaluation");
    expect(dialog).toHaveTextContent("Every working LIVE order is cancelled at the broker now.");
    expect(within(dialog).queryByLabelText("Authenticator code")).not.toBeInTheDocument();
    await u.click(within(dialog).getByRole("button", { name: "Turn off" }));
    await waitFor(() => expect(screen.queryByRole("alertdialog")).not.toBeInTheDocument());
    expect(posts).toEqual(['{"enabled":false}']);
    expect(screen.getByRole("status")).toHaveTextContent("Live trading off: 2 working LIVE order(s) cancelled.");
  });
});
